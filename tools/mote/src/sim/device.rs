//! The virtual device: a model store on simulated NOR flash (`mote-store`,
//! two A/B slots), the model image the runtime executes from, and the
//! arena. Each inference re-checks the image (the runtime's own
//! `Model::parse`, which checks the file CRC, and the store's CRC of the
//! whole image) and guards the written input with a checksum until the
//! model runs, so a flipped bit in flash or in the input never reaches a
//! prediction.

use anyhow::{anyhow, Result};
use mote_format::crc32;
use mote_runtime::{Interpreter, Model};
use mote_store::sim::SimFlash;
use mote_store::ModelStore;

use crate::{AlignedBytes, Arena};

type Flash = SimFlash<4, 4096>;

const ERASE: usize = 4096;

/// What went wrong in one inference cycle: each is reported, none panics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceFault {
    /// The model image failed its check before inference.
    ModelCorrupt(String),
    /// The input in the arena changed between writing it and running.
    InputCorrupt,
    /// The runtime refused to run.
    Runtime(String),
    /// A model update was cut by a power loss.
    UpdateInterrupted(String),
    /// No valid model could be loaded from the store.
    NoModel(String),
}

impl std::fmt::Display for DeviceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ModelCorrupt(e) => write!(f, "model image corrupt: {e}"),
            Self::InputCorrupt => f.write_str("input corrupted in the arena before inference"),
            Self::Runtime(e) => write!(f, "runtime error: {e}"),
            Self::UpdateInterrupted(e) => write!(f, "model update interrupted: {e}"),
            Self::NoModel(e) => write!(f, "no valid model in the store: {e}"),
        }
    }
}

/// Where an arena bit flip lands in the inference cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArenaHit {
    /// After the previous inference, before the input is written.
    BeforeInput {
        /// Bit index in the arena.
        bit: usize,
    },
    /// After the input is written, before the model runs.
    AfterInput {
        /// Bit index in the arena.
        bit: usize,
    },
}

/// One inference's result.
#[derive(Debug, Clone)]
pub struct Inference {
    /// The int8 input the model ran on.
    pub input: Vec<i8>,
    /// The int8 output.
    pub output: Vec<i8>,
    /// Whether the input guard caught a corruption (and the input was
    /// written again).
    pub input_corruption_caught: bool,
}

/// The simulated device.
pub struct Device {
    store: Option<ModelStore<Flash>>,
    slot_size: u32,
    image: AlignedBytes,
    image_crc: u32,
    version: u32,
    arena: Arena,
    arena_len: usize,
}

impl Device {
    /// A device with `model` installed (twice, so both slots hold it).
    pub fn new(model: &[u8]) -> Result<Self> {
        let parsed = Model::parse(model).map_err(|e| anyhow!("invalid model: {e}"))?;
        let arena_len = parsed.arena_len();
        let slot = (model.len() + 64).div_ceil(ERASE) * ERASE + ERASE;
        let flash = Flash::new(ERASE + 2 * slot);
        let slot_size = slot as u32;
        let mut store = ModelStore::new(flash, ERASE as u32, slot_size)
            .map_err(|e| anyhow!("model store: {e}"))?;
        for v in 1..=2 {
            store
                .install(model, v, false, |b| Model::parse(b).is_ok())
                .map_err(|e| anyhow!("installing the model: {e}"))?;
        }
        let mut d = Device {
            store: Some(store),
            slot_size,
            image: AlignedBytes::new(&[]),
            image_crc: 0,
            version: 2,
            arena: Arena::new(arena_len),
            arena_len,
        };
        d.boot().map_err(|e| anyhow!("{e}"))?;
        Ok(d)
    }

    /// Loads the newest valid model from the store into the execution
    /// image (a reboot, or a repair after a corrupt image).
    pub fn boot(&mut self) -> Result<u32, DeviceFault> {
        let store = self
            .store
            .as_mut()
            .ok_or_else(|| DeviceFault::NoModel("store lost".into()))?;
        let mut buf = vec![0u8; store.capacity() as usize];
        let (info, bytes) = store
            .load(&mut buf, |b| Model::parse(b).is_ok())
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        self.image = AlignedBytes::new(bytes);
        self.image_crc = info.header.crc;
        self.version = info.header.version;
        Ok(info.header.version)
    }

    /// The installed model's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Bits in the model image.
    pub fn image_bits(&self) -> usize {
        self.image.as_slice().len() * 8
    }

    /// Bits in the arena.
    pub fn arena_bits(&self) -> usize {
        self.arena_len * 8
    }

    /// Flips one bit of the model image the runtime executes from.
    pub fn flip_image_bit(&mut self, bit: usize) {
        let mut bytes = self.image.as_slice().to_vec();
        if let Some(b) = bytes.get_mut(bit / 8) {
            *b ^= 1 << (bit % 8);
        }
        self.image = AlignedBytes::new(&bytes);
    }

    fn flip_arena_bit(&mut self, bit: usize) {
        if let Some(b) = self.arena.bytes().get_mut(bit / 8) {
            *b ^= 1 << (bit % 8);
        }
    }

    /// Checks the execution image: the runtime's parse (header, CRC-32 of
    /// the body, every structure), then the store's CRC of the whole image.
    pub fn check_image(&self) -> Result<(), DeviceFault> {
        let bytes = self.image.as_slice();
        Model::parse(bytes).map_err(|e| DeviceFault::ModelCorrupt(format!("Model::parse: {e}")))?;
        if crc32(bytes) != self.image_crc {
            return Err(DeviceFault::ModelCorrupt(
                "image CRC differs from the store's".into(),
            ));
        }
        Ok(())
    }

    /// One inference: checks the image, writes the input with `fill`,
    /// guards it with a CRC until the model runs, runs, and returns the
    /// output. `hit` flips an arena bit at the given moment.
    pub fn infer(
        &mut self,
        fill: &dyn Fn(&mut [i8]) -> Result<()>,
        hit: Option<ArenaHit>,
    ) -> Result<Inference, DeviceFault> {
        self.check_image()?;
        if let Some(ArenaHit::BeforeInput { bit }) = hit {
            self.flip_arena_bit(bit);
        }
        let rt = |e: mote_runtime::Error| DeviceFault::Runtime(e.to_string());
        let model = Model::parse(self.image.as_slice()).map_err(rt)?;
        let guard = {
            let mut it = Interpreter::new(&model, self.arena.bytes()).map_err(rt)?;
            let input = it.input_mut(0).map_err(rt)?;
            fill(input).map_err(|e| DeviceFault::Runtime(e.to_string()))?;
            crc32(bytemuck::cast_slice(input))
        };
        if let Some(ArenaHit::AfterInput { bit }) = hit {
            if let Some(b) = self.arena.bytes().get_mut(bit / 8) {
                *b ^= 1 << (bit % 8);
            }
        }
        let mut it = Interpreter::new(&model, self.arena.bytes()).map_err(rt)?;
        let mut caught = false;
        if crc32(bytemuck::cast_slice(it.input_mut(0).map_err(rt)?)) != guard {
            // Written again from the window, which lives outside the arena.
            caught = true;
            let input = it.input_mut(0).map_err(rt)?;
            fill(input).map_err(|e| DeviceFault::Runtime(e.to_string()))?;
            if crc32(bytemuck::cast_slice(input)) != guard {
                return Err(DeviceFault::InputCorrupt);
            }
        }
        let input = it.input_mut(0).map_err(rt)?.to_vec();
        it.invoke().map_err(rt)?;
        let output = it.output(0).map_err(rt)?.to_vec();
        Ok(Inference {
            input,
            output,
            input_corruption_caught: caught,
        })
    }

    /// Installs the current model again as the next version, with power
    /// cut after `cut_after` flash steps (`None`: no cut). On a cut the
    /// device reboots and loads whichever model the store holds. Returns
    /// the interruption when power was cut.
    pub fn update(&mut self, cut_after: Option<u32>) -> Result<Option<DeviceFault>, DeviceFault> {
        let model = self.image.as_slice().to_vec();
        let store = self
            .store
            .take()
            .ok_or_else(|| DeviceFault::NoModel("store lost".into()))?;
        let mut flash = store.into_inner();
        flash.power_budget = cut_after;
        let reopen = |flash: Flash, slot_size: u32| {
            ModelStore::new(flash, ERASE as u32, slot_size)
                .map_err(|e| DeviceFault::NoModel(e.to_string()))
        };
        let mut store = reopen(flash, self.slot_size)?;
        let next = self.version.saturating_add(1);
        let result = store.install(&model, next, false, |b| Model::parse(b).is_ok());
        let mut flash = store.into_inner();
        flash.power_budget = None;
        self.store = Some(reopen(flash, self.slot_size)?);
        match result {
            Ok(_) => {
                self.boot()?;
                Ok(None)
            }
            Err(e) => {
                // Reboot: the store must give back the old or the new model.
                self.boot()?;
                Ok(Some(DeviceFault::UpdateInterrupted(e.to_string())))
            }
        }
    }

    /// Flash steps (erases and writes) of one update.
    pub fn update_steps(&mut self) -> Result<u32, DeviceFault> {
        let store = self
            .store
            .take()
            .ok_or_else(|| DeviceFault::NoModel("store lost".into()))?;
        let mut flash = store.into_inner();
        let before = flash.steps;
        let mut probe = flash.clone();
        flash.power_budget = None;
        self.store = Some(
            ModelStore::new(flash, ERASE as u32, self.slot_size)
                .map_err(|e| DeviceFault::NoModel(e.to_string()))?,
        );
        probe.power_budget = None;
        let mut s = ModelStore::new(probe, ERASE as u32, self.slot_size)
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        s.install(self.image.as_slice(), self.version + 1, false, |_| true)
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        Ok(s.into_inner().steps - before)
    }
}
