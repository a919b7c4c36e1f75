//! Imaging firmware: classifies frames from a `FrameSource` with the
//! embedded model (`mote_board::imaging::classify_frames`) and logs the
//! top-1 class and the cycles per layer (DWT cycle counter). The frame
//! source here is the synthetic `TestPattern`; a camera driver (e.g. PIO +
//! DMA) plugs in by implementing `FrameSource`.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use mote_board::imaging::classify_frames;
use mote_board::pipeline::TestPattern;
use mote_board::Counter;
use panic_probe as _;

/// Aligns the embedded model bytes (weights are borrowed in place).
#[repr(C, align(16))]
struct Aligned<T>(T);

include!(concat!(env!("OUT_DIR"), "/model.rs"));

/// The RP2350 boot ROM's IMAGE_DEF block: a Secure, Arm, RP2350
/// executable (block marker, IMAGE_TYPE item, LAST item, self link, end
/// marker; RP2350 datasheet, section 5.9).
#[link_section = ".start_block"]
#[used]
static IMAGE_DEF: [u32; 5] = [
    0xFFFF_DED3,
    0x1021_0142,
    0x0000_01FF,
    0x0000_0000,
    0xAB12_3579,
];

static mut ARENA: Aligned<[u8; ARENA_LEN]> = Aligned([0; ARENA_LEN]);

/// The DWT cycle counter (32 bits, counts up).
struct Cycles;

impl Counter for Cycles {
    const MASK: u32 = u32::MAX;
    fn now(&mut self) -> u32 {
        DWT::cycle_count()
    }
}

#[entry]
fn main() -> ! {
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        defmt::panic!("core peripherals taken");
    };
    cp.DCB.enable_trace();
    cp.DWT.enable_cycle_counter();

    // SAFETY: the only reference to ARENA, taken once in `main`.
    let arena = unsafe { &mut (*addr_of_mut!(ARENA)).0 };
    let mut per_op = [0u64; OP_COUNT];
    match classify_frames(
        MODEL_NAME,
        &MODEL.0,
        arena,
        &mut per_op,
        Cycles,
        TestPattern::new,
    ) {
        Ok(never) => match never {},
        Err(e) => defmt::panic!("imaging: {}", e),
    }
}
