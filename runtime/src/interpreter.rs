//! The interpreter: a model bound to a caller-owned arena.

use mote_format::DType;

use crate::{exec, Error, Hook, Model, NoHook};

/// Runs a validated model in a caller-owned arena. Several interpreters can
/// share one `Model`, each with its own arena.
#[derive(Debug)]
pub struct Interpreter<'m, 'a> {
    model: &'m Model<'m>,
    arena: &'a mut [u8],
}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Binds `model` to `arena`, which must hold at least `model.arena_len()` bytes.
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        let needed = model.arena_len();
        if arena.len() < needed {
            return Err(Error::ArenaTooSmall {
                needed: u32::try_from(needed).unwrap_or(u32::MAX),
                given: u32::try_from(arena.len()).unwrap_or(u32::MAX),
            });
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

    fn expect_i8(&self, tensor: u16) -> Result<(), Error> {
        match self.model.tensor(tensor)?.dtype {
            DType::I8 => Ok(()),
            _ => Err(Error::WrongDType),
        }
    }

    /// Model input `i` as int8, to be filled before `invoke`.
    pub fn input_mut(&mut self, i: usize) -> Result<&mut [i8], Error> {
        let t = self.model.input_tensor(i)?;
        self.expect_i8(t)?;
        Ok(bytemuck::cast_slice_mut(self.bytes_mut(t)?))
    }

    /// Model output `i` as int8, valid after `invoke`.
    pub fn output(&self, i: usize) -> Result<&[i8], Error> {
        let t = self.model.output_tensor(i)?;
        self.expect_i8(t)?;
        Ok(bytemuck::cast_slice(self.bytes(t)?))
    }

    /// Quantizes float `values` into model input `i` with the input's scale
    /// and zero point (TFLite rounding: half away from zero, saturating).
    pub fn set_input_f32(&mut self, i: usize, values: &[f32]) -> Result<(), Error> {
        let desc = self.model.input(i)?;
        let input = self.input_mut(i)?;
        mote_kernels::quantize_f32_s8(values, desc.scale, desc.zero_point, input).map_err(|error| {
            Error::Kernel {
                op: u16::MAX,
                error,
            }
        })
    }

    /// Dequantizes model output `i` into `out` (`scale * (q - zero_point)`).
    pub fn output_f32(&self, i: usize, out: &mut [f32]) -> Result<(), Error> {
        let desc = self.model.output(i)?;
        mote_kernels::dequantize_s8_f32(self.output(i)?, desc.scale, desc.zero_point, out).map_err(
            |error| Error::Kernel {
                op: u16::MAX,
                error,
            },
        )
    }

    /// Runs every op once.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_with(&mut NoHook)
    }

    /// Runs every op once, calling `hook` around each op.
    pub fn invoke_with<H: Hook + ?Sized>(&mut self, hook: &mut H) -> Result<(), Error> {
        let weights = self.model.weights();
        for (index, op) in self.model.ops().enumerate() {
            let index = index as u16;
            hook.before_op(index);
            exec::run(&op, weights, self.arena)
                .map_err(|error| Error::Kernel { op: index, error })?;
            let out = &op.output;
            let len = out
                .dims
                .iter()
                .fold(1usize, |a, &d| a.saturating_mul(d as usize));
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
