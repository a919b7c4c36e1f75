//! Board profiles: what a firmware must fit and what a counter tick means.

/// An ARM core Mote targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Core {
    /// Cortex-M4 with FPU (ARMv7E-M).
    CortexM4,
    /// Cortex-M7 (ARMv7E-M).
    CortexM7,
    /// Cortex-M33 (ARMv8-M Mainline).
    CortexM33,
    /// Cortex-M55 with Helium (ARMv8.1-M).
    CortexM55,
    /// Cortex-A53 (ARMv8-A, aarch64 Linux gateways).
    CortexA53,
    /// Cortex-A72 (ARMv8-A, aarch64 Linux gateways).
    CortexA72,
}

impl Core {
    /// The core's short name, e.g. `"cortex-m4"`.
    pub const fn name(self) -> &'static str {
        match self {
            Core::CortexM4 => "cortex-m4",
            Core::CortexM7 => "cortex-m7",
            Core::CortexM33 => "cortex-m33",
            Core::CortexM55 => "cortex-m55",
            Core::CortexA53 => "cortex-a53",
            Core::CortexA72 => "cortex-a72",
        }
    }

    /// Whether this is an application (Cortex-A) core running Linux.
    pub const fn is_application(self) -> bool {
        matches!(self, Core::CortexA53 | Core::CortexA72)
    }

    /// The core named by a Cortex-M `CPUID` register value (its PARTNO
    /// field, bits 4..16; a Cortex-A `MIDR_EL1` has the same field), or
    /// `None` for a core not in this list.
    pub const fn from_cpuid(cpuid: u32) -> Option<Core> {
        match (cpuid >> 4) & 0xFFF {
            0xC24 => Some(Core::CortexM4),
            0xC27 => Some(Core::CortexM7),
            0xD21 => Some(Core::CortexM33),
            0xD22 => Some(Core::CortexM55),
            0xD03 => Some(Core::CortexA53),
            0xD08 => Some(Core::CortexA72),
            _ => None,
        }
    }
}

/// One board: emulated (a QEMU machine) or real.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Board {
    /// The board's name: the QEMU machine name for emulated boards.
    pub name: &'static str,
    /// Its core.
    pub core: Core,
    /// The Rust target its firmware is built for.
    pub target: &'static str,
    /// Flash (or code memory) the firmware is linked into, in bytes.
    pub flash_bytes: u32,
    /// RAM the firmware is linked into, in bytes.
    pub ram_bytes: u32,
    /// Core clock in Hz (the SysTick clock with `CLKSOURCE` = processor).
    pub clock_hz: u32,
    /// Whether this is a QEMU machine (instruction counts, not cycles).
    pub emulated: bool,
}

impl Board {
    /// Converts core-clock ticks to instructions. Only meaningful on a QEMU
    /// machine run with `-icount shift=0`, where one instruction is one
    /// nanosecond of virtual time; on real silicon ticks are cycles.
    pub const fn ticks_to_instructions(&self, ticks: u64) -> u64 {
        if self.clock_hz == 0 {
            return 0;
        }
        ticks.saturating_mul(1_000_000_000) / self.clock_hz as u64
    }

    /// Looks a board up by name in [`BOARDS`], ignoring case. A name that
    /// matches no board exactly may leave off a board's suffix after `-`
    /// (`nrf52840` for `nrf52840-dk`) when exactly one board has that prefix.
    pub fn by_name(name: &str) -> Option<&'static Board> {
        if let Some(b) = BOARDS.iter().find(|b| b.name.eq_ignore_ascii_case(name)) {
            return Some(b);
        }
        let is_prefix = |b: &&Board| {
            b.name.len() > name.len()
                && b.name.as_bytes().get(name.len()) == Some(&b'-')
                && b.name
                    .get(..name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(name))
        };
        let mut hits = BOARDS.iter().filter(is_prefix);
        match (hits.next(), hits.next()) {
            (Some(b), None) if !name.is_empty() => Some(b),
            _ => None,
        }
    }

    /// The emulated board with this core, if any (each core is emulated by
    /// exactly one QEMU machine in [`BOARDS`]).
    pub fn emulated_with(core: Core) -> Option<&'static Board> {
        BOARDS.iter().find(|b| b.emulated && b.core == core)
    }
}

const KIB: u32 = 1024;
const MIB: u32 = 1024 * 1024;

/// Every board Mote builds firmware for. QEMU memories are the sizes the
/// firmware is linked with (the machines have more); real boards use the
/// part's own sizes.
pub const BOARDS: &[Board] = &[
    Board {
        name: "mps2-an386",
        core: Core::CortexM4,
        target: "thumbv7em-none-eabihf",
        flash_bytes: 4 * MIB,
        ram_bytes: 4 * MIB,
        clock_hz: 25_000_000,
        emulated: true,
    },
    Board {
        name: "mps2-an500",
        core: Core::CortexM7,
        target: "thumbv7em-none-eabihf",
        flash_bytes: 4 * MIB,
        ram_bytes: 4 * MIB,
        clock_hz: 25_000_000,
        emulated: true,
    },
    Board {
        name: "mps2-an505",
        core: Core::CortexM33,
        target: "thumbv8m.main-none-eabihf",
        flash_bytes: 4 * MIB,
        ram_bytes: 4 * MIB,
        clock_hz: 20_000_000,
        emulated: true,
    },
    Board {
        name: "mps3-an547",
        core: Core::CortexM55,
        target: "thumbv8m.main-none-eabihf",
        flash_bytes: 512 * KIB,
        ram_bytes: 512 * KIB,
        clock_hz: 32_000_000,
        emulated: true,
    },
    Board {
        name: "stm32f746g-disco",
        core: Core::CortexM7,
        target: "thumbv7em-none-eabihf",
        flash_bytes: MIB,
        ram_bytes: 320 * KIB,
        clock_hz: 216_000_000,
        emulated: false,
    },
    Board {
        name: "nrf52840-dk",
        core: Core::CortexM4,
        target: "thumbv7em-none-eabihf",
        flash_bytes: MIB,
        ram_bytes: 256 * KIB,
        clock_hz: 64_000_000,
        emulated: false,
    },
    Board {
        name: "pico2",
        core: Core::CortexM33,
        target: "thumbv8m.main-none-eabihf",
        flash_bytes: 4 * MIB,
        ram_bytes: 520 * KIB,
        clock_hz: 150_000_000,
        emulated: false,
    },
    // STM32L4R5ZI (NUCLEO-L4R5ZI): the MLPerf Tiny reference part.
    Board {
        name: "stm32l4r5",
        core: Core::CortexM4,
        target: "thumbv7em-none-eabihf",
        flash_bytes: 2 * MIB,
        ram_bytes: 640 * KIB,
        clock_hz: 120_000_000,
        emulated: false,
    },
    // Alif Ensemble E7, high-performance Cortex-M55 (Corstone-300 class):
    // 5.5 MiB MRAM for code; RAM is the core's 1 MiB DTCM (the chip's
    // larger bus SRAM is slower and shared).
    Board {
        name: "alif-e7-hp",
        core: Core::CortexM55,
        target: "thumbv8m.main-none-eabihf",
        flash_bytes: 5632 * KIB,
        ram_bytes: MIB,
        clock_hz: 400_000_000,
        emulated: false,
    },
    // Raspberry Pi Zero 2 W class gateway: quad Cortex-A53 at 1 GHz,
    // 512 MiB SDRAM. "Flash" is a storage budget on the SD card.
    Board {
        name: "gateway-a53",
        core: Core::CortexA53,
        target: "aarch64-unknown-linux-gnu",
        flash_bytes: 1024 * MIB,
        ram_bytes: 512 * MIB,
        clock_hz: 1_000_000_000,
        emulated: false,
    },
    // Raspberry Pi 4 Model B (1 GiB) class gateway: quad Cortex-A72 at
    // 1.5 GHz. "Flash" is a storage budget on the SD card.
    Board {
        name: "gateway-a72",
        core: Core::CortexA72,
        target: "aarch64-unknown-linux-gnu",
        flash_bytes: 1024 * MIB,
        ram_bytes: 1024 * MIB,
        clock_hz: 1_500_000_000,
        emulated: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_part_numbers() {
        // CPUID values of r0p1 parts as QEMU reports them.
        assert_eq!(Core::from_cpuid(0x410F_C241), Some(Core::CortexM4));
        assert_eq!(Core::from_cpuid(0x410F_C270), Some(Core::CortexM7));
        assert_eq!(Core::from_cpuid(0x410F_D213), Some(Core::CortexM33));
        assert_eq!(Core::from_cpuid(0x410F_D220), Some(Core::CortexM55));
        assert_eq!(Core::from_cpuid(0x410F_C230), None);
        // MIDR_EL1 of a Cortex-A53 r0p4 and a Cortex-A72 r0p3.
        assert_eq!(Core::from_cpuid(0x410F_D034), Some(Core::CortexA53));
        assert_eq!(Core::from_cpuid(0x410F_D083), Some(Core::CortexA72));
    }

    #[test]
    fn short_names_match_one_board() {
        assert_eq!(
            Board::by_name("nrf52840").map(|b| b.name),
            Some("nrf52840-dk")
        );
        assert_eq!(
            Board::by_name("NRF52840-DK").map(|b| b.name),
            Some("nrf52840-dk")
        );
        assert_eq!(
            Board::by_name("stm32l4r5").map(|b| b.clock_hz),
            Some(120_000_000)
        );
        // "mps2" prefixes three boards: ambiguous.
        assert_eq!(Board::by_name("mps2"), None);
        assert_eq!(Board::by_name(""), None);
        assert_eq!(Board::by_name("nrf5"), None);
    }

    #[test]
    fn one_emulated_board_per_core() {
        for core in [
            Core::CortexM4,
            Core::CortexM7,
            Core::CortexM33,
            Core::CortexM55,
        ] {
            let n = BOARDS
                .iter()
                .filter(|b| b.emulated && b.core == core)
                .count();
            assert_eq!(n, 1, "{}", core.name());
        }
    }

    #[test]
    fn ticks_to_instructions_at_icount_shift_0() {
        let an386 = Board::by_name("mps2-an386").unwrap();
        assert_eq!(an386.ticks_to_instructions(1), 40);
        let an547 = Board::by_name("MPS3-AN547").unwrap();
        assert_eq!(an547.ticks_to_instructions(32), 1000);
    }
}
