//! `mote keygen`, `mote sign`, `mote verify`: Ed25519 signatures over a
//! `.mote` file's header and body, checked by the runtime's
//! `Model::parse_verified` before a model is used.
//!
//! Key files hold 64 hexadecimal digits: the 32-byte secret seed (`.key`)
//! or the 32-byte public key (`.pub`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use mote_format::{Header, FLAG_SIGNED, HEADER_LEN, SIGNATURE_LEN};

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32]> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bytes = hex::decode(text.trim()).map_err(|_| {
        anyhow!(
            "{} is not a {what} (expected 64 hex digits)",
            path.display()
        )
    })?;
    bytes.try_into().map_err(|_| {
        anyhow!(
            "{} is not a {what} (expected 64 hex digits)",
            path.display()
        )
    })
}

/// Reads a secret key file.
pub fn read_secret(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_hex32(
        path,
        "Mote secret key",
    )?))
}

/// Reads a public key file.
pub fn read_public(path: &Path) -> Result<[u8; 32]> {
    let key = read_hex32(path, "Mote public key")?;
    VerifyingKey::from_bytes(&key)
        .map_err(|_| anyhow!("{} is not a valid Ed25519 public key", path.display()))?;
    Ok(key)
}

/// Creates `<out>.key` and `<out>.pub` (never overwriting either).
pub fn keygen(out: &Path) -> Result<(PathBuf, PathBuf)> {
    let key_path = out.with_file_name(format!(
        "{}.key",
        out.file_name().and_then(|s| s.to_str()).unwrap_or("mote")
    ));
    let pub_path = key_path.with_extension("pub");
    for p in [&key_path, &pub_path] {
        if p.exists() {
            bail!("{} already exists; not overwriting a key", p.display());
        }
    }
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| anyhow!("no system randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    crate::write::atomic_write(&key_path, format!("{}\n", hex::encode(seed)).as_bytes())?;
    crate::write::atomic_write(
        &pub_path,
        format!("{}\n", hex::encode(key.verifying_key().to_bytes())).as_bytes(),
    )?;
    Ok((key_path, pub_path))
}

/// The signed form of model `bytes` (a signature already there is replaced).
pub fn sign_bytes(bytes: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let aligned = crate::AlignedBytes::new(bytes);
    mote_runtime::Model::parse(aligned.as_slice())
        .map_err(|e| anyhow!("not a valid .mote model: {e}"))?;
    let mut h = Header::read(bytes).map_err(|e| anyhow!("{e}"))?;
    h.flags |= FLAG_SIGNED;
    let body_end = HEADER_LEN + h.body_len as usize;
    let mut out = Vec::with_capacity(body_end + SIGNATURE_LEN);
    out.extend_from_slice(&h.to_bytes());
    out.extend_from_slice(&bytes[HEADER_LEN..body_end]);
    let signature = key.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    Ok(out)
}

/// Signs the model at `model`, writing `output` (default: in place).
pub fn sign(model: &Path, key: &Path, output: Option<&Path>) -> Result<PathBuf> {
    let key = read_secret(key)?;
    let bytes = std::fs::read(model).with_context(|| format!("cannot read {}", model.display()))?;
    let signed = sign_bytes(&bytes, &key)?;
    let out = output.unwrap_or(model).to_path_buf();
    crate::write::atomic_write(&out, &signed)?;
    Ok(out)
}

/// Verifies the model at `model` with the public key file `pubkey` exactly
/// as the runtime does (`Model::parse_verified`).
pub fn verify(model: &Path, pubkey: &Path) -> Result<()> {
    let key = read_public(pubkey)?;
    let bytes = crate::read_model(model)?;
    mote_runtime::Model::parse_verified(bytes.as_slice(), &key)
        .map(|_| ())
        .map_err(|e| anyhow!("{}: {e}", model.display()))
}
