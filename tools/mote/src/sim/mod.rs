//! `mote boards` and `mote sim`: a virtual board. It checks a model against
//! a board's budgets and estimates its latency there ([`budget`],
//! [`reference`]), replays recorded sensor streams and images through the
//! same pipeline code as the firmware (`mote-board`), and injects faults
//! into that pipeline.

pub mod budget;
pub mod reference;

pub use budget::{board, boards_table, check, cpi, family, render, Family, Fit, STACK_ESTIMATE};
pub mod device;
pub mod fault;
pub mod output;
pub mod plot;
pub mod session;
pub mod source;

use std::path::PathBuf;

use anyhow::{bail, Result};

/// What `mote sim --sensor` replays, and how.
#[derive(Debug, Clone)]
pub struct Replay {
    /// A stream file, or image files and directories.
    pub sensor: Vec<PathBuf>,
    /// Stream windowing.
    pub stream: session::StreamOptions,
    /// Image normalisation mean.
    pub mean: f32,
    /// Image normalisation standard deviation.
    pub std: f32,
    /// Faults to inject.
    pub specs: Vec<fault::FaultSpec>,
    /// Campaign seed.
    pub seed: u64,
    /// Timeline output.
    pub out: Option<PathBuf>,
    /// SVG plot output.
    pub plot: Option<PathBuf>,
}

/// Counts the replay pipeline's buffers in `fit`, fails with the overrun
/// when the model and its pipeline do not fit, else runs a replay session,
/// prints the summary (or JSON) and writes the requested outputs. `name`
/// names the model in messages.
pub fn replay(model: &[u8], name: &str, fit: Fit, r: &Replay, json: bool) -> Result<()> {
    for p in &r.sensor {
        if !p.exists() {
            bail!("cannot read {}: no such file or directory", p.display());
        }
    }
    let mut inj = fault::Injector::new(r.specs.clone(), r.seed);
    let streams = r.sensor.iter().filter(|p| source::is_stream(p)).count();
    let fits = |fit: Fit, (bytes, what): (usize, String)| -> Result<Fit> {
        let fit = fit.with_pipeline(bytes, what);
        if !fit.fits {
            bail!("{}", fit.overrun(name));
        }
        Ok(fit)
    };
    let (s, rec, what, fit) = if streams > 0 {
        if r.sensor.len() != 1 {
            bail!("give one sensor stream (.csv or .npy) per session, or only images");
        }
        let rec = source::read_stream(&r.sensor[0])?;
        let fit = fits(
            fit,
            session::stream_buffers(model, rec.channels, &r.stream)?,
        )?;
        let s = session::run_stream(model, &rec, &r.stream, &mut inj)?;
        (s, Some(rec), "samples", fit)
    } else {
        let files = source::expand(&r.sensor)?;
        let images = session::read_images(model, &files, &inj)?;
        let fit = fits(fit, session::image_buffers(&images)?)?;
        let s = session::run_images(model, &images, r.mean, r.std, &mut inj)?;
        (s, None, "images", fit)
    };
    if let Some(p) = &r.out {
        output::write_timeline(p, &s)?;
    }
    if let Some(p) = &r.plot {
        plot::write_svg(p, &s, rec.as_ref(), r.stream.rate_hz)?;
    }
    if json {
        let mut v = serde_json::to_value(&s)?;
        v["budget"] = serde_json::to_value(&fit)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print!("{}", render(&fit));
        print!("{}", output::render(&s, what));
    }
    Ok(())
}
