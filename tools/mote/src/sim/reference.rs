//! Published MLPerf Tiny latencies to set next to Mote's estimates, so a
//! user can judge an estimate against a real measurement.

use serde::Serialize;

use super::budget::Fit;

/// One published MLPerf Tiny result.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Reference {
    /// Benchmark short name: `ic`, `kws`, `vww` or `ad`.
    pub name: &'static str,
    /// The benchmark's model.
    pub model: &'static str,
    /// MACs of the benchmark's full-size model.
    pub macs: f64,
    /// Published latency in milliseconds.
    pub ms: f64,
    /// Who measured it, on what.
    pub system: &'static str,
}

const TFLM_V05: &str =
    "TFLite Micro reference kernels, MLPerf Tiny v0.5 reference submission, STM32L4R5 (Cortex-M4) at 120 MHz";

/// The TFLite Micro reference submission's latencies on the STM32L4R5
/// (mlcommons tiny_results v0.5), with the MACs of the full-size models.
pub const MLPERF_TINY_TFLM: &[Reference] = &[
    Reference {
        name: "ic",
        model: "ResNet-8 (CIFAR-10)",
        macs: 12.50e6,
        ms: 704.2,
        system: TFLM_V05,
    },
    Reference {
        name: "kws",
        model: "DS-CNN (Speech Commands)",
        macs: 2.66e6,
        ms: 181.9,
        system: TFLM_V05,
    },
    Reference {
        name: "vww",
        model: "MobileNetV1 0.25 (Visual Wake Words)",
        macs: 7.49e6,
        ms: 600.6,
        system: TFLM_V05,
    },
    Reference {
        name: "ad",
        model: "FC autoencoder (ToyADMOS)",
        macs: 0.264e6,
        ms: 10.05,
        system: TFLM_V05,
    },
];

/// The reference named `name`, case-insensitively.
pub fn by_name(name: &str) -> Option<&'static Reference> {
    MLPERF_TINY_TFLM
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
}

/// The estimate next to the published figure.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// The published result.
    pub reference: Reference,
    /// Mote's estimate for the given model (ms, low-high).
    pub estimate_ms: (f64, f64),
    /// The estimate scaled to the full-size model's MACs (ms, low-high),
    /// for when the given model is a smaller network of the same shape.
    pub estimate_at_reference_macs_ms: (f64, f64),
}

/// Sets `fit`'s estimate next to `r`.
pub fn compare(fit: &Fit, r: &Reference) -> Comparison {
    let k = r.macs / (fit.macs.max(1) as f64);
    Comparison {
        reference: *r,
        estimate_ms: fit.latency_ms,
        estimate_at_reference_macs_ms: (fit.latency_ms.0 * k, fit.latency_ms.1 * k),
    }
}

/// Human-readable comparison.
pub fn render(c: &Comparison, fit: &Fit) -> String {
    let r = &c.reference;
    let mut s = format!(
        "  published reference ({}): {} {:.2} ms, {} ({:.2} M MACs)\n",
        r.name,
        r.model,
        r.ms,
        r.system,
        r.macs / 1e6
    );
    s += &format!(
        "  Mote ESTIMATE on {}: {:.2}-{:.2} ms for this model ({:.3} M MACs); scaled to the reference's {:.2} M MACs: {:.1}-{:.1} ms\n",
        fit.board,
        c.estimate_ms.0,
        c.estimate_ms.1,
        fit.macs as f64 / 1e6,
        r.macs / 1e6,
        c.estimate_at_reference_macs_ms.0,
        c.estimate_at_reference_macs_ms.1
    );
    if !fit.board.starts_with("stm32l4r5") {
        s += "  note: the reference was measured on an STM32L4R5 at 120 MHz, not on this board\n";
    }
    s
}
