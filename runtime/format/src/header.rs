//! The fixed 32-byte file header.

use crate::FormatError;

/// File magic, the first four bytes of every `.mote` file.
pub const MAGIC: [u8; 4] = *b"MOTE";
/// The format version this crate writes and reads.
pub const VERSION: u16 = 1;
/// Length of the header in bytes.
pub const HEADER_LEN: usize = 32;
/// Header flag: an Ed25519 signature block follows the body.
pub const FLAG_SIGNED: u16 = 1;
/// Every flag bit this version defines; others must be zero.
pub const KNOWN_FLAGS: u16 = FLAG_SIGNED;
/// Length of the signature block: one Ed25519 signature over the header
/// (with `FLAG_SIGNED` set) and the body.
pub const SIGNATURE_LEN: usize = 64;

/// Alignment of the weight blob and of every range inside it.
pub const WEIGHTS_ALIGN: usize = 16;

const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// CRC-32 (ISO-HDLC, as zlib) of `bytes`.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC.checksum(bytes)
}

/// The file header. Byte layout: magic[4], version u16, flags u16,
/// graph_len u32, weights_offset u32, weights_len u32, body_len u32,
/// crc32 u32, reserved u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version.
    pub version: u16,
    /// Flag bits (`FLAG_SIGNED`); unknown bits are rejected.
    pub flags: u16,
    /// Length of the postcard graph section, which starts right after the header.
    pub graph_len: u32,
    /// Offset of the weight blob from the start of the file (16-byte aligned).
    pub weights_offset: u32,
    /// Length of the weight blob.
    pub weights_len: u32,
    /// Length of everything after the header that the CRC covers
    /// (`weights_offset + weights_len - HEADER_LEN`).
    pub body_len: u32,
    /// CRC-32 of the `body_len` bytes after the header.
    pub crc32: u32,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        w.copy_from_slice(s);
    }
    u32::from_le_bytes(w)
}

impl Header {
    /// Reads the header from the front of `bytes`; checks magic and version only.
    pub fn read(bytes: &[u8]) -> Result<Self, FormatError> {
        let b = bytes.get(..HEADER_LEN).ok_or(FormatError::Truncated)?;
        if b[..4] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u16::from_le_bytes([b[4], b[5]]);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        Ok(Self {
            version,
            flags: u16::from_le_bytes([b[6], b[7]]),
            graph_len: u32_at(b, 8),
            weights_offset: u32_at(b, 12),
            weights_len: u32_at(b, 16),
            body_len: u32_at(b, 20),
            crc32: u32_at(b, 24),
        })
    }

    /// The header's 32 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(&MAGIC);
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6..8].copy_from_slice(&self.flags.to_le_bytes());
        b[8..12].copy_from_slice(&self.graph_len.to_le_bytes());
        b[12..16].copy_from_slice(&self.weights_offset.to_le_bytes());
        b[16..20].copy_from_slice(&self.weights_len.to_le_bytes());
        b[20..24].copy_from_slice(&self.body_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.crc32.to_le_bytes());
        b
    }
}
