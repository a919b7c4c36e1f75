//! The A/B store.

use embedded_storage::nor_flash::NorFlash;

use crate::layout::{align_up, offsets, SlotHeader, COMMIT_WORD, CRC, FIELDS_LEN};
use crate::StoreError;

/// Bytes moved per flash read or write.
const CHUNK: usize = 256;

/// A committed model in a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotInfo {
    /// Slot index, 0 (A) or 1 (B).
    pub slot: u8,
    /// Its header.
    pub header: SlotHeader,
    /// Flash offset of the model bytes (for memory-mapped, zero-copy use).
    pub data_offset: u32,
}

/// Two model slots on a NOR flash.
#[derive(Debug)]
pub struct ModelStore<F> {
    flash: F,
    base: u32,
    slot_size: u32,
}

type Res<T, F> = Result<T, StoreError<<F as embedded_storage::nor_flash::ErrorType>::Error>>;

impl<F: NorFlash> ModelStore<F> {
    /// A store whose slot A starts at `base` and slot B at `base + slot_size`.
    /// Both must be erase-size aligned and fit in the flash.
    pub fn new(flash: F, base: u32, slot_size: u32) -> Res<Self, F> {
        let (erase, write, read) = (F::ERASE_SIZE, F::WRITE_SIZE, F::READ_SIZE);
        let fits = (base as usize)
            .checked_add((slot_size as usize).saturating_mul(2))
            .is_some_and(|end| end <= flash.capacity());
        let (_, data) = offsets(write);
        if erase == 0
            || write == 0
            || read == 0
            || !(base as usize).is_multiple_of(erase)
            || !(slot_size as usize).is_multiple_of(erase)
            || !CHUNK.is_multiple_of(write)
            || !CHUNK.is_multiple_of(read)
            || data % read != 0
            || (slot_size as usize) <= data
            || !fits
        {
            return Err(StoreError::BadLayout);
        }
        Ok(Self {
            flash,
            base,
            slot_size,
        })
    }

    /// Gives the flash back.
    pub fn into_inner(self) -> F {
        self.flash
    }

    /// Where things sit inside each slot, as offsets from the slot's start:
    /// `(metadata_end, model_start)`. Bytes before `metadata_end` (header
    /// fields with their CRC, and the commit word) are all checked at boot;
    /// the erased padding up to `model_start` is not read.
    pub fn slot_layout(&self) -> (u32, u32) {
        let (commit, data) = offsets(F::WRITE_SIZE);
        ((commit + 4) as u32, data as u32)
    }

    /// Bytes of model one slot holds.
    pub fn capacity(&self) -> u32 {
        self.slot_size - offsets(F::WRITE_SIZE).1 as u32
    }

    fn slot_base(&self, slot: u8) -> u32 {
        self.base + u32::from(slot) * self.slot_size
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Res<(), F> {
        self.flash.read(offset, buf).map_err(StoreError::Flash)
    }

    /// Reads and checks one slot: committed, sane length, CRC of the data.
    fn inspect(&mut self, slot: u8) -> Res<Option<SlotInfo>, F> {
        let start = self.slot_base(slot);
        let (commit_at, data_at) = offsets(F::WRITE_SIZE);
        let mut fields = [0u8; FIELDS_LEN];
        self.read(start, &mut fields)?;
        let mut commit = [0u8; 4];
        self.read(start + commit_at as u32, &mut commit)?;
        let Some(header) = SlotHeader::decode(&fields) else {
            return Ok(None);
        };
        if u32::from_le_bytes(commit) != COMMIT_WORD || header.len > self.capacity() {
            return Ok(None);
        }
        let data_offset = start + data_at as u32;
        let mut digest = CRC.digest();
        let mut buf = [0u8; CHUNK];
        let mut done = 0u32;
        while done < header.len {
            let n = (header.len - done).min(CHUNK as u32) as usize;
            let want = align_up(n, F::READ_SIZE);
            self.read(data_offset + done, &mut buf[..want])?;
            digest.update(&buf[..n]);
            done += n as u32;
        }
        Ok((digest.finalize() == header.crc).then_some(SlotInfo {
            slot,
            header,
            data_offset,
        }))
    }

    /// Both slots' valid committed models, newest first.
    pub fn slots(&mut self) -> Res<[Option<SlotInfo>; 2], F> {
        let (a, b) = (self.inspect(0)?, self.inspect(1)?);
        Ok(match (a, b) {
            (Some(x), Some(y)) if y.header.seq > x.header.seq => [Some(y), Some(x)],
            (None, Some(y)) => [Some(y), None],
            other => [other.0, other.1],
        })
    }

    /// The active model: the newest valid committed slot.
    pub fn active(&mut self) -> Res<Option<SlotInfo>, F> {
        Ok(self.slots()?[0])
    }

    /// Copies the model of `info` into `buf`, returning its bytes.
    pub fn read_model<'b>(&mut self, info: &SlotInfo, buf: &'b mut [u8]) -> Res<&'b [u8], F> {
        let len = info.header.len as usize;
        let need = align_up(len, F::READ_SIZE);
        let dst = buf.get_mut(..need).ok_or(StoreError::BufferTooSmall)?;
        self.read(info.data_offset, dst)?;
        Ok(&buf[..len])
    }

    /// Boots: reads the newest valid model into `buf` and runs `check` on it
    /// (e.g. `Model::parse_verified`); if it fails, revokes that slot and
    /// falls back to the other one. Returns the slot used and the bytes.
    pub fn load<'b>(
        &mut self,
        buf: &'b mut [u8],
        mut check: impl FnMut(&[u8]) -> bool,
    ) -> Res<(SlotInfo, &'b [u8]), F> {
        for candidate in self.slots()?.into_iter().flatten() {
            let ok = {
                let bytes = self.read_model(&candidate, buf)?;
                check(bytes)
            };
            if ok {
                let len = candidate.header.len as usize;
                return Ok((candidate, &buf[..len]));
            }
            self.revoke(candidate.slot)?;
        }
        Err(StoreError::NoModel)
    }

    /// Marks a slot invalid by zeroing its commit word (no erase needed).
    pub fn revoke(&mut self, slot: u8) -> Res<(), F> {
        let (commit_at, _) = offsets(F::WRITE_SIZE);
        let zeros = [0u8; CHUNK];
        let n = align_up(4, F::WRITE_SIZE);
        self.flash
            .write(self.slot_base(slot) + commit_at as u32, &zeros[..n])
            .map_err(StoreError::Flash)
    }

    /// Installs `model` as version `version` into the inactive slot and makes
    /// it active, power-safely. `check` runs on the bytes first (signature,
    /// `Model::parse`); an older version than the active one is refused unless
    /// `force`. A power cut at any step leaves the previous model active.
    pub fn install(
        &mut self,
        model: &[u8],
        version: u32,
        force: bool,
        check: impl FnOnce(&[u8]) -> bool,
    ) -> Res<SlotInfo, F> {
        let len = u32::try_from(model.len()).map_err(|_| StoreError::TooLarge {
            len: u32::MAX,
            capacity: self.capacity(),
        })?;
        if len > self.capacity() {
            return Err(StoreError::TooLarge {
                len,
                capacity: self.capacity(),
            });
        }
        if !check(model) {
            return Err(StoreError::Rejected);
        }
        let active = self.active()?;
        if let Some(a) = active {
            if version < a.header.version && !force {
                return Err(StoreError::Rollback {
                    installed: a.header.version,
                    offered: version,
                });
            }
        }
        let slot = match active {
            Some(a) => 1 - a.slot,
            None => 0,
        };
        let seq = active.map_or(1, |a| a.header.seq.wrapping_add(1));
        let start = self.slot_base(slot);
        let (commit_at, data_at) = offsets(F::WRITE_SIZE);
        self.flash
            .erase(start, start + self.slot_size)
            .map_err(StoreError::Flash)?;
        // The model, in write-size chunks (the tail padded with 0xFF).
        let mut buf = [0xFFu8; CHUNK];
        let data_offset = start + data_at as u32;
        for (i, part) in model.chunks(CHUNK).enumerate() {
            buf.fill(0xFF);
            buf[..part.len()].copy_from_slice(part);
            let n = align_up(part.len(), F::WRITE_SIZE);
            self.flash
                .write(data_offset + (i * CHUNK) as u32, &buf[..n])
                .map_err(StoreError::Flash)?;
        }
        let header = SlotHeader {
            seq,
            version,
            len,
            crc: CRC.checksum(model),
        };
        // Read back before committing.
        let mut back = [0u8; CHUNK];
        for (i, part) in model.chunks(CHUNK).enumerate() {
            let n = align_up(part.len(), F::READ_SIZE);
            self.read(data_offset + (i * CHUNK) as u32, &mut back[..n])?;
            if back[..part.len()] != *part {
                return Err(StoreError::Verify);
            }
        }
        buf.fill(0xFF);
        buf[..FIELDS_LEN].copy_from_slice(&header.encode());
        self.flash
            .write(start, &buf[..align_up(FIELDS_LEN, F::WRITE_SIZE)])
            .map_err(StoreError::Flash)?;
        buf.fill(0xFF);
        buf[..4].copy_from_slice(&COMMIT_WORD.to_le_bytes());
        self.flash
            .write(start + commit_at as u32, &buf[..align_up(4, F::WRITE_SIZE)])
            .map_err(StoreError::Flash)?;
        let info = SlotInfo {
            slot,
            header,
            data_offset,
        };
        match self.inspect(slot)? {
            Some(i) if i == info => Ok(info),
            _ => Err(StoreError::Verify),
        }
    }
}
