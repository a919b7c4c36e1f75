//! The virtual device: a model store on simulated NOR flash (`mote-store`,
//! two A/B slots), the model image the runtime executes from, and the
//! arena. Each inference re-checks the image (the runtime's own
//! `Model::parse`, which checks the file CRC, and the store's CRC of the
//! whole image) and guards the written input with a checksum until the
//! model runs, so a flipped bit in flash or in the input never reaches a
//! prediction. Bits can also flip in the store's two slots on flash
//! ([`Device::flip_store_bit`]): the store's slot checks (magic, commit word,
//! length, CRC-32 of the model) reject such a slot at the next boot, which
//! then falls back to the other slot, or refuses to boot when neither holds
//! a valid model.

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

/// Where a flipped store bit landed in its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotPart {
    /// Bytes the store checks: the header (magic, sequence, version,
    /// length, data CRC, all under the header's own CRC), the commit word,
    /// and the model bytes (under the data CRC).
    Checked,
    /// Erased padding between the commit word and the model.
    Padding,
}

/// How a boot went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Boot {
    /// The slot the model was loaded from (0: A, 1: B).
    pub slot: u8,
    /// Its version.
    pub version: u32,
    /// Slots rejected by the store's checks at this boot.
    pub rejected: [bool; 2],
    /// Whether the loaded image equals the installed model byte for byte
    /// (a corrupted model that passed the checks would make it false).
    pub pristine: bool,
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

/// The device's model store (absent only while a fault has taken its flash).
fn store_of(store: &mut Option<ModelStore<Flash>>) -> Result<&mut ModelStore<Flash>, DeviceFault> {
    store
        .as_mut()
        .ok_or_else(|| DeviceFault::NoModel("store lost".into()))
}

/// A model store on `flash` with the device's slot layout.
fn open(flash: Flash, slot_size: u32) -> Result<ModelStore<Flash>, DeviceFault> {
    ModelStore::new(flash, ERASE as u32, slot_size).map_err(|e| DeviceFault::NoModel(e.to_string()))
}

/// The simulated device.
pub struct Device {
    store: Option<ModelStore<Flash>>,
    slot_size: u32,
    /// The model as installed: what every boot must load.
    model: Vec<u8>,
    /// End of a slot's checked metadata (header and commit word).
    metadata_end: u32,
    /// Offset of the model bytes in a slot.
    data_at: u32,
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
        let (metadata_end, data_at) = store.slot_layout();
        let mut d = Device {
            store: Some(store),
            slot_size,
            model: model.to_vec(),
            metadata_end,
            data_at,
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
    /// image (a reboot, or a repair after a corrupt image). With no valid
    /// slot the device refuses to boot (`NoModel`) and keeps no image.
    pub fn boot(&mut self) -> Result<Boot, DeviceFault> {
        let store = store_of(&mut self.store)?;
        let valid = store
            .slots()
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        let mut rejected = [true; 2];
        for i in valid.iter().flatten() {
            if let Some(r) = rejected.get_mut(usize::from(i.slot)) {
                *r = false;
            }
        }
        let mut buf = vec![0u8; store.capacity() as usize];
        let loaded = store.load(&mut buf, |b| Model::parse(b).is_ok());
        let (info, bytes) = match loaded {
            Ok(x) => x,
            Err(e) => {
                self.image = AlignedBytes::new(&[]);
                self.image_crc = 0;
                return Err(DeviceFault::NoModel(e.to_string()));
            }
        };
        self.image = AlignedBytes::new(bytes);
        self.image_crc = info.header.crc;
        self.version = info.header.version;
        Ok(Boot {
            slot: info.slot,
            version: info.header.version,
            rejected,
            pristine: self.image.as_slice() == self.model.as_slice(),
        })
    }

    /// Installs the model again after the device refused to boot (as a
    /// service tool or the update server would), and boots it.
    pub fn provision(&mut self) -> Result<Boot, DeviceFault> {
        let next = self.version.saturating_add(1);
        let store = store_of(&mut self.store)?;
        store
            .install(&self.model, next, true, |b| Model::parse(b).is_ok())
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        self.boot()
    }

    /// Whether the execution image is the installed model, byte for byte.
    pub fn runs_installed_model(&self) -> bool {
        self.image.as_slice() == self.model.as_slice()
    }

    /// Bytes of one slot that hold something: header, commit word,
    /// padding and the model.
    pub fn slot_used_bytes(&self) -> usize {
        self.data_at as usize + self.model.len()
    }

    /// Whether `slot` holds a valid committed model now.
    pub fn slot_valid(&mut self, slot: u8) -> Result<bool, DeviceFault> {
        let store = store_of(&mut self.store)?;
        let valid = store
            .slots()
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        Ok(valid.iter().flatten().any(|i| i.slot == slot))
    }

    /// Takes the store's flash, for a fault or an update to act on it.
    fn take_flash(&mut self) -> Result<Flash, DeviceFault> {
        self.store
            .take()
            .map(ModelStore::into_inner)
            .ok_or_else(|| DeviceFault::NoModel("store lost".into()))
    }

    /// Gives the flash back to a store opened on it.
    fn put_flash(&mut self, flash: Flash) -> Result<(), DeviceFault> {
        self.store = Some(open(flash, self.slot_size)?);
        Ok(())
    }

    /// Flips bit `bit` of the used part of store slot `slot` (0: A, 1: B)
    /// on the flash, and says which part of the slot it hit. The running
    /// image is not touched: the flip is seen when the store is next read.
    pub fn flip_store_bit(&mut self, slot: u8, bit: usize) -> Result<SlotPart, DeviceFault> {
        let mut flash = self.take_flash()?;
        let byte = bit / 8 % self.slot_used_bytes().max(1);
        let at = ERASE + usize::from(slot.min(1)) * self.slot_size as usize + byte;
        if let Some(b) = flash.memory.get_mut(at) {
            *b ^= 1 << (bit % 8);
        }
        self.put_flash(flash)?;
        Ok(match byte {
            b if b >= self.metadata_end as usize && b < self.data_at as usize => SlotPart::Padding,
            _ => SlotPart::Checked,
        })
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
        let model = self.model.clone();
        let mut flash = self.take_flash()?;
        flash.power_budget = cut_after;
        let mut store = open(flash, self.slot_size)?;
        let next = self.version.saturating_add(1);
        let result = store.install(&model, next, false, |b| Model::parse(b).is_ok());
        let mut flash = store.into_inner();
        flash.power_budget = None;
        self.put_flash(flash)?;
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
        let mut flash = self.take_flash()?;
        let before = flash.steps;
        let mut probe = flash.clone();
        flash.power_budget = None;
        self.put_flash(flash)?;
        probe.power_budget = None;
        let mut s = open(probe, self.slot_size)?;
        s.install(&self.model, self.version.saturating_add(1), true, |_| true)
            .map_err(|e| DeviceFault::NoModel(e.to_string()))?;
        Ok(s.into_inner().steps - before)
    }
}
