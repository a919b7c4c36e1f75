//! The imaging firmware's loop, shared by the camera boards: classify every
//! frame a [`FrameSource`] delivers and log the top-1 class with the ticks
//! of every op (defmt, when the `defmt` feature is on).

use core::convert::Infallible;

use mote_runtime::{Interpreter, Model};

use crate::pipeline::{top1, FrameSource};
use crate::{Counter, LayerProfiler};

/// Why the imaging loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ImagingError {
    /// The model could not be parsed, bound to the arena or run.
    Runtime(mote_runtime::Error),
    /// The model's input 0 is not `height x width x channels` int8 bytes of
    /// an NHWC image.
    InputShape,
}

impl From<mote_runtime::Error> for ImagingError {
    fn from(e: mote_runtime::Error) -> Self {
        ImagingError::Runtime(e)
    }
}

/// Parses `model_bytes`, binds `arena`, opens the frame source that
/// `open_source(height, width, channels)` returns for the model's input,
/// then classifies frames forever, timing each op with `counter` into
/// `per_op` (one slot per op). A frame the source fails to deliver is
/// skipped, never classified. Returns only on an error.
pub fn classify_frames<C: Counter, S: FrameSource>(
    name: &str,
    model_bytes: &[u8],
    arena: &mut [u8],
    per_op: &mut [u64],
    counter: C,
    open_source: impl FnOnce(usize, usize, usize) -> S,
) -> Result<Infallible, ImagingError> {
    let model = Model::parse(model_bytes)?;
    let mut interp = Interpreter::new(&model, arena)?;
    let dims = model.input(0)?.dims;
    let [_, h, w, c] = dims.map(|d| d as usize);
    if interp.input_mut(0)?.len() != h * w * c {
        return Err(ImagingError::InputShape);
    }
    #[cfg(feature = "defmt")]
    defmt::info!(
        "model {=str}: {=u16} ops, {=u64} MACs, arena {=usize} B, input {=usize}x{=usize}x{=usize}",
        name,
        model.op_count(),
        model.macs(),
        model.arena_len(),
        h,
        w,
        c
    );
    #[cfg(not(feature = "defmt"))]
    let _ = name;
    let mut source = open_source(h, w, c);
    let mut profiler = LayerProfiler::new(counter, per_op);
    loop {
        if source.next_frame(interp.input_mut(0)?).is_err() {
            continue;
        }
        profiler.start();
        interp.invoke_with(&mut profiler)?;
        let _ticks = profiler.stop();
        if let Some((_class, _score)) = top1(interp.output(0)?) {
            #[cfg(feature = "defmt")]
            defmt::info!(
                "class {=usize} (score {=i8}) in {=u64} cycles",
                _class,
                _score,
                _ticks
            );
        }
        #[cfg(feature = "defmt")]
        for (i, &t) in profiler.per_op().iter().enumerate() {
            defmt::debug!("op {=usize}: {=u64} cycles", i, t);
        }
    }
}
