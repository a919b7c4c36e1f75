//! Power-safe A/B storage of `.mote` models on NOR flash.
//!
//! Two equal slots hold models. A slot is **committed** only by its very last
//! write (a commit word after the header), so a power cut at any point of an
//! update leaves the previous model active: an update erases the inactive
//! slot, programs the model, reads it back against its CRC, writes the
//! header, then the commit word. At boot the committed slot with the highest
//! sequence number whose data still matches its CRC is the active one; if
//! the caller's own check of it fails, [`ModelStore::load`] falls back to the
//! other slot. Versions only move forward unless an update is forced
//! (rollback protection).
//!
//! Works on any [`embedded_storage::nor_flash::NorFlash`]; `sim::SimFlash`
//! (feature `std`) simulates one on the host, with erase-before-write,
//! write and erase granularity, and power cuts after any step.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs)]

mod error;
mod layout;
mod store;

#[cfg(feature = "std")]
pub mod sim;

pub use error::StoreError;
pub use layout::{SlotHeader, COMMIT_WORD, SLOT_MAGIC};
pub use store::{ModelStore, SlotInfo};
