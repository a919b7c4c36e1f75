//! Bit-exactness with TensorFlow Lite Micro of models compressed on the
//! host, run by the runtime alone. This is the golden test for targets
//! where the ONNX importer is not built, e.g. aarch64 Linux under
//! qemu-aarch64 (`cargo xtask aarch64`).
//!
//! `MOTE_GOLDEN_DIR` names a directory of `<name>.mote` files, each with
//! `<name>.inputs.npy` and `<name>.outputs.npy` (int8 `[N, ...]`, the
//! outputs TFLite Micro's). Without it the test reports SKIPPED: the host
//! runs the same goldens end to end in `tests/tests/tflm_goldens.rs`.

use std::path::{Path, PathBuf};

use mote_runtime::{Interpreter, Model};

/// Reads an int8 C-order `.npy` file: (shape, data).
fn read_npy_i8(path: &Path) -> (Vec<usize>, Vec<i8>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (len, start) = if bytes[6] == 1 {
        (usize::from(u16::from_le_bytes([bytes[8], bytes[9]])), 10)
    } else {
        let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        (n as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + len]).unwrap();
    assert!(header.contains("i1'"), "{}: not int8", path.display());
    assert!(header.contains("'fortran_order': False"));
    let dims = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .unwrap();
    let shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    let data: Vec<i8> = bytes[start + len..].iter().map(|&b| b as i8).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

/// Copies `bytes` to a 16-byte aligned place inside `buf` and returns it.
fn aligned<'b>(buf: &'b mut Vec<u8>, bytes: &[u8]) -> &'b [u8] {
    buf.clear();
    buf.resize(bytes.len() + 16, 0);
    let off = buf.as_ptr().align_offset(16);
    buf[off..off + bytes.len()].copy_from_slice(bytes);
    &buf[off..off + bytes.len()]
}

#[test]
fn precompressed_models_are_bit_exact_with_tflite_micro() {
    let Some(dir) = std::env::var_os("MOTE_GOLDEN_DIR").map(PathBuf::from) else {
        eprintln!("SKIPPED: MOTE_GOLDEN_DIR is not set (cargo xtask aarch64 sets it)");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "mote"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no .mote files in {}", dir.display());
    let mut failures = Vec::new();
    let mut buf = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let (ishape, inputs) = read_npy_i8(&dir.join(format!("{name}.inputs.npy")));
        let (_, golden) = read_npy_i8(&dir.join(format!("{name}.outputs.npy")));
        let bytes = std::fs::read(file).unwrap();
        let model = Model::parse(aligned(&mut buf, &bytes))
            .unwrap_or_else(|e| panic!("{name}: Model::parse: {e:?}"));
        let mut arena = vec![0u8; model.arena_len()];
        let mut interp = Interpreter::new(&model, &mut arena).unwrap();
        let n = ishape[0];
        let (ilen, olen) = (inputs.len() / n, golden.len() / n);
        let mut differing = 0;
        for i in 0..n {
            interp
                .input_mut(0)
                .unwrap()
                .copy_from_slice(&inputs[i * ilen..(i + 1) * ilen]);
            interp.invoke().unwrap();
            let out = interp.output(0).unwrap();
            differing += out
                .iter()
                .zip(&golden[i * olen..(i + 1) * olen])
                .filter(|(a, b)| a != b)
                .count();
        }
        eprintln!(
            "{name}: {n} samples, {differing} of {} bytes differ",
            n * olen
        );
        if differing != 0 {
            failures.push(format!("{name}: {differing} bytes differ"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{} models bit-exact with TFLite Micro", files.len());
}
