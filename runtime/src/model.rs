//! `Model::parse`: checks every byte of a `.mote` file once.

use mote_format::{
    peek_op_kind, take, take_op, DType, GraphHeader, Header, Op, TensorDesc, FLAG_SIGNED,
    HEADER_LEN, KNOWN_FLAGS, SIGNATURE_LEN, WEIGHTS_ALIGN,
};

use crate::{validate, Error};

/// A validated model borrowing the file bytes (typically from flash).
#[derive(Debug, Clone)]
pub struct Model<'a> {
    graph: GraphHeader<'a>,
    tensors: &'a [u8],
    ops: &'a [u8],
    weights: &'a [u8],
    file_len: usize,
    has_f32: bool,
    signed: bool,
}

fn range(bytes: &[u8], start: usize, len: usize) -> Result<&[u8], Error> {
    let end = start.checked_add(len).ok_or(Error::BadLayout)?;
    bytes.get(start..end).ok_or(Error::Truncated)
}

impl<'a> Model<'a> {
    /// Checks magic, version, lengths, CRC, then decodes and validates every
    /// tensor and op (indices, shapes, arena and weight ranges). No input,
    /// however malformed, panics here; a model that passes cannot make
    /// `Interpreter::invoke` read or write out of bounds.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let h = Header::read(bytes)?;
        let body = range(bytes, HEADER_LEN, h.body_len as usize)?;
        let computed = mote_format::crc32(body);
        if computed != h.crc32 {
            return Err(Error::CrcMismatch {
                expected: h.crc32,
                computed,
            });
        }
        if h.flags & !KNOWN_FLAGS != 0 {
            return Err(Error::BadLayout);
        }
        if h.flags & FLAG_SIGNED != 0 {
            // The signature block must be there (it is checked by
            // `parse_verified`, not here).
            range(bytes, HEADER_LEN + body.len(), SIGNATURE_LEN)?;
        }
        let graph_len = h.graph_len as usize;
        let w_off = h.weights_offset as usize;
        let w_len = h.weights_len as usize;
        let graph_end = HEADER_LEN.checked_add(graph_len).ok_or(Error::BadLayout)?;
        if w_off < graph_end
            || !w_off.is_multiple_of(WEIGHTS_ALIGN)
            || w_off.checked_add(w_len) != HEADER_LEN.checked_add(body.len())
        {
            return Err(Error::BadLayout);
        }
        let graph_bytes = range(bytes, HEADER_LEN, graph_len)?;
        let weights = range(bytes, w_off, w_len)?;
        if !(weights.as_ptr() as usize).is_multiple_of(4) {
            return Err(Error::MisalignedWeights);
        }

        let (graph, mut rest): (GraphHeader<'a>, _) = take(graph_bytes)?;
        let arena_len = graph.arena_len as usize;

        let mut has_f32 = false;
        let tensors_start = rest;
        for i in 0..graph.n_tensors {
            let (t, r): (TensorDesc<'a>, _) = take(rest)?;
            validate::tensor(&t, arena_len).map_err(|()| Error::BadTensor(i))?;
            has_f32 |= t.dtype == DType::F32;
            rest = r;
        }
        let tensors = tensors_start
            .get(..tensors_start.len() - rest.len())
            .ok_or(Error::Decode)?;

        let ops_start = rest;
        for i in 0..graph.n_ops {
            // An op this build does not run is refused by its kind's tag;
            // the others decode with only the readers this build links.
            if let Some(e) = peek_op_kind(rest).and_then(|k| crate::ops::refuse(k, i)) {
                return Err(e);
            }
            let (op, r) = take_op::<{ crate::ops::KINDS }>(rest)?;
            if let Some(e) = crate::ops::refuse_variant(&op.kind, i) {
                return Err(e);
            }
            validate::op(&op, arena_len, graph.n_tensors, weights).map_err(|()| Error::BadOp(i))?;
            validate::encoding(&op, weights)
                .map_err(|error| Error::BadEncoding { op: i, error })?;
            has_f32 |= op.output.dtype == DType::F32;
            has_f32 |= op.inputs.iter().any(|a| a.dtype == DType::F32);
            rest = r;
        }
        let ops = ops_start
            .get(..ops_start.len() - rest.len())
            .ok_or(Error::Decode)?;
        if !rest.is_empty() {
            return Err(Error::BadLayout);
        }

        let model = Model {
            graph,
            tensors,
            ops,
            weights,
            file_len: bytes.len(),
            has_f32,
            signed: h.flags & FLAG_SIGNED != 0,
        };
        if model.graph.inputs.is_empty() || model.graph.outputs.is_empty() {
            return Err(Error::BadIo);
        }
        for &t in model.graph.inputs.iter().chain(model.graph.outputs.iter()) {
            if t >= model.graph.n_tensors {
                return Err(Error::BadIo);
            }
        }
        Ok(model)
    }

    /// Like [`Model::parse`], but first checks the Ed25519 signature of the
    /// header and body against `public_key` (32 bytes). An unsigned model is
    /// refused with [`Error::Unsigned`], a wrong signature or key with
    /// [`Error::BadSignature`].
    #[cfg(feature = "verify")]
    pub fn parse_verified(bytes: &'a [u8], public_key: &[u8; 32]) -> Result<Self, Error> {
        let h = Header::read(bytes)?;
        if h.flags & FLAG_SIGNED == 0 {
            return Err(Error::Unsigned);
        }
        let signed_len = HEADER_LEN
            .checked_add(h.body_len as usize)
            .ok_or(Error::BadLayout)?;
        let message = range(bytes, 0, signed_len)?;
        let sig = range(bytes, signed_len, SIGNATURE_LEN)?;
        let mut sig_bytes = [0u8; SIGNATURE_LEN];
        sig_bytes.copy_from_slice(sig);
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(public_key).map_err(|_| Error::BadPublicKey)?;
        let signature = ed25519_dalek::Signature::from_bytes(&sig_bytes);
        key.verify_strict(message, &signature)
            .map_err(|_| Error::BadSignature)?;
        Self::parse(bytes)
    }

    /// True when the file carries a signature block.
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// Model name recorded by the tool.
    pub fn name(&self) -> &'a str {
        self.graph.name
    }

    /// Name and version of the tool that wrote the file.
    pub fn producer(&self) -> &'a str {
        self.graph.producer
    }

    /// Arena bytes `Interpreter::new` needs.
    pub fn arena_len(&self) -> usize {
        self.graph.arena_len as usize
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self) -> u64 {
        self.graph.macs
    }

    /// True if any tensor is f32 (a model, or layers of one, kept in float):
    /// `Interpreter::new` then wants an arena starting 16-byte aligned.
    pub fn has_f32(&self) -> bool {
        self.has_f32
    }

    /// Length of the whole file.
    pub fn file_len(&self) -> usize {
        self.file_len
    }

    /// The weight blob.
    pub fn weights(&self) -> &'a [u8] {
        self.weights
    }

    /// Number of tensors in the tensor table.
    pub fn tensor_count(&self) -> u16 {
        self.graph.n_tensors
    }

    /// Number of ops.
    pub fn op_count(&self) -> u16 {
        self.graph.n_ops
    }

    /// Tensor `index` of the tensor table.
    pub fn tensor(&self, index: u16) -> Result<TensorDesc<'a>, Error> {
        let mut rest = self.tensors;
        for i in 0..self.graph.n_tensors {
            let (t, r): (TensorDesc<'a>, _) = take(rest)?;
            if i == index {
                return Ok(t);
            }
            rest = r;
        }
        Err(Error::NoSuchTensor(index))
    }

    /// Number of model inputs.
    pub fn input_count(&self) -> usize {
        self.graph.inputs.len()
    }

    /// Number of model outputs.
    pub fn output_count(&self) -> usize {
        self.graph.outputs.len()
    }

    /// Tensor-table index of model input `i`.
    pub fn input_tensor(&self, i: usize) -> Result<u16, Error> {
        self.graph
            .inputs
            .get(i)
            .copied()
            .ok_or(Error::NoSuchTensor(i as u16))
    }

    /// Tensor-table index of model output `i`.
    pub fn output_tensor(&self, i: usize) -> Result<u16, Error> {
        self.graph
            .outputs
            .get(i)
            .copied()
            .ok_or(Error::NoSuchTensor(i as u16))
    }

    /// Description of model input `i`.
    pub fn input(&self, i: usize) -> Result<TensorDesc<'a>, Error> {
        self.tensor(self.input_tensor(i)?)
    }

    /// Description of model output `i`.
    pub fn output(&self, i: usize) -> Result<TensorDesc<'a>, Error> {
        self.tensor(self.output_tensor(i)?)
    }

    /// The ops in execution order.
    pub fn ops(&self) -> Ops<'a> {
        Ops { rest: self.ops }
    }
}

/// Iterator over a model's ops in execution order.
#[derive(Debug, Clone)]
pub struct Ops<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Ops<'a> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        match take_op::<{ crate::ops::KINDS }>(self.rest) {
            Ok((op, r)) => {
                self.rest = r;
                Some(op)
            }
            Err(_) => {
                self.rest = &[];
                None
            }
        }
    }
}
