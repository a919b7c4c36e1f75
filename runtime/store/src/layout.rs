//! The slot header: where a slot's metadata sits and how it is encoded.

/// Magic at the start of a slot header.
pub const SLOT_MAGIC: u32 = 0x544C_534D; // "MSLT"
/// The commit word; an erased word reads 0xFFFF_FFFF, a revoked one 0.
pub const COMMIT_WORD: u32 = 0x5A5A_A5A5;

/// Bytes of the header fields: magic, seq, version, len, crc, and a CRC-32
/// of those 20 bytes (so a flipped bit in `seq` or `version` cannot change
/// which slot is active or defeat rollback protection).
pub(crate) const FIELDS_LEN: usize = 24;

/// CRC-32 (ISO-HDLC) of the header fields and of the model bytes.
pub(crate) const CRC: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Metadata of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SlotHeader {
    /// Update counter: the committed slot with the highest one is active.
    pub seq: u32,
    /// Model version (for rollback protection).
    pub version: u32,
    /// Model length in bytes.
    pub len: u32,
    /// CRC-32 of the model bytes.
    pub crc: u32,
}

impl SlotHeader {
    pub(crate) fn encode(&self) -> [u8; FIELDS_LEN] {
        let mut b = [0u8; FIELDS_LEN];
        for (i, v) in [SLOT_MAGIC, self.seq, self.version, self.len, self.crc]
            .iter()
            .enumerate()
        {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        let own = CRC.checksum(&b[..20]);
        b[20..24].copy_from_slice(&own.to_le_bytes());
        b
    }

    /// The header, if the magic and the header's own CRC are right.
    pub(crate) fn decode(b: &[u8; FIELDS_LEN]) -> Option<Self> {
        let w = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        (w(0) == SLOT_MAGIC && w(5) == CRC.checksum(&b[..20])).then(|| SlotHeader {
            seq: w(1),
            version: w(2),
            len: w(3),
            crc: w(4),
        })
    }
}

/// Rounds `x` up to a multiple of `to` (a power of two or any non-zero).
pub(crate) const fn align_up(x: usize, to: usize) -> usize {
    x.div_ceil(to) * to
}

/// Offsets inside a slot for a flash with write size `w`: the fields at 0,
/// the commit word in its own write unit, the model from a 64-byte boundary
/// (so a memory-mapped model keeps 16-byte alignment for its weights).
pub(crate) const fn offsets(w: usize) -> (usize, usize) {
    let commit = align_up(FIELDS_LEN, w);
    let data = align_up(align_up(commit + 4, w), 64);
    (commit, data)
}
