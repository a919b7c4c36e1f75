//! Code-size probe: the least firmware that runs the embedded model.
//!
//! It parses the `.mote` model, makes an interpreter over a static arena,
//! runs one inference on a zero input and exits through semihosting with a
//! status that depends on the output, so nothing is optimised away. Built
//! with the `size-baseline` feature, it does everything except touch the
//! runtime; the difference between the two ELFs is the code the runtime,
//! the kernels and the model decoder add to a product firmware
//! (`cargo xtask size`). It logs nothing (no defmt, no golden vectors)
//! but one semihosting line, `STACK <bytes>`: the deepest stack the
//! inference used, found by painting the free RAM below the stack with a
//! pattern first and looking for the lowest word that changed.
#![no_std]
#![no_main]

use core::ptr::addr_of_mut;

use cortex_m_rt::entry;
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};

/// Aligns the embedded model bytes (weights are borrowed in place).
#[repr(C, align(16))]
struct Aligned<T>(T);

include!(concat!(env!("OUT_DIR"), "/model.rs"));

/// The model's arena, sized by its plan.
static mut ARENA: Aligned<[u8; ARENA_LEN]> = Aligned([0; ARENA_LEN]);

/// The pattern painted over the free stack.
const PAINT: u32 = 0xC5C5_C5C5;

extern "C" {
    /// Top of the stack (cortex-m-rt's linker script).
    static _stack_start: u32;
    /// Lowest address the stack may reach (end of the static data).
    static _stack_end: u32;
}

/// Paints the free stack, from its lowest address up to 256 bytes below
/// the current stack pointer.
fn paint() {
    let lo = core::ptr::addr_of!(_stack_end) as usize;
    let hi = cortex_m::register::msp::read() as usize - 256;
    let mut p = lo;
    while p < hi {
        // SAFETY: [lo, hi) is RAM between the static data and the live
        // stack frames, which nothing else uses; word aligned (the linker
        // script asserts it of _stack_end).
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes between the top of the stack and the lowest word not painted.
fn stack_used() -> usize {
    let lo = core::ptr::addr_of!(_stack_end) as usize;
    let top = core::ptr::addr_of!(_stack_start) as usize;
    let mut p = lo;
    // SAFETY: reads words of RAM in [lo, top), all mapped and aligned.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Writes `STACK <n>` through semihosting, without core::fmt.
fn report_stack(n: usize) {
    let mut buf = *b"STACK 0000000000\n";
    let mut v = n;
    let mut first = 15;
    for (i, d) in buf[6..16].iter_mut().enumerate().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
        if *d != b'0' {
            first = 6 + i;
        }
    }
    buf.copy_within(first..17, 6);
    let len = 6 + 17 - first;
    if let Ok(mut out) = cortex_m_semihosting::hio::hstdout() {
        let _ = out.write_all(&buf[..len]);
    }
}

#[entry]
fn main() -> ! {
    paint();
    let ok = if cfg!(feature = "size-baseline") {
        // Reads the model bytes so that they stay in flash, as with the
        // runtime, and nothing else.
        !core::hint::black_box(&MODEL.0).is_empty()
    } else {
        run().is_some()
    };
    report_stack(stack_used());
    debug::exit(if ok { EXIT_SUCCESS } else { EXIT_FAILURE });
    loop {
        core::hint::spin_loop();
    }
}

/// One inference on a zero input; `None` on any error.
#[cfg(not(feature = "size-baseline"))]
fn run() -> Option<()> {
    let model = mote_runtime::Model::parse(&MODEL.0).ok()?;
    // SAFETY: `run` is called once, from `main`, and is the only code that
    // touches ARENA, so this is the only reference to it.
    let arena = unsafe { &mut (*addr_of_mut!(ARENA)).0 };
    let mut interp = mote_runtime::Interpreter::new(&model, arena).ok()?;
    interp.input_mut(0).ok()?.fill(0);
    interp.invoke().ok()?;
    let out = interp.output(0).ok()?;
    core::hint::black_box(out.iter().fold(0i32, |a, &x| a.wrapping_add(i32::from(x))));
    Some(())
}

/// Unused in the baseline build.
#[cfg(feature = "size-baseline")]
fn run() -> Option<()> {
    core::hint::black_box(addr_of_mut!(ARENA));
    Some(())
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    debug::exit(EXIT_FAILURE);
    loop {
        core::hint::spin_loop();
    }
}
