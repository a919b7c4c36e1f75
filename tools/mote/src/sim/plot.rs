//! `--plot`: the replayed signal (or image index) and the predictions over
//! time, with the reported faults marked, as one SVG.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::session::Session;
use super::source::Recording;

/// Draws `s` (and the stream `rec`, when there is one) into `path`.
pub fn write_svg(path: &Path, s: &Session, rec: Option<&Recording>, rate_hz: f64) -> Result<()> {
    let e = |e: &dyn std::fmt::Display| anyhow!("plot: {e}");
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1000, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (top, bottom) = root.split_vertically(300);
        let t_end = match rec {
            Some(_) => s.inputs as f64 / rate_hz,
            None => s.inputs as f64,
        }
        .max(1e-9);
        if let Some(rec) = rec {
            // Up to 4000 points per channel.
            let n = s.inputs as usize;
            let step = n.div_ceil(4000).max(1);
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for v in &rec.values {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let mut chart = ChartBuilder::on(&top)
                .caption("replayed signal", ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(25)
                .y_label_area_size(50)
                .build_cartesian_2d(0f64..t_end, (lo - pad) as f64..(hi + pad) as f64)
                .map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_desc("s")
                .draw()
                .map_err(|x| e(&x))?;
            for ch in 0..rec.channels {
                let color = Palette99::pick(ch).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        (0..n).step_by(step).map(|i| {
                            let x = rec.sample(i % rec.samples())[ch];
                            (i as f64 / rate_hz, f64::from(x))
                        }),
                        &color,
                    ))
                    .map_err(|x| e(&x))?
                    .label(rec.names.get(ch).cloned().unwrap_or_default())
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .draw()
                .map_err(|x| e(&x))?;
        }
        let classes = s
            .predictions
            .iter()
            .map(|p| p.scores.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut chart = ChartBuilder::on(&bottom)
            .caption(
                "predicted class (blue), reported faults (red)",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(25)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..t_end, -1f64..classes as f64)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .x_desc(if rec.is_some() { "s" } else { "image" })
            .y_desc("class")
            .draw()
            .map_err(|x| e(&x))?;
        chart
            .draw_series(
                s.predictions
                    .iter()
                    .map(|p| Circle::new((p.time_s, p.class as f64), 3, BLUE.filled())),
            )
            .map_err(|x| e(&x))?;
        chart
            .draw_series(
                s.events
                    .iter()
                    .map(|f| Cross::new((f.time_s, -0.5), 3, RED.stroke_width(1))),
            )
            .map_err(|x| e(&x))?;
        root.present().map_err(|x| e(&x))?;
    }
    crate::write::atomic_write(path, out.as_bytes())
}
