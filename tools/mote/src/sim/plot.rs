//! `--plot`: the replayed signal and the predictions over time, with the
//! reported faults marked by kind, as one SVG. Images have no signal: the
//! prediction track takes the whole picture, one column per image.

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::fault::FaultKind;
use super::session::Session;
use super::source::Recording;

const WIDTH: u32 = 1000;
/// Width of the legend strip right of each chart.
const LEGEND: u32 = 150;

fn err(e: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow!("plot: {e}")
}

/// The time unit that keeps the axis readable: (name, seconds per unit).
fn time_unit(t_end_s: f64) -> (&'static str, f64) {
    if t_end_s > 3.0 * 3600.0 {
        ("time (h)", 3600.0)
    } else if t_end_s > 300.0 {
        ("time (min)", 60.0)
    } else {
        ("time (s)", 1.0)
    }
}

/// One colour per fault kind.
fn fault_color(kind: &str) -> RGBColor {
    match FaultKind::ALL.iter().position(|k| k.name() == kind) {
        Some(0) => RGBColor(214, 39, 40),   // i2c-error: red
        Some(1) => RGBColor(148, 103, 189), // stuck: purple
        Some(2) => RGBColor(255, 127, 14),  // drop: orange
        Some(3) => RGBColor(140, 86, 75),   // dup: brown
        Some(4) => RGBColor(227, 119, 194), // flash-bitflip: pink
        Some(5) => RGBColor(23, 190, 207),  // store-bitflip: cyan
        Some(6) => RGBColor(127, 127, 127), // arena-corrupt: grey
        _ => RGBColor(188, 189, 34),        // brownout: olive
    }
}

/// How a legend entry is drawn.
#[derive(Clone, Copy)]
enum Mark {
    Line,
    Dot,
    Cross,
    Text,
}

/// A legend: a title, then one mark and name per entry.
fn legend(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    title: &str,
    entries: &[(String, RGBColor, Mark)],
) -> Result<()> {
    let font = ("sans-serif", 13).into_font();
    area.draw(&Text::new(title.to_string(), (8, 30), font.clone()))
        .map_err(|x| err(&x))?;
    for (i, (name, color, mark)) in entries.iter().enumerate() {
        let y = 52 + 18 * i as i32;
        match mark {
            Mark::Line => area.draw(&PathElement::new([(8, y), (28, y)], color.stroke_width(2))),
            Mark::Dot => area.draw(&Circle::new((18, y), 3, color.filled())),
            Mark::Cross => area.draw(&Cross::new((18, y), 4, color.stroke_width(2))),
            Mark::Text => Ok(()),
        }
        .map_err(|x| err(&x))?;
        area.draw(&Text::new(name.clone(), (34, y - 7), font.clone()))
            .map_err(|x| err(&x))?;
    }
    Ok(())
}

/// Draws `s` (and the stream `rec`, when there is one) into `path`.
pub fn write_svg(path: &Path, s: &Session, rec: Option<&Recording>, rate_hz: f64) -> Result<()> {
    let mut out = String::new();
    {
        let height = if rec.is_some() { 620 } else { 360 };
        let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| err(&x))?;
        let (unit, per) = match rec {
            Some(_) => time_unit(s.inputs as f64 / rate_hz),
            None => ("image", 1.0),
        };
        let x_end = match rec {
            Some(_) => s.inputs as f64 / rate_hz / per,
            None => s.inputs as f64 - 0.5,
        }
        .max(1e-9);
        let x_start = if rec.is_some() { 0.0 } else { -0.5 };
        let bottom = if let Some(rec) = rec {
            let (top, bottom) = root.split_vertically(330);
            let (chart_area, legend_area) = top.split_horizontally(WIDTH - LEGEND);
            // Up to 4000 points per channel.
            let n = s.inputs as usize;
            let step = n.div_ceil(4000).max(1);
            let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
            for v in &rec.values {
                lo = lo.min(*v);
                hi = hi.max(*v);
            }
            let pad = ((hi - lo) * 0.05).max(1e-3);
            let mut chart = ChartBuilder::on(&chart_area)
                .caption("replayed signal", ("sans-serif", 16))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(60)
                .build_cartesian_2d(0f64..x_end, (lo - pad) as f64..(hi + pad) as f64)
                .map_err(|x| err(&x))?;
            let x_fmt = |x: &f64| format!("{x}");
            chart
                .configure_mesh()
                .x_desc(unit)
                .x_label_formatter(&x_fmt)
                .y_desc("value (as recorded)")
                .light_line_style(WHITE)
                .draw()
                .map_err(|x| err(&x))?;
            let mut entries = Vec::new();
            for ch in 0..rec.channels {
                let c = Palette99::pick(ch).to_rgba();
                let color = RGBColor(c.0, c.1, c.2);
                chart
                    .draw_series(LineSeries::new(
                        (0..n).step_by(step).map(|i| {
                            let x = rec.sample(i % rec.samples())[ch];
                            (i as f64 / rate_hz / per, f64::from(x))
                        }),
                        &color,
                    ))
                    .map_err(|x| err(&x))?;
                let name = rec
                    .names
                    .get(ch)
                    .cloned()
                    .unwrap_or_else(|| format!("ch{ch}"));
                entries.push((name, color, Mark::Line));
            }
            legend(&legend_area, "channels", &entries)?;
            bottom
        } else {
            root.clone()
        };
        let (chart_area, legend_area) = bottom.split_horizontally(WIDTH - LEGEND);
        let classes = s
            .predictions
            .iter()
            .map(|p| p.scores.len())
            .max()
            .unwrap_or(1)
            .max(1) as i32;
        // Rows: the classes 0..classes, and a row for the faults below them.
        let fault_row = -1i32;
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(
                "top-1 prediction per inference, and reported faults",
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(x_start..x_end, (fault_row - 1)..classes)
            .map_err(|x| err(&x))?;
        let y_fmt = |y: &i32| match *y {
            y if y == fault_row => "faults".to_string(),
            y if (0..classes).contains(&y) => y.to_string(),
            _ => String::new(),
        };
        let x_fmt = |x: &f64| {
            if rec.is_some() {
                format!("{x}")
            } else if (x - x.round()).abs() < 1e-9 && *x >= 0.0 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc(if rec.is_some() {
                unit
            } else {
                "image (in replay order)"
            })
            .y_desc("class")
            .y_labels((classes + 2) as usize)
            .y_label_formatter(&y_fmt)
            .x_labels(if rec.is_some() {
                10
            } else {
                (s.inputs as usize).clamp(2, 20)
            })
            .x_label_formatter(&x_fmt)
            .light_line_style(WHITE)
            .draw()
            .map_err(|x| err(&x))?;
        let x_of = |t: f64| if rec.is_some() { t / per } else { t };
        chart
            .draw_series(s.predictions.iter().map(|p| {
                Circle::new(
                    (x_of(p.time_s), p.class as i32),
                    3,
                    RGBColor(31, 119, 180).filled(),
                )
            }))
            .map_err(|x| err(&x))?;
        let mut kinds: Vec<&str> = s.events.iter().map(|f| f.kind).collect();
        kinds.sort_by_key(|k| FaultKind::ALL.iter().position(|a| a.name() == *k));
        kinds.dedup();
        chart
            .draw_series(s.events.iter().map(|f| {
                Cross::new(
                    (x_of(f.time_s), fault_row),
                    4,
                    fault_color(f.kind).stroke_width(2),
                )
            }))
            .map_err(|x| err(&x))?;
        let mut entries = vec![("prediction".to_string(), RGBColor(31, 119, 180), Mark::Dot)];
        for k in kinds {
            entries.push((k.to_string(), fault_color(k), Mark::Cross));
        }
        if s.events_total > s.events.len() as u64 {
            entries.push((
                format!("(first {} of {})", s.events.len(), s.events_total),
                BLACK,
                Mark::Text,
            ));
        }
        legend(&legend_area, "marks", &entries)?;
        root.present().map_err(|x| err(&x))?;
    }
    crate::write::atomic_write(path, out.as_bytes())
}
