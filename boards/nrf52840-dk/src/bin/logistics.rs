//! Logistics firmware: a LIS3DH accelerometer (I2C on the DK's Arduino
//! header, SDA P0.26 / SCL P0.27) is sampled into a sliding window; each
//! time the window has moved by a hop, the embedded model scores it. With
//! the autoencoder (`ad`) the score is the reconstruction error: high means
//! handling unlike the training data (drops, shocks). Cycles per inference
//! come from the DWT cycle counter.
#![no_std]
#![no_main]

#[path = "../twim.rs"]
mod twim;

use core::ptr::addr_of_mut;

use cortex_m::peripheral::DWT;
use cortex_m_rt::entry;
use defmt_rtt as _;
use mote_board::lis3dh::{DataRate, Lis3dh, ADDRESS_SA0_HIGH};
use mote_board::pipeline::{reconstruction_error, top1, Window};
use mote_board::{Counter, LayerProfiler};
use mote_runtime::{Interpreter, Model};
use panic_probe as _;

/// Aligns the embedded model bytes (weights are borrowed in place).
#[repr(C, align(16))]
struct Aligned<T>(T);

include!(concat!(env!("OUT_DIR"), "/model.rs"));

static mut ARENA: Aligned<[u8; ARENA_LEN]> = Aligned([0; ARENA_LEN]);

/// Samples in the window (1.28 s at 100 Hz) and between inferences.
const WINDOW: usize = 128;
const HOP: usize = 32;
/// Core clock after reset (HFINT 64 MHz).
const CLOCK_HZ: u32 = 64_000_000;

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
    let (Ok(inp), Ok(out)) = (model.input(0), model.output(0)) else {
        defmt::panic!("model needs one input and one output");
    };
    // An autoencoder reproduces its input: score by reconstruction error.
    let autoencoder = INPUT_LEN == OUTPUT_LEN;
    defmt::info!(
        "model {=str}: {=usize} ops, {=u64} MACs, arena {=usize} B",
        MODEL_NAME,
        OP_COUNT,
        MACS,
        ARENA_LEN
    );

    // SAFETY: TWIM0 and P0.26/P0.27 are used by nothing else.
    let i2c = unsafe { twim::Twim::new(26, 27) };
    let mut accel = match Lis3dh::new(i2c, ADDRESS_SA0_HIGH, DataRate::Hz100) {
        Ok(a) => a,
        Err(e) => defmt::panic!("LIS3DH: {}", e),
    };
    let mut window = Window::<WINDOW>::new();
    let mut per_op = [0u64; OP_COUNT];
    let mut profiler = LayerProfiler::new(Cycles, &mut per_op);
    let mut since = 0usize;
    loop {
        match accel.read_mg() {
            Ok(s) => window.push(s),
            Err(e) => defmt::warn!("LIS3DH read: {}", e),
        }
        since += 1;
        if window.is_full() && since >= HOP {
            since = 0;
            let Ok(input) = interp.input_mut(0) else {
                defmt::panic!("no input 0");
            };
            window.fill_magnitudes(input, inp.scale, inp.zero_point);
            profiler.start();
            if let Err(e) = interp.invoke_with(&mut profiler) {
                defmt::panic!("invoke: {}", e);
            }
            let cycles = profiler.stop();
            let Ok(output) = interp.output(0) else {
                defmt::panic!("no output 0");
            };
            if autoencoder {
                // The arena may have reused the input's bytes: rebuild it.
                let mut copy = [0i8; INPUT_LEN];
                window.fill_magnitudes(&mut copy, inp.scale, inp.zero_point);
                let err = reconstruction_error(
                    &copy,
                    inp.scale,
                    inp.zero_point,
                    output,
                    out.scale,
                    out.zero_point,
                );
                defmt::info!("anomaly score {=f32} in {=u64} cycles", err, cycles);
            } else if let Some((class, score)) = top1(output) {
                defmt::info!(
                    "class {=usize} ({=i8}) in {=u64} cycles",
                    class,
                    score,
                    cycles
                );
            }
        }
        // 100 Hz sampling.
        cortex_m::asm::delay(CLOCK_HZ / 100);
    }
}
