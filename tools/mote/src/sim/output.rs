//! A session's outputs: the prediction timeline (CSV or JSON, written
//! atomically) and the human summary.

use std::path::Path;

use anyhow::{bail, Result};

use super::session::Session;

/// Writes the timeline: `.csv` (one row per prediction) or `.json` (the
/// whole session).
pub fn write_timeline(path: &Path, s: &Session) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let text = match ext.as_str() {
        "json" => serde_json::to_string_pretty(s)?,
        "csv" => {
            let n = s.predictions.first().map_or(0, |p| p.scores.len());
            let mut t = String::from("index,at,time_s,file,class,clean_input,matches_reference");
            for i in 0..n {
                t += &format!(",score{i}");
            }
            t.push('\n');
            for p in &s.predictions {
                t += &format!(
                    "{},{},{:.4},{},{},{},{}",
                    p.index,
                    p.at,
                    p.time_s,
                    p.file.as_deref().unwrap_or("").replace(',', "_"),
                    p.class,
                    p.clean_input,
                    p.matches_reference
                );
                for v in &p.scores {
                    t += &format!(",{v}");
                }
                t.push('\n');
            }
            t
        }
        _ => bail!(
            "--out {}: the timeline is written as .csv or .json",
            path.display()
        ),
    };
    crate::write::atomic_write(path, text.as_bytes())
}

/// The summary printed after a session.
pub fn render(s: &Session, what: &str) -> String {
    let mut t = format!(
        "session: {} {what}, {} offered to the model, {} predictions ({:.2} s on this host)\n",
        s.inputs,
        s.offered,
        s.predictions.len(),
        s.host_seconds
    );
    let mut classes: Vec<(usize, usize)> = Vec::new();
    for p in &s.predictions {
        match classes.iter_mut().find(|(c, _)| *c == p.class) {
            Some(e) => e.1 += 1,
            None => classes.push((p.class, 1)),
        }
    }
    classes.sort();
    if !classes.is_empty() {
        let parts: Vec<String> = classes
            .iter()
            .map(|(c, n)| format!("class {c}: {n}"))
            .collect();
        t += &format!("  predictions by class: {}\n", parts.join(", "));
    }
    if !s.faults.0.is_empty() {
        t += &format!(
            "  faults: {:<14} {:>9} {:>9} {:>9} {:>7}\n",
            "kind", "injected", "detected", "harmless", "missed"
        );
        for (k, c) in &s.faults.0 {
            t += &format!(
                "          {:<14} {:>9} {:>9} {:>9} {:>7}\n",
                k,
                c.injected,
                c.detected,
                c.harmless,
                c.injected.saturating_sub(c.detected + c.harmless)
            );
        }
        t += &format!(
            "  {} faults injected, {} reported as typed errors\n",
            s.faults.injected(),
            s.events_total
        );
    }
    if s.boots.boots > 0 {
        t += &format!(
            "  boots: {}; a slot rejected by the store's checks: {}; refused (no valid slot, model installed again): {}; booted a corrupted model: {}\n",
            s.boots.boots, s.boots.fallback, s.boots.refused, s.boots.corrupt
        );
    }
    t += &format!(
        "  predictions from corrupted inputs: {}; differing from a fault-free run: {}\n",
        s.corrupted_predictions, s.mismatched_predictions
    );
    t
}
