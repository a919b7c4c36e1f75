//! Signed models: `mote sign` output verifies with the matching public key
//! through the runtime's `Model::parse_verified`, and every tampering is
//! refused with a typed error.

use ed25519_dalek::SigningKey;
use mote_runtime::{Error, Model};
use mote_tests::root;

fn model() -> Vec<u8> {
    mote_cli::compress::compress_bytes(&root().join("models/digits/digits_int8.onnx"))
        .unwrap()
        .0
}

fn verify(bytes: &[u8], key: &SigningKey) -> Result<(), Error> {
    let aligned = mote_cli::AlignedBytes::new(bytes);
    Model::parse_verified(aligned.as_slice(), &key.verifying_key().to_bytes()).map(|_| ())
}

#[test]
fn signed_models_verify_and_tampering_is_refused() {
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let other = SigningKey::from_bytes(&[9u8; 32]);
    let plain = model();
    let signed = mote_cli::sign::sign_bytes(&plain, &key).unwrap();
    assert_eq!(signed.len(), plain.len() + mote_format::SIGNATURE_LEN);
    assert_eq!(verify(&signed, &key), Ok(()));
    // The signed file still parses and runs without a key.
    let aligned = mote_cli::AlignedBytes::new(&signed);
    assert!(Model::parse(aligned.as_slice()).unwrap().is_signed());
    // Re-signing replaces the signature rather than stacking another.
    let twice = mote_cli::sign::sign_bytes(&signed, &other).unwrap();
    assert_eq!(twice.len(), signed.len());
    assert_eq!(verify(&twice, &other), Ok(()));

    assert_eq!(verify(&plain, &key), Err(Error::Unsigned));
    assert_eq!(verify(&signed, &other), Err(Error::BadSignature));
    // A weight byte changed (CRC made consistent again): the signature fails.
    let mut t = signed.clone();
    let at = t.len() - mote_format::SIGNATURE_LEN - 3;
    t[at] ^= 1;
    let crc = mote_format::crc32(&t[32..t.len() - 64]);
    t[24..28].copy_from_slice(&crc.to_le_bytes());
    assert_eq!(verify(&t, &key), Err(Error::BadSignature));
    // The flag stripped: unsigned.
    let mut t = signed.clone();
    t[6] &= !1;
    assert_eq!(verify(&t, &key), Err(Error::Unsigned));
    // The signature cut short.
    assert_eq!(
        verify(&signed[..signed.len() - 1], &key),
        Err(Error::Truncated)
    );
    // A flipped signature byte.
    let mut t = signed.clone();
    let last = t.len() - 1;
    t[last] ^= 0x80;
    assert_eq!(verify(&t, &key), Err(Error::BadSignature));
    // Unknown flag bits are refused even without verification.
    let mut t = plain.clone();
    t[6] |= 0x80;
    let aligned = mote_cli::AlignedBytes::new(&t);
    assert_eq!(
        Model::parse(aligned.as_slice()).err(),
        Some(Error::BadLayout)
    );
}
