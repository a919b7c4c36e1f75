//! Serialising a planned graph into `.mote` bytes, and writing files atomically.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use mote_format::{ActRef, GraphHeader, Header, TensorDesc, HEADER_LEN, VERSION, WEIGHTS_ALIGN};

use crate::lir::Graph;
use crate::plan::Plan;

/// Producer string recorded in every file.
pub const PRODUCER: &str = concat!("mote ", env!("CARGO_PKG_VERSION"));

fn heapless_u16(v: &[usize], what: &str) -> Result<heapless::Vec<u16, { mote_format::MAX_IO }>> {
    let mut out = heapless::Vec::new();
    for &x in v {
        out.push(u16::try_from(x)?).map_err(|_| {
            anyhow::anyhow!("too many model {what} (at most {})", mote_format::MAX_IO)
        })?;
    }
    Ok(out)
}

fn put<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) -> Result<()> {
    mote_format::put(v, out).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Encodes `g` with arena plan `p` as a complete `.mote` file.
pub fn to_bytes(g: &Graph, p: &Plan) -> Result<Vec<u8>> {
    anyhow::ensure!(
        g.tensors.len() <= u16::MAX as usize,
        "too many tensors ({})",
        g.tensors.len()
    );
    anyhow::ensure!(
        g.ops.len() <= u16::MAX as usize,
        "too many ops ({})",
        g.ops.len()
    );
    let header = GraphHeader {
        name: &g.name,
        producer: PRODUCER,
        arena_len: u32::try_from(p.arena_len).context("arena larger than 4 GiB")?,
        n_tensors: g.tensors.len() as u16,
        n_ops: g.ops.len() as u16,
        inputs: heapless_u16(&g.inputs, "inputs")?,
        outputs: heapless_u16(&g.outputs, "outputs")?,
        macs: g.ops.iter().map(|o| o.macs).sum(),
    };
    let mut graph = Vec::new();
    put(&header, &mut graph)?;
    for (i, t) in g.tensors.iter().enumerate() {
        let desc = TensorDesc {
            name: &t.name,
            dtype: t.dtype,
            rank: t.shape.len() as u8,
            dims: t.dims4(),
            offset: p.offsets[i] as u32,
            scale: t.scale,
            zero_point: t.zero_point,
        };
        put(&desc, &mut graph)?;
    }
    let act = |t: usize| ActRef {
        tensor: t as u16,
        dtype: g.tensors[t].dtype,
        offset: p.offsets[t] as u32,
        dims: g.tensors[t].dims4(),
    };
    for op in &g.ops {
        let mut inputs = heapless::Vec::new();
        for &i in &op.inputs {
            inputs
                .push(act(i))
                .map_err(|_| anyhow::anyhow!("op {} has too many inputs", op.name))?;
        }
        let rec = mote_format::Op {
            name: &op.name,
            kind: op.kind.clone(),
            inputs,
            output: act(op.output),
        };
        put(&rec, &mut graph)?;
    }
    let graph_len = graph.len();
    let weights_offset = (HEADER_LEN + graph_len).div_ceil(WEIGHTS_ALIGN) * WEIGHTS_ALIGN;
    let total = weights_offset + g.blob.bytes.len();
    let mut out = vec![0u8; total];
    out[HEADER_LEN..HEADER_LEN + graph_len].copy_from_slice(&graph);
    out[weights_offset..].copy_from_slice(&g.blob.bytes);
    let body_len = total - HEADER_LEN;
    let h = Header {
        version: VERSION,
        flags: 0,
        graph_len: graph_len as u32,
        weights_offset: weights_offset as u32,
        weights_len: g.blob.bytes.len() as u32,
        body_len: body_len as u32,
        crc32: mote_format::crc32(&out[HEADER_LEN..]),
    };
    out[..HEADER_LEN].copy_from_slice(&h.to_bytes());
    Ok(out)
}

/// Writes `bytes` to `path` atomically: a temporary file in the same
/// directory, renamed over the target only once complete.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist",
            path.display(),
            dir.display()
        );
    }
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        // tempfile's message names its random file name; report the OS error only.
        let msg = e.to_string();
        let cause = msg.split(" at path ").next().unwrap_or(&msg);
        anyhow::anyhow!(
            "cannot write {}: cannot create a file in {}: {cause}",
            path.display(),
            dir.display()
        )
    })?;
    tmp.write_all(bytes)
        .and_then(|_| tmp.flush())
        .with_context(|| format!("cannot write {}", path.display()))?;
    tmp.persist(path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error))?;
    Ok(())
}
