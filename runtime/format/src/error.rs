//! Errors of encoding and decoding the file structures.

/// What went wrong reading or writing `.mote` structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FormatError {
    /// The byte slice is shorter than the structure being read.
    Truncated,
    /// The file does not start with the `MOTE` magic.
    BadMagic,
    /// The file's format version is not one this build reads.
    UnsupportedVersion(u16),
    /// A postcard record could not be decoded (corrupt or foreign bytes).
    Decode,
    /// A record could not be encoded (writer side).
    Encode,
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Truncated => f.write_str("data ends before the structure does"),
            Self::BadMagic => f.write_str("not a .mote file (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported .mote format version {v}"),
            Self::Decode => f.write_str("graph metadata does not decode"),
            Self::Encode => f.write_str("graph metadata does not encode"),
        }
    }
}
