//! Golden-vector firmware for the emulated boards.
//!
//! Runs the embedded `.mote` model once per embedded golden input, compares
//! each output bit for bit with its golden, times every layer with SysTick
//! (instructions under QEMU `-icount shift=0`), logs through defmt over
//! semihosting and exits 0 only when every output matched. Panics and
//! HardFaults log a message and exit non-zero.
//!
//! Log lines meant for tools start with a keyword: `MODEL`, `SAMPLE`,
//! `LAYER`, `RESULT` (see `cargo xtask qemu`).
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::{entry, exception, ExceptionFrame};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use defmt_semihosting as _;
use mote_board::{compare, Board, Core, Counter, Goldens, LayerProfiler};
use mote_runtime::{Interpreter, Model};

/// Aligns the embedded model bytes (weights are borrowed in place).
#[repr(C, align(16))]
struct Aligned<T>(T);

include!(concat!(env!("OUT_DIR"), "/model.rs"));
include!(concat!(env!("OUT_DIR"), "/goldens.rs"));
#[cfg(feature = "verify")]
include!(concat!(env!("OUT_DIR"), "/pubkey.rs"));

/// The model's arena, sized by its plan.
static mut ARENA: Aligned<[u8; ARENA_LEN]> = Aligned([0; ARENA_LEN]);

/// SysTick as an up-counter (it counts down from its reload value).
struct SysTick;

/// SysTick's reload value: the full 24 bits.
const RELOAD: u32 = 0xFF_FFFF;

impl Counter for SysTick {
    const MASK: u32 = RELOAD;
    fn now(&mut self) -> u32 {
        RELOAD - SYST::get_current()
    }
}

/// Stops QEMU with the given semihosting exit status.
fn exit(code: debug::ExitStatus) -> ! {
    debug::exit(code);
    loop {
        core::hint::spin_loop();
    }
}

#[entry]
fn main() -> ! {
    match run() {
        Ok(()) => exit(EXIT_SUCCESS),
        Err(()) => exit(EXIT_FAILURE),
    }
}

fn run() -> Result<(), ()> {
    let Some(mut cp) = cortex_m::Peripherals::take() else {
        defmt::error!("core peripherals already taken");
        return Err(());
    };
    let cpuid = cp.CPUID.base.read();
    let Some(board) = Core::from_cpuid(cpuid).and_then(Board::emulated_with) else {
        defmt::error!("unknown core: CPUID {=u32:#010x}", cpuid);
        return Err(());
    };

    cp.SYST.set_clock_source(SystClkSource::Core);
    cp.SYST.set_reload(RELOAD);
    cp.SYST.clear_current();
    cp.SYST.enable_counter();

    #[cfg(feature = "verify")]
    verify(board)?;

    let model = Model::parse(&MODEL.0).map_err(|e| defmt::error!("Model::parse: {}", e))?;
    // SAFETY: `run` is called once, from `main`, and is the only code that
    // touches ARENA, so this is the only reference to it.
    let arena = unsafe { &mut (*addr_of_mut!(ARENA)).0 };
    let mut interp =
        Interpreter::new(&model, arena).map_err(|e| defmt::error!("Interpreter::new: {}", e))?;
    let Some(goldens) = Goldens::new(&INPUTS, &OUTPUTS, INPUT_LEN, OUTPUT_LEN) else {
        defmt::error!("golden vectors do not match the model's input and output sizes");
        return Err(());
    };
    defmt::println!(
        "MODEL name={=str} machine={=str} core={=str} ops={=usize} samples={=usize} arena={=usize} macs={=u64}",
        MODEL_NAME,
        board.name,
        board.core.name(),
        OP_COUNT,
        SAMPLES,
        ARENA_LEN,
        MACS
    );

    let mut per_op = [0u64; OP_COUNT];
    let mut sum_per_op = [0u64; OP_COUNT];
    let mut profiler = LayerProfiler::new(SysTick, &mut per_op);
    let (mut failures, mut sum, mut min, mut max) = (0usize, 0u64, u64::MAX, 0u64);
    for i in 0..goldens.count() {
        let (Some(input), Some(golden)) = (goldens.input(i), goldens.output(i)) else {
            return Err(());
        };
        let dst = interp
            .input_mut(0)
            .map_err(|e| defmt::error!("input: {}", e))?;
        for (d, &s) in dst.iter_mut().zip(input) {
            *d = s as i8;
        }
        profiler.start();
        let result = interp.invoke_with(&mut profiler);
        let ticks = profiler.stop();
        result.map_err(|e| defmt::error!("invoke on sample {=usize}: {}", i, e))?;
        let insns = board.ticks_to_instructions(ticks);
        (sum, min, max) = (sum + insns, min.min(insns), max.max(insns));
        for (acc, &t) in sum_per_op.iter_mut().zip(profiler.per_op()) {
            *acc += t;
        }
        let output = interp
            .output(0)
            .map_err(|e| defmt::error!("output: {}", e))?;
        match compare(output, golden) {
            None => defmt::println!("SAMPLE {=usize} ok insns={=u64}", i, insns),
            Some(m) => {
                failures += 1;
                defmt::error!(
                    "SAMPLE {=usize} MISMATCH insns={=u64} differing={=usize} first={=usize} max_abs_diff={=u8}",
                    i,
                    insns,
                    m.differing,
                    m.first,
                    m.max_abs_diff
                );
            }
        }
    }
    let n = goldens.count() as u64;
    for (index, &ticks) in sum_per_op.iter().enumerate() {
        defmt::println!(
            "LAYER {=usize} insns={=u64}",
            index,
            board.ticks_to_instructions(ticks) / n.max(1)
        );
    }
    defmt::println!(
        "RESULT model={=str} machine={=str} core={=str} samples={=usize} failures={=usize} insns_mean={=u64} insns_min={=u64} insns_max={=u64}",
        MODEL_NAME,
        board.name,
        board.core.name(),
        goldens.count(),
        failures,
        sum / n.max(1),
        min,
        max
    );
    if failures == 0 {
        Ok(())
    } else {
        Err(())
    }
}

/// A writable copy of the model, for the flipped-bit checks.
#[cfg(feature = "verify")]
static mut COPY: Aligned<[u8; MODEL_LEN]> = Aligned([0; MODEL_LEN]);

/// Bits flipped one at a time, spread over the whole file.
#[cfg(feature = "verify")]
const FLIPS: usize = 32;

/// Times `Model::parse` (CRC and structure) and `Model::parse_verified`
/// (also the Ed25519 signature), then flips single bits across a RAM copy of
/// the file and checks that verification rejects every one. Logs a `VERIFY`
/// line for `cargo xtask verify-qemu`.
#[cfg(feature = "verify")]
fn verify(board: &Board) -> Result<(), ()> {
    let mut clock = SysTick;
    let t0 = clock.now();
    let parsed = Model::parse(&MODEL.0).is_ok();
    let t1 = clock.now();
    let verified = Model::parse_verified(&MODEL.0, &PUBKEY);
    let t2 = clock.now();
    let ticks = |a: u32, b: u32| u64::from(b.wrapping_sub(a) & RELOAD);
    if let Err(e) = &verified {
        defmt::error!("Model::parse_verified of the signed model: {}", e);
    }
    // SAFETY: only `verify` touches COPY, and it runs once from `run`.
    let copy = unsafe { &mut (*addr_of_mut!(COPY)).0 };
    let mut rejected = 0usize;
    for k in 0..FLIPS {
        copy.copy_from_slice(&MODEL.0);
        let at = (k * MODEL_LEN) / FLIPS + k % 7;
        let Some(byte) = copy.get_mut(at.min(MODEL_LEN - 1)) else {
            return Err(());
        };
        *byte ^= 1 << (k % 8);
        if Model::parse_verified(copy, &PUBKEY).is_err() {
            rejected += 1;
        }
    }
    defmt::println!(
        "VERIFY machine={=str} bytes={=usize} parse_insns={=u64} verify_insns={=u64} ok={=bool} flips={=usize} rejected={=usize}",
        board.name,
        MODEL_LEN,
        board.ticks_to_instructions(ticks(t0, t1)),
        board.ticks_to_instructions(ticks(t1, t2)),
        parsed && verified.is_ok(),
        FLIPS,
        rejected
    );
    if parsed && verified.is_ok() && rejected == FLIPS {
        Ok(())
    } else {
        Err(())
    }
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault at PC {=u32:#010x}, LR {=u32:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(EXIT_FAILURE)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    match info.location() {
        Some(at) => defmt::error!("panic at {=str}:{=u32}", at.file(), at.line()),
        None => defmt::error!("panic"),
    }
    exit(EXIT_FAILURE)
}
