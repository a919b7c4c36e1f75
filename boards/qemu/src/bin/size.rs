//! Code-size probe: the least firmware that runs the embedded model.
//!
//! It parses the `.mote` model, makes an interpreter over a static arena,
//! runs one inference on a zero input and exits through semihosting with a
//! status that depends on the output, so nothing is optimised away. Built
//! with the `size-baseline` feature, it does everything except touch the
//! runtime; the difference between the two ELFs is the code the runtime,
//! the kernels and the model decoder add to a product firmware
//! (`cargo xtask size`). It logs nothing: no defmt, no golden vectors.
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

#[entry]
fn main() -> ! {
    let ok = if cfg!(feature = "size-baseline") {
        // Reads the model bytes so that they stay in flash, as with the
        // runtime, and nothing else.
        !core::hint::black_box(&MODEL.0).is_empty()
    } else {
        run().is_some()
    };
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
