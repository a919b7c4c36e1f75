//! The interpreter: a model bound to a caller-owned arena.

use mote_format::DType;
use mote_kernels::KernelError;

use crate::{exec, Error, Hook, Model, NoHook};

/// Alignment `Interpreter::new` wants of the arena when the model has f32
/// tensors (their offsets are multiples of 4; 16 also suits SIMD kernels).
const F32_ARENA_ALIGN: usize = 16;

/// Runs a validated model in a caller-owned arena. Several interpreters can
/// share one `Model`, each with its own arena.
#[derive(Debug)]
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'m>,
    arena: &'a mut [u8],
}

/// The error of the float I/O helpers for a slice of the wrong length.
fn io_error(error: KernelError) -> Error {
    Error::Kernel {
        op: u16::MAX,
        error,
    }
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Binds `model` to `arena`, which must hold at least `model.arena_len()`
    /// bytes and, if the model has f32 tensors (`Model::has_f32`), start at a
    /// 16-byte aligned address ([`Error::MisalignedArena`] otherwise).
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let needed = model.arena_len();
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall {
                needed: u32::try_from(needed).unwrap_or(u32::MAX),
                given: u32::try_from(arena.len()).unwrap_or(u32::MAX),
            });
        }
        if model.has_f32() && !(arena.as_ptr() as usize).is_multiple_of(F32_ARENA_ALIGN) {
            return Err(Error::MisalignedArena);
        }
        Ok(Self { model, arena })
    }

    /// The model being run.
    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    fn bytes(&self, tensor: u16) -> Result<&[u8], Error> {
        let t = self.model.tensor(tensor)?;
        let len = t.byte_len().ok_or(Error::BadTensor(tensor))?;
        let start = t.offset as usize;
        self.arena
            .get(start..start.saturating_add(len))
            .ok_or(Error::BadTensor(tensor))
    }

    fn bytes_mut(&mut self, tensor: u16) -> Result<&mut [u8], Error> {
        let t = self.model.tensor(tensor)?;
        let len = t.byte_len().ok_or(Error::BadTensor(tensor))?;
        let start = t.offset as usize;
        self.arena
            .get_mut(start..start.saturating_add(len))
            .ok_or(Error::BadTensor(tensor))
    }

    fn require_dtype(&self, tensor: u16, dtype: DType) -> Result<(), Error> {
        if self.model.tensor(tensor)?.dtype == dtype {
            Ok(())
        } else {
            Err(Error::WrongDType)
        }
    }

    /// Model input `i` as int8, to be filled before `invoke`
    /// ([`Error::WrongDType`] for an f32 input).
    pub fn input_mut(&mut self, i: usize) -> Result<&mut [i8], Error> {
        let t = self.model.input_tensor(i)?;
        self.require_dtype(t, DType::I8)?;
        Ok(bytemuck::cast_slice_mut(self.bytes_mut(t)?))
    }

    /// Model output `i` as int8, valid after `invoke`
    /// ([`Error::WrongDType`] for an f32 output).
    pub fn output(&self, i: usize) -> Result<&[i8], Error> {
        let t = self.model.output_tensor(i)?;
        self.require_dtype(t, DType::I8)?;
        Ok(bytemuck::cast_slice(self.bytes(t)?))
    }

    /// Model input `i` as f32, to be filled before `invoke`
    /// ([`Error::WrongDType`] for an int8 input).
    pub fn input_f32_mut(&mut self, i: usize) -> Result<&mut [f32], Error> {
        let t = self.model.input_tensor(i)?;
        self.require_dtype(t, DType::F32)?;
        // Aligned by validation (offset) and `new` (arena start).
        bytemuck::try_cast_slice_mut(self.bytes_mut(t)?).map_err(|_| Error::BadTensor(t))
    }

    /// Model output `i` as f32, valid after `invoke`
    /// ([`Error::WrongDType`] for an int8 output).
    pub fn output_f32_slice(&self, i: usize) -> Result<&[f32], Error> {
        let t = self.model.output_tensor(i)?;
        self.require_dtype(t, DType::F32)?;
        bytemuck::try_cast_slice(self.bytes(t)?).map_err(|_| Error::BadTensor(t))
    }

    /// Sets model input `i` from float `values`: copied into an f32 input,
    /// quantized into an int8 one with the input's scale and zero point
    /// (TFLite rounding: half away from zero, saturating). `values` must have
    /// as many elements as the input (`Error::Kernel { op: u16::MAX, .. }`).
    pub fn set_input_f32(&mut self, i: usize, values: &[f32]) -> Result<(), Error> {
        let desc = self.model.input(i)?;
        match desc.dtype {
            DType::F32 => {
                let input = self.input_f32_mut(i)?;
                if input.len() != values.len() {
                    return Err(io_error(KernelError::BufferLength));
                }
                input.copy_from_slice(values);
                Ok(())
            }
            DType::I8 => {
                let input = self.input_mut(i)?;
                mote_kernels::quantize_f32_s8(values, desc.scale, desc.zero_point, input)
                    .map_err(io_error)
            }
        }
    }

    /// Reads model output `i` into `out` as float: copied from an f32 output,
    /// dequantized from an int8 one (`scale * (q - zero_point)`). `out` must
    /// have as many elements as the output (`Error::Kernel { op: u16::MAX, .. }`).
    pub fn output_f32(&self, i: usize, out: &mut [f32]) -> Result<(), Error> {
        let desc = self.model.output(i)?;
        match desc.dtype {
            DType::F32 => {
                let output = self.output_f32_slice(i)?;
                if output.len() != out.len() {
                    return Err(io_error(KernelError::BufferLength));
                }
                out.copy_from_slice(output);
                Ok(())
            }
            DType::I8 => {
                mote_kernels::dequantize_s8_f32(self.output(i)?, desc.scale, desc.zero_point, out)
                    .map_err(io_error)
            }
        }
    }

    /// Runs every op once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_with(&mut NoHook)
    }

    /// Runs every op once, calling `hook` around each op. `after_op` gets the
    /// output's bytes (`elements * dtype.size()`; little-endian f32 for an
    /// f32 tensor).
    pub fn invoke_with<H: Hook + ?Sized>(&mut self, hook: &mut H) -> Result<(), Error> {
        let weights = self.model.weights();
        for (index, op) in self.model.ops().enumerate() {
            let index = index as u16;
            hook.before_op(index);
            exec::run(&op, weights, self.arena)
                .map_err(|error| Error::Kernel { op: index, error })?;
            let out = &op.output;
            let len = crate::arena::byte_len(out).unwrap_or(0);
            let start = out.offset as usize;
            let bytes = self
                .arena
                .get(start..start.saturating_add(len))
                .unwrap_or(&[]);
            hook.after_op(index, out.tensor, bytes);
        }
        Ok(())
    }
}
