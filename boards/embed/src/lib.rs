//! Build-script helper for Mote firmware packages.
//!
//! Environment (absolute paths; `cargo xtask qemu` / `cargo xtask boards`
//! set them):
//! - `MOTE_MODEL`: the `.mote` file to embed.
//! - `MOTE_MODEL_NAME` (optional): the name printed in logs (default: the
//!   file stem).
//! - `MOTE_INPUTS`, `MOTE_OUTPUTS`: int8 `.npy` arrays `[N, ...]` of golden
//!   inputs and expected outputs, for firmware that checks goldens.
//! - `MOTE_SAMPLES` (optional): embed at most this many golden samples.
//!
//! [`embed_model`] writes `$OUT_DIR/model.rs`, which a firmware includes
//! with `include!(concat!(env!("OUT_DIR"), "/model.rs"))` after defining
//! `#[repr(C, align(16))] struct Aligned<T>(T);`. It defines `MODEL_NAME`,
//! `ARENA_LEN` (from the model's own plan), `OP_COUNT`, `INPUT_LEN`,
//! `OUTPUT_LEN`, `MACS` and `static MODEL: Aligned<[u8; _]>`.
//! [`embed_goldens`] writes `$OUT_DIR/goldens.rs` with `SAMPLES`,
//! `static INPUTS` and `static OUTPUTS` (int8 stored as bytes).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

fn out_dir() -> PathBuf {
    PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR is set by cargo"))
}

fn var(name: &str) -> Option<String> {
    println!("cargo:rerun-if-env-changed={name}");
    env::var(name).ok().filter(|v| !v.is_empty())
}

fn need(name: &str) -> PathBuf {
    match var(name) {
        Some(v) => {
            println!("cargo:rerun-if-changed={v}");
            PathBuf::from(v)
        }
        None => panic!(
            "{name} is not set. Build through `cargo xtask qemu` or `cargo xtask boards`, or set \
             MOTE_MODEL=<model.mote> (and MOTE_INPUTS=<inputs.npy> MOTE_OUTPUTS=<outputs.npy> \
             for golden firmware) to absolute paths"
        ),
    }
}

/// Writes `memory` as `$OUT_DIR/memory.x` and puts it on the linker path.
pub fn memory_x(memory: &str) {
    let out = out_dir();
    fs::write(out.join("memory.x"), memory).expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
}

/// Reads an int8 C-order `.npy` file: (shape, bytes).
pub fn read_npy_i8(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 12 && &bytes[..6] == b"\x93NUMPY",
        "{} is not a .npy file",
        path.display()
    );
    let (header_len, start) = match bytes[6] {
        1 => (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10),
        _ => {
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (n as usize, 12)
        }
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).expect("npy header");
    assert!(
        header.contains("i1'"),
        "{}: only int8 arrays are supported, header {header}",
        path.display()
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{}: Fortran order is not supported",
        path.display()
    );
    let dims = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .expect("npy shape");
    let shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("npy dim"))
        .collect();
    let data = bytes[start + header_len..].to_vec();
    assert_eq!(
        data.len(),
        shape.iter().product::<usize>(),
        "{}: data length does not match the shape",
        path.display()
    );
    (shape, data)
}

/// What [`embed_model`] embedded.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// Elements of the model's input 0.
    pub input_len: usize,
    /// Elements of the model's output 0.
    pub output_len: usize,
}

/// Embeds `MOTE_MODEL`; see the crate docs.
pub fn embed_model() -> Embedded {
    let path = need("MOTE_MODEL");
    let name = var("MOTE_MODEL_NAME").unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    // Parse with the runtime itself, from 16-byte aligned memory.
    let mut buf = vec![0u8; bytes.len() + 16];
    let off = buf.as_ptr().align_offset(16);
    buf[off..off + bytes.len()].copy_from_slice(&bytes);
    let model = mote_runtime::Model::parse(&buf[off..off + bytes.len()])
        .unwrap_or_else(|e| panic!("{}: not a valid .mote file: {e:?}", path.display()));
    assert!(
        model.input_count() == 1 && model.output_count() == 1,
        "the firmware runs models with one input and one output"
    );
    let elems = |t: mote_runtime::TensorDesc| t.dims.iter().map(|&d| d as usize).product::<usize>();
    let input_len = elems(model.input(0).expect("input"));
    let output_len = elems(model.output(0).expect("output"));
    let out = out_dir();
    let file = out.join("model.mote");
    fs::write(&file, &bytes).expect("write model");
    let code = format!(
        "/// Name of the embedded model.\n\
         #[allow(dead_code)]\n\
         const MODEL_NAME: &str = {name:?};\n\
         /// Arena bytes the model's plan needs.\n\
         #[allow(dead_code)]\n\
         const ARENA_LEN: usize = {arena};\n\
         /// Number of ops.\n\
         #[allow(dead_code)]\n\
         const OP_COUNT: usize = {ops};\n\
         /// Elements of input 0.\n\
         #[allow(dead_code)]\n\
         const INPUT_LEN: usize = {input_len};\n\
         /// Elements of output 0.\n\
         #[allow(dead_code)]\n\
         const OUTPUT_LEN: usize = {output_len};\n\
         /// MACs per inference.\n\
         #[allow(dead_code)]\n\
         const MACS: u64 = {macs};\n\
         /// Bytes of the model file.\n\
         #[allow(dead_code)]\n\
         const MODEL_LEN: usize = {len};\n\
         /// The model, 16-byte aligned (its weights are borrowed in place).\n\
         #[allow(dead_code)]\n\
         static MODEL: Aligned<[u8; {len}]> = Aligned(*include_bytes!({file:?}));\n",
        arena = model.arena_len(),
        ops = model.op_count(),
        macs = model.macs(),
        len = bytes.len(),
    );
    fs::write(out.join("model.rs"), code).expect("write model.rs");
    Embedded {
        input_len,
        output_len,
    }
}

/// Embeds `MOTE_INPUTS` / `MOTE_OUTPUTS` for the model `embed_model`
/// embedded; see the crate docs.
pub fn embed_goldens(model: &Embedded) {
    let (ishape, inputs) = read_npy_i8(&need("MOTE_INPUTS"));
    let (oshape, outputs) = read_npy_i8(&need("MOTE_OUTPUTS"));
    let max: usize = var("MOTE_SAMPLES")
        .map(|s| s.parse().expect("MOTE_SAMPLES must be a number"))
        .unwrap_or(usize::MAX);
    assert!(
        !ishape.is_empty() && !oshape.is_empty() && ishape[0] == oshape[0],
        "inputs {ishape:?} and outputs {oshape:?} need the same leading sample axis"
    );
    let n = ishape[0];
    assert!(n > 0, "no golden samples");
    assert_eq!(
        inputs.len() / n,
        model.input_len,
        "input sample size vs the model input"
    );
    assert_eq!(
        outputs.len() / n,
        model.output_len,
        "output sample size vs the model output"
    );
    let samples = n.min(max);
    let out = out_dir();
    let (ip, op) = (out.join("inputs.bin"), out.join("outputs.bin"));
    fs::write(&ip, &inputs[..samples * model.input_len]).expect("write inputs");
    fs::write(&op, &outputs[..samples * model.output_len]).expect("write outputs");
    let code = format!(
        "/// Number of golden samples.\n\
         #[allow(dead_code)]\n\
         const SAMPLES: usize = {samples};\n\
         /// Golden inputs (int8 as bytes).\n\
         #[allow(dead_code)]\n\
         static INPUTS: [u8; {ilen}] = *include_bytes!({ip:?});\n\
         /// Golden outputs (int8 as bytes).\n\
         #[allow(dead_code)]\n\
         static OUTPUTS: [u8; {olen}] = *include_bytes!({op:?});\n",
        ilen = samples * model.input_len,
        olen = samples * model.output_len,
    );
    fs::write(out.join("goldens.rs"), code).expect("write goldens.rs");
}
