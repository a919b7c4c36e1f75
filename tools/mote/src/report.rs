//! `mote eval --report`: a self-contained HTML page with SVG plots.

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use crate::eval::Report;

fn svg<F>(width: u32, height: u32, draw: F) -> Result<String>
where
    F: FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<()>,
{
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        draw(&root)?;
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    Ok(out)
}

fn layer_chart(r: &Report) -> Result<String> {
    let n = r.layers.len().max(1);
    let finite: Vec<f64> = r
        .layers
        .iter()
        .map(|l| {
            if l.sqnr_db.is_finite() {
                l.sqnr_db
            } else {
                100.0
            }
        })
        .collect();
    let top = finite.iter().copied().fold(10.0, f64::max) * 1.1;
    svg(900, 360, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption("SQNR per layer (dB, higher is better)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0usize..n, 0f64..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("op index")
            .y_desc("dB")
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(
                finite
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Rectangle::new([(i, 0.0), (i + 1, v)], BLUE.mix(0.6).filled())),
            )
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

fn memory_chart(r: &Report) -> Result<String> {
    let n = r.memory_timeline.len().max(1);
    let top = (r.arena_bytes.max(1) as f64) * 1.1;
    svg(900, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                "Live activation bytes per op (line: arena size)",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(70)
            .build_cartesian_2d(0usize..n, 0f64..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("op index")
            .y_desc("bytes")
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(r.memory_timeline.iter().enumerate().map(|(i, &v)| {
                Rectangle::new([(i, 0.0), (i + 1, v as f64)], GREEN.mix(0.5).filled())
            }))
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(LineSeries::new(
                [(0, r.arena_bytes as f64), (n, r.arena_bytes as f64)],
                &RED,
            ))
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

fn error_histogram(r: &Report) -> Result<String> {
    const BINS: usize = 41;
    let m = r.output_errors.iter().fold(1e-12f32, |a, e| a.max(e.abs()));
    let mut counts = [0u32; BINS];
    for e in &r.output_errors {
        let b = (((e / m) + 1.0) / 2.0 * (BINS - 1) as f32).round() as usize;
        counts[b.min(BINS - 1)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.1;
    svg(900, 300, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Output error (int8 - float), bins over ±{m:.4}"),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0usize..BINS, 0f64..top)
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .configure_mesh()
            .x_desc("bin")
            .y_desc("values")
            .draw()
            .map_err(|e| anyhow!("{e}"))?;
        chart
            .draw_series(counts.iter().enumerate().map(|(i, &c)| {
                Rectangle::new([(i, 0.0), (i + 1, f64::from(c))], MAGENTA.mix(0.5).filled())
            }))
            .map_err(|e| anyhow!("{e}"))?;
        Ok(())
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole HTML page.
pub fn html(r: &Report, title: &str) -> Result<String> {
    let mut rows = String::new();
    for l in &r.layers {
        rows += &format!(
            "<tr><td>{}</td><td>{}</td><td>{:.2}</td><td>{}</td></tr>\n",
            l.index,
            l.op,
            l.sqnr_db,
            escape(&l.tensor)
        );
    }
    let acc = match (r.float_accuracy, r.int8_accuracy) {
        (Some(f), Some(q)) => format!(
            "<tr><th>accuracy</th><td>float {:.2}%, int8 {:.2}% ({:+.2} points)</td></tr>",
            100.0 * f,
            100.0 * q,
            100.0 * (q - f)
        ),
        _ => String::new(),
    };
    Ok(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title>\
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}</style></head><body>\
<h1>{t}</h1><table>\
<tr><th>inputs</th><td>{n}</td></tr>\
<tr><th>top-1 agreement with float</th><td>{agree:.2}%</td></tr>{acc}\
<tr><th>output SQNR</th><td>{sq:.2} dB</td></tr>\
<tr><th>max abs output error</th><td>{mx:.5}</td></tr>\
<tr><th>arena</th><td>{arena} B</td></tr></table>\
<h2>Per-layer SQNR</h2>{l}<table><tr><th>#</th><th>op</th><th>SQNR dB</th><th>tensor</th></tr>{rows}</table>\
<h2>Memory</h2>{mem}<h2>Output error</h2>{hist}</body></html>\n",
        t = escape(title),
        n = r.samples,
        agree = 100.0 * r.top1_agreement,
        sq = r.output_sqnr_db,
        mx = r.max_abs_error,
        arena = r.arena_bytes,
        l = layer_chart(r)?,
        mem = memory_chart(r)?,
        hist = error_histogram(r)?,
    ))
}
