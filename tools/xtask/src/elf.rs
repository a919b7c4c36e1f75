//! Firmware sizes read from the linked ELF.

use std::path::Path;

use anyhow::{Context, Result};
use object::{Object, ObjectSection, ObjectSymbol};

/// What a firmware image occupies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes stored in flash: vector table, code, read-only data (the model
    /// and golden vectors included) and the initial values of `.data`.
    pub flash: u64,
    /// Bytes of RAM reserved statically: `.data`, `.bss` (the arena) and
    /// `.uninit`. The stack comes on top.
    pub static_ram: u64,
    /// Bytes of `flash` taken by the embedded model and golden vectors (the
    /// firmware's `MODEL`, `INPUTS` and `OUTPUTS` statics); the rest is code
    /// and constants of the runtime, kernels and firmware.
    pub embedded: u64,
}

impl Sizes {
    /// Flash bytes that are not the embedded model and golden vectors.
    pub fn code(&self) -> u64 {
        self.flash.saturating_sub(self.embedded)
    }
}

/// Sizes of the cortex-m-rt sections of `elf`.
pub fn sizes(elf: &Path) -> Result<Sizes> {
    let bytes = std::fs::read(elf).with_context(|| format!("cannot read {}", elf.display()))?;
    let file = object::File::parse(&*bytes)
        .with_context(|| format!("{} is not an object file", elf.display()))?;
    let mut s = Sizes::default();
    for section in file.sections() {
        let size = section.size();
        match section.name().unwrap_or("") {
            ".vector_table" | ".start_block" | ".text" | ".rodata" => s.flash += size,
            ".data" => {
                s.flash += size;
                s.static_ram += size;
            }
            ".bss" | ".uninit" => s.static_ram += size,
            _ => {}
        }
    }
    for sym in file.symbols() {
        let name = sym.name().unwrap_or("");
        // Mangled Rust paths: `..5MODEL17h<hash>E` and so on.
        if ["5MODEL17h", "6INPUTS17h", "7OUTPUTS17h"]
            .iter()
            .any(|k| name.contains(k))
        {
            s.embedded += sym.size();
        }
    }
    Ok(s)
}
