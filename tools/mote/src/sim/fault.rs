//! Fault specs (`--fault kind:rate=p` or `kind:at=n`), a seeded random
//! source, and the tally of injected against detected faults.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Result};
use serde::Serialize;

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// A sensor read fails on the I2C bus (per sample; per frame for images).
    I2cError,
    /// The sensor repeats its last reading for `len` samples.
    Stuck,
    /// A sample is lost.
    Drop,
    /// A sample arrives twice.
    Dup,
    /// One bit of the model image in flash flips (per inference).
    FlashBitflip,
    /// One bit of one of the model store's A/B slots flips on the flash
    /// (per inference); found at the next boot.
    StoreBitflip,
    /// One bit of the arena flips between inferences (per inference).
    ArenaCorrupt,
    /// Power is cut during a model update (per inference).
    Brownout,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::I2cError,
        FaultKind::Stuck,
        FaultKind::Drop,
        FaultKind::Dup,
        FaultKind::FlashBitflip,
        FaultKind::StoreBitflip,
        FaultKind::ArenaCorrupt,
        FaultKind::Brownout,
    ];

    /// The spec name, e.g. `i2c-error`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::I2cError => "i2c-error",
            FaultKind::Stuck => "stuck",
            FaultKind::Drop => "drop",
            FaultKind::Dup => "dup",
            FaultKind::FlashBitflip => "flash-bitflip",
            FaultKind::StoreBitflip => "store-bitflip",
            FaultKind::ArenaCorrupt => "arena-corrupt",
            FaultKind::Brownout => "brownout",
        }
    }

    /// Whether the fault is drawn per sensor sample (else per inference).
    pub fn per_sample(self) -> bool {
        matches!(
            self,
            FaultKind::I2cError | FaultKind::Stuck | FaultKind::Drop | FaultKind::Dup
        )
    }
}

/// When a fault strikes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum When {
    /// With this probability at each sample (or inference).
    Rate(f64),
    /// Once, at this sample (or inference) index.
    At(u64),
}

/// One `--fault` spec.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FaultSpec {
    /// The fault.
    pub kind: FaultKind,
    /// When it strikes.
    pub when: When,
    /// For `stuck`: how many samples the sensor stays stuck.
    pub len: u32,
}

/// Default length of a stuck episode, in samples.
pub const STUCK_LEN: u32 = 20;

impl std::str::FromStr for FaultSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        let usage = "expected kind:rate=<0..1> or kind:at=<index> (stuck also takes len=<samples>), kind one of i2c-error, stuck, drop, dup, flash-bitflip, store-bitflip, arena-corrupt, brownout";
        let (name, params) = s.split_once(':').unwrap_or((s, ""));
        let kind = FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| anyhow!("unknown fault '{name}' in --fault '{s}': {usage}"))?;
        let (mut when, mut len) = (None, STUCK_LEN);
        for p in params.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = p
                .split_once('=')
                .ok_or_else(|| anyhow!("bad parameter '{p}' in --fault '{s}': {usage}"))?;
            let bad = || anyhow!("bad value '{v}' for {k} in --fault '{s}': {usage}");
            match k {
                "rate" => {
                    let r: f64 = v.parse().map_err(|_| bad())?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(bad());
                    }
                    when = Some(When::Rate(r));
                }
                "at" => when = Some(When::At(v.parse().map_err(|_| bad())?)),
                "len" if kind == FaultKind::Stuck => {
                    len = v.parse().map_err(|_| bad())?;
                    if len == 0 {
                        return Err(bad());
                    }
                }
                _ => bail!("unknown parameter '{k}' in --fault '{s}': {usage}"),
            }
        }
        let when = when.ok_or_else(|| anyhow!("--fault '{s}' has no rate or at: {usage}"))?;
        Ok(FaultSpec { kind, when, len })
    }
}

/// A small seeded generator (SplitMix64): the same seed, the same campaign.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The specs of one campaign, drawn with one generator.
#[derive(Debug, Clone)]
pub struct Injector {
    specs: Vec<FaultSpec>,
    /// The campaign's random source.
    pub rng: Rng,
}

impl Injector {
    /// An injector for `specs` seeded with `seed`.
    pub fn new(specs: Vec<FaultSpec>, seed: u64) -> Self {
        Injector {
            specs,
            rng: Rng::new(seed),
        }
    }

    /// Whether `kind` strikes at `index` (a sample or inference index). A
    /// kind given several times strikes if any of its specs does.
    pub fn strikes(&mut self, kind: FaultKind, index: u64) -> bool {
        let mut hit = false;
        for s in self.specs.iter().filter(|s| s.kind == kind) {
            hit |= match s.when {
                When::At(at) => at == index,
                When::Rate(r) => r > 0.0 && self.rng.unit() < r,
            };
        }
        hit
    }

    /// The stuck length of the first `stuck` spec.
    pub fn stuck_len(&self) -> u32 {
        self.specs
            .iter()
            .find(|s| s.kind == FaultKind::Stuck)
            .map_or(STUCK_LEN, |s| s.len)
    }

    /// Whether any spec has this kind.
    pub fn has(&self, kind: FaultKind) -> bool {
        self.specs.iter().any(|s| s.kind == kind)
    }
}

/// Injected against detected, per kind.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Count {
    /// Faults injected.
    pub injected: u64,
    /// Faults the pipeline reported as a typed error.
    pub detected: u64,
    /// Faults that could not reach a prediction and needed no detection
    /// (arena bytes overwritten before use; a stuck episode cut short by
    /// the end of the stream; a sample lost at the very end; a store bit in
    /// a slot's sequence/version field or padding, or in a slot already
    /// rejected).
    pub harmless: u64,
}

/// The campaign's tally.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally(pub BTreeMap<&'static str, Count>);

impl Tally {
    /// The count of `kind`.
    pub fn of(&mut self, kind: FaultKind) -> &mut Count {
        self.0.entry(kind.name()).or_default()
    }

    /// Total injected.
    pub fn injected(&self) -> u64 {
        self.0.values().map(|c| c.injected).sum()
    }

    /// Total injected but neither detected nor harmless.
    pub fn missed(&self) -> u64 {
        self.0
            .values()
            .map(|c| c.injected.saturating_sub(c.detected + c.harmless))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        let s: FaultSpec = "i2c-error:rate=0.01".parse().unwrap();
        assert_eq!((s.kind, s.when), (FaultKind::I2cError, When::Rate(0.01)));
        let s: FaultSpec = "stuck:rate=0.1,len=7".parse().unwrap();
        assert_eq!(s.len, 7);
        let s: FaultSpec = "brownout:at=3".parse().unwrap();
        assert_eq!(s.when, When::At(3));
        for bad in [
            "nope:rate=1",
            "drop",
            "drop:rate=2",
            "drop:len=3,rate=0.1",
            "dup:at=x",
        ] {
            assert!(bad.parse::<FaultSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn seeded_draws_repeat() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
        assert!((0..1000).map(|_| a.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}
