//! Errors of the model store.

/// What went wrong. `E` is the flash driver's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StoreError<E> {
    /// The flash driver failed (including a power cut in the simulator).
    Flash(E),
    /// Base offset or slot size is not a multiple of the erase size, or the
    /// two slots do not fit in the flash.
    BadLayout,
    /// The model is larger than a slot can hold.
    TooLarge {
        /// Model bytes.
        len: u32,
        /// Bytes a slot holds.
        capacity: u32,
    },
    /// The update's version is older than the installed one (not forced).
    Rollback {
        /// Installed version.
        installed: u32,
        /// Offered version.
        offered: u32,
    },
    /// The caller's check refused the model (e.g. `Model::parse_verified`).
    Rejected,
    /// What was read back after programming differs from the model.
    Verify,
    /// No slot holds a valid committed model.
    NoModel,
    /// The buffer is too small for the model.
    BufferTooSmall,
}

impl<E: core::fmt::Debug> core::fmt::Display for StoreError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Flash(e) => write!(f, "flash error: {e:?}"),
            Self::BadLayout => f.write_str("slots are not aligned to the erase size or do not fit"),
            Self::TooLarge { len, capacity } => write!(
                f,
                "model of {len} bytes does not fit a {capacity}-byte slot"
            ),
            Self::Rollback { installed, offered } => {
                write!(
                    f,
                    "version {offered} is older than the installed version {installed}"
                )
            }
            Self::Rejected => f.write_str("the model was rejected by its check"),
            Self::Verify => f.write_str("flash read-back does not match the model"),
            Self::NoModel => f.write_str("no valid model is stored"),
            Self::BufferTooSmall => f.write_str("buffer too small for the model"),
        }
    }
}
