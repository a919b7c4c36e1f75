//! Embeds the model and its golden vectors, and picks the memory map.
//!
//! Environment (absolute paths; `cargo xtask qemu` sets them):
//! - `MOTE_MODEL`: the `.mote` file.
//! - `MOTE_INPUTS`, `MOTE_OUTPUTS`: int8 `.npy` arrays `[N, ...]` of golden
//!   inputs and expected outputs (e.g. TFLite Micro's).
//! - `MOTE_MODEL_NAME` (optional): the name printed in reports; defaults to
//!   the model file's stem.
//! - `MOTE_SAMPLES` (optional): embed at most this many samples.
//!
//! The arena is sized from the model's own plan (`Model::arena_len`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

/// (FLASH origin, FLASH length, RAM origin, RAM length) for the memory map.
fn memory_map(target: &str, an547: bool) -> (u32, &'static str, u32, &'static str) {
    if target.starts_with("thumbv8m.main") {
        if an547 {
            // mps3-an547: ITCM and DTCM through their Secure aliases.
            (0x1000_0000, "512K", 0x3000_0000, "512K")
        } else {
            // mps2-an505: SSRAM1 and SSRAM2/3 through their Secure aliases.
            (0x1000_0000, "4M", 0x3800_0000, "4M")
        }
    } else {
        // mps2-an386 / mps2-an500.
        (0x0000_0000, "4M", 0x2000_0000, "4M")
    }
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
            "{name} is not set. Build through `cargo xtask qemu`, or set MOTE_MODEL=<model.mote> \
             MOTE_INPUTS=<inputs.npy> MOTE_OUTPUTS=<outputs.npy> (absolute paths)"
        ),
    }
}

/// Reads an int8 C-order `.npy` file: (shape, data).
fn read_npy_i8(path: &Path) -> (Vec<usize>, Vec<u8>) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    assert!(
        bytes.len() >= 10 && &bytes[..6] == b"\x93NUMPY",
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
        header.contains("'|i1'") || header.contains("'i1'"),
        "{}: only int8 arrays are supported, header {header}",
        path.display()
    );
    assert!(
        header.contains("'fortran_order': False"),
        "{}: Fortran order is not supported",
        path.display()
    );
    let shape_text = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .expect("npy shape");
    let shape: Vec<usize> = shape_text
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

fn main() {
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let target = env::var("TARGET").expect("TARGET");
    let an547 = env::var_os("CARGO_FEATURE_MPS3_AN547").is_some();

    let (fo, fl, ro, rl) = memory_map(&target, an547);
    fs::write(
        out.join("memory.x"),
        format!(
            "MEMORY\n{{\n  FLASH : ORIGIN = {fo:#010x}, LENGTH = {fl}\n  RAM : ORIGIN = {ro:#010x}, LENGTH = {rl}\n}}\n"
        ),
    )
    .expect("write memory.x");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");

    let model_path = need("MOTE_MODEL");
    let inputs_path = need("MOTE_INPUTS");
    let outputs_path = need("MOTE_OUTPUTS");
    let name = var("MOTE_MODEL_NAME").unwrap_or_else(|| {
        model_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let max_samples: usize = var("MOTE_SAMPLES")
        .map(|s| s.parse().expect("MOTE_SAMPLES must be a number"))
        .unwrap_or(usize::MAX);

    // Parse the model with the runtime itself (from 16-byte aligned memory).
    let bytes = fs::read(&model_path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", model_path.display()));
    let mut buf = vec![0u8; bytes.len() + 16];
    let off = buf.as_ptr().align_offset(16);
    buf[off..off + bytes.len()].copy_from_slice(&bytes);
    let model = mote_runtime::Model::parse(&buf[off..off + bytes.len()])
        .unwrap_or_else(|e| panic!("{}: not a valid .mote file: {e:?}", model_path.display()));
    assert!(
        model.input_count() == 1 && model.output_count() == 1,
        "the golden firmware runs models with one input and one output"
    );
    let elems = |t: mote_runtime::TensorDesc| t.dims.iter().map(|&d| d as usize).product::<usize>();
    let input_len = elems(model.input(0).expect("input"));
    let output_len = elems(model.output(0).expect("output"));

    let (ishape, inputs) = read_npy_i8(&inputs_path);
    let (oshape, outputs) = read_npy_i8(&outputs_path);
    assert!(
        !ishape.is_empty() && !oshape.is_empty() && ishape[0] == oshape[0],
        "inputs {ishape:?} and outputs {oshape:?} need the same leading sample axis"
    );
    let samples = ishape[0].min(max_samples);
    assert!(samples > 0, "no golden samples");
    assert_eq!(
        inputs.len() / ishape[0],
        input_len,
        "input sample size vs the model input"
    );
    assert_eq!(
        outputs.len() / oshape[0],
        output_len,
        "output sample size vs the model output"
    );
    fs::write(out.join("model.mote"), &bytes).expect("write model");
    fs::write(out.join("inputs.bin"), &inputs[..samples * input_len]).expect("write inputs");
    fs::write(out.join("outputs.bin"), &outputs[..samples * output_len]).expect("write outputs");

    let code = format!(
        "/// Name of the embedded model.\n\
         const MODEL_NAME: &str = {name:?};\n\
         /// Arena bytes the model's plan needs.\n\
         const ARENA_LEN: usize = {arena};\n\
         /// Number of ops.\n\
         const OP_COUNT: usize = {ops};\n\
         /// Bytes per input sample.\n\
         const INPUT_LEN: usize = {input_len};\n\
         /// Bytes per output sample.\n\
         const OUTPUT_LEN: usize = {output_len};\n\
         /// Number of golden samples.\n\
         const SAMPLES: usize = {samples};\n\
         /// The model, 16-byte aligned.\n\
         static MODEL: Aligned<[u8; {mlen}]> = Aligned(*include_bytes!({mp:?}));\n\
         /// Golden inputs (int8 as bytes).\n\
         static INPUTS: [u8; {ilen}] = *include_bytes!({ip:?});\n\
         /// Golden outputs (int8 as bytes).\n\
         static OUTPUTS: [u8; {olen}] = *include_bytes!({op:?});\n",
        arena = model.arena_len(),
        ops = model.op_count(),
        mlen = bytes.len(),
        mp = out.join("model.mote"),
        ilen = samples * input_len,
        ip = out.join("inputs.bin"),
        olen = samples * output_len,
        op = out.join("outputs.bin"),
    );
    fs::write(out.join("bundle.rs"), code).expect("write bundle.rs");
}
