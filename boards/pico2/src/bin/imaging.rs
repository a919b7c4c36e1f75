//! Imaging firmware: classifies frames from a [`FrameSource`] with the
//! embedded model and logs the top-1 class and the cycles per layer (DWT
//! cycle counter). The frame source here is the synthetic [`TestPattern`];
//! a camera driver (e.g. PIO + DMA) plugs in by implementing `FrameSource`.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use mote_board::pipeline::{top1, FrameSource, TestPattern};
use mote_board::{Counter, LayerProfiler};
use mote_runtime::{Interpreter, Model};
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

    let model = match Model::parse(&MODEL.0) {
        Ok(m) => m,
        Err(e) => defmt::panic!("Model::parse: {}", e),
    };
    // SAFETY: the only reference to ARENA, taken once in `main`.
    let arena = unsafe { &mut (*addr_of_mut!(ARENA)).0 };
    let mut interp = match Interpreter::new(&model, arena) {
        Ok(i) => i,
        Err(e) => defmt::panic!("Interpreter::new: {}", e),
    };
    let (h, w, c) = match model.input(0) {
        Ok(t) => (t.dims[1] as usize, t.dims[2] as usize, t.dims[3] as usize),
        Err(e) => defmt::panic!("input: {}", e),
    };
    defmt::info!(
        "model {=str}: {=usize} ops, {=u64} MACs, arena {=usize} B, input {=usize}x{=usize}x{=usize}",
        MODEL_NAME,
        OP_COUNT,
        MACS,
        ARENA_LEN,
        h,
        w,
        c
    );
    let mut camera = TestPattern::new(h, w, c);
    let mut per_op = [0u64; OP_COUNT];
    let mut profiler = LayerProfiler::new(Cycles, &mut per_op);
    loop {
        let Ok(input) = interp.input_mut(0) else {
            defmt::panic!("no input 0");
        };
        if input.len() == INPUT_LEN {
            let _ = camera.next_frame(input);
        }
        profiler.start();
        if let Err(e) = interp.invoke_with(&mut profiler) {
            defmt::panic!("invoke: {}", e);
        }
        let cycles = profiler.stop();
        let Ok(scores) = interp.output(0) else {
            defmt::panic!("no output 0");
        };
        if let Some((class, score)) = top1(scores) {
            defmt::info!(
                "class {=usize} (score {=i8}) in {=u64} cycles",
                class,
                score,
                cycles
            );
        }
        for (i, &c) in profiler.per_op().iter().enumerate() {
            defmt::debug!("op {=usize}: {=u64} cycles", i, c);
        }
    }
}
