//! A multi-channel sensor stream (accelerometer, IMU, temperature, shock)
//! windowed with overlap into a model's int8 input, with the checks a
//! device needs before it trusts a window: every sample present, in order,
//! read without a bus error, finite, and not from a stuck sensor.
//!
//! The caller owns the sample memory (no heap). Each sample carries its
//! sequence number (the sensor's sample counter or timer tick), which is
//! how dropped and duplicated samples are seen. A window is offered for
//! inference only when all of its samples are trusted: a fault *taints* the
//! stream, and a window is ready again once `len` trusted samples follow it.

use embedded_hal::i2c::ErrorKind;

use crate::pipeline::quantize;

/// A fault seen on the stream. Each is reported once, when it is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StreamFault {
    /// Reading the sensor failed on the bus; the sample is missing.
    Bus(ErrorKind),
    /// Samples were lost: `got` arrived where `expected` was due. The
    /// sample `got` is kept, but the stream restarts from it.
    Gap {
        /// The sequence number that was due.
        expected: u32,
        /// The one that arrived.
        got: u32,
    },
    /// A sample arrived again (or out of order) and was dropped.
    Duplicate {
        /// Its sequence number.
        seq: u32,
    },
    /// The sensor repeated one reading `stuck_after` times: it is stuck.
    /// Its samples are refused until the reading changes.
    Stuck {
        /// The sample at which it was seen.
        seq: u32,
    },
    /// A sample with the wrong number of channels or a non-finite value.
    BadSample {
        /// Its sequence number.
        seq: u32,
    },
}

impl core::fmt::Display for StreamFault {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Bus(e) => write!(f, "sensor read failed: {e:?}"),
            Self::Gap { expected, got } => {
                write!(f, "samples lost: expected #{expected}, got #{got}")
            }
            Self::Duplicate { seq } => write!(f, "sample #{seq} repeated or out of order"),
            Self::Stuck { seq } => write!(f, "sensor stuck (at sample #{seq})"),
            Self::BadSample { seq } => write!(f, "sample #{seq} is malformed"),
        }
    }
}

/// Why a [`StreamWindow`] cannot be made or filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ConfigError {
    /// Zero channels, window length or hop.
    Empty,
    /// The sample buffer holds fewer than `len * channels` values.
    BufferTooSmall,
    /// The model input is not `len * channels` elements.
    InputSize,
}

/// How a window is laid out in the model input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Layout {
    /// Time-major, channels interleaved: `[len][channels]` (NHWC with the
    /// time axis as W).
    ChannelsLast,
    /// Channel-major: `[channels][len]` (NCHW, as PyTorch Conv1d wants).
    ChannelsFirst,
}

/// A sliding window of `len` samples of `channels` values each, offered
/// every `hop` samples (`hop < len` overlaps windows).
#[derive(Debug)]
pub struct StreamWindow<'a> {
    buf: &'a mut [f32],
    channels: usize,
    len: usize,
    hop: usize,
    stuck_after: usize,
    /// Ring position of the next sample.
    head: usize,
    /// Trusted samples in a row, at most `len`.
    clean: usize,
    /// How many samples in a row equal their predecessor.
    repeats: usize,
    stuck: bool,
    /// Whether the ring holds a reading to compare the next one with.
    prev_valid: bool,
    since_offer: usize,
    next_seq: Option<u32>,
}

impl<'a> StreamWindow<'a> {
    /// A window over `buf` (at least `len * channels` values). A sensor
    /// that gives the same reading `stuck_after` times in a row is
    /// reported stuck (`0` turns the check off; real sensors have noise,
    /// so exact repeats are rare). While the newest sample repeats its
    /// predecessor no window is offered, so a window never holds stuck
    /// samples that are not yet known to be stuck.
    pub fn new(
        buf: &'a mut [f32],
        channels: usize,
        len: usize,
        hop: usize,
        stuck_after: usize,
    ) -> Result<Self, ConfigError> {
        if channels == 0 || len == 0 || hop == 0 {
            return Err(ConfigError::Empty);
        }
        if buf.len() / channels < len {
            return Err(ConfigError::BufferTooSmall);
        }
        Ok(StreamWindow {
            buf,
            channels,
            len,
            hop,
            stuck_after,
            head: 0,
            clean: 0,
            repeats: 0,
            stuck: false,
            prev_valid: false,
            since_offer: 0,
            next_seq: None,
        })
    }

    /// Bytes of sample memory (the `buf` of [`Self::new`]) a window of
    /// `len` samples of `channels` values needs: the pipeline's buffer
    /// outside the model's arena. `None` on overflow.
    pub const fn buffer_bytes(channels: usize, len: usize) -> Option<usize> {
        match channels.checked_mul(len) {
            Some(n) => n.checked_mul(core::mem::size_of::<f32>()),
            None => None,
        }
    }

    /// Values per sample.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Samples per window.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a window holds at least one sample.
    pub fn is_empty(&self) -> bool {
        false
    }

    fn taint(&mut self) {
        self.clean = 0;
    }

    /// A sample is missing: the stream restarts. The stuck check still
    /// compares with the last reading received (a stuck sensor stays stuck
    /// across a bus error or a lost sample).
    fn restart(&mut self) {
        self.clean = 0;
    }

    /// Takes the reading of sample `seq`: its values, or the bus error the
    /// read of the next sample slot gave (`seq` is then not used). Returns
    /// whether a window is ready (see [`Self::fill`]), or the fault this
    /// sample showed.
    pub fn push(&mut self, seq: u32, read: Result<&[f32], ErrorKind>) -> Result<bool, StreamFault> {
        let values = match read {
            Ok(v) => v,
            Err(e) => {
                // The sample slot is used up: a lost sample before or after
                // it still shows as a gap at the next good one.
                self.next_seq = self.next_seq.map(|n| n.wrapping_add(1));
                self.restart();
                return Err(StreamFault::Bus(e));
            }
        };
        // The sequence number before the values: a duplicate must not
        // count as a repeat.
        let mut gap = None;
        if let Some(expected) = self.next_seq {
            let d = seq.wrapping_sub(expected) as i32;
            if d < 0 {
                return Err(StreamFault::Duplicate { seq });
            }
            if d > 0 {
                gap = Some(StreamFault::Gap { expected, got: seq });
            }
        }
        self.next_seq = Some(seq.wrapping_add(1));
        if values.len() != self.channels || values.iter().any(|v| !v.is_finite()) {
            self.restart();
            return Err(StreamFault::BadSample { seq });
        }
        if gap.is_some() {
            self.restart();
        }
        let c = self.channels;
        let prev = (self.head + self.len - 1) % self.len;
        let same = self.prev_valid
            && self
                .buf
                .get(prev * c..prev * c + c)
                .is_some_and(|p| p == values);
        self.repeats = if same { self.repeats + 1 } else { 0 };
        if !same {
            self.stuck = false;
        }
        if let Some(dst) = self.buf.get_mut(self.head * c..self.head * c + c) {
            dst.copy_from_slice(values);
        }
        self.head = (self.head + 1) % self.len;
        self.prev_valid = true;
        self.since_offer = self.since_offer.saturating_add(1);
        if self.stuck_after > 0 && self.repeats + 1 >= self.stuck_after {
            self.taint();
            if let Some(g) = gap {
                // One report per sample: the gap now, the stuck sensor at
                // its next repeat.
                return Err(g);
            }
            if !self.stuck {
                self.stuck = true;
                return Err(StreamFault::Stuck { seq });
            }
            return Ok(false);
        }
        self.clean = (self.clean + 1).min(self.len);
        if let Some(g) = gap {
            return Err(g);
        }
        let ready = self.clean >= self.len
            && (self.stuck_after == 0 || self.repeats == 0)
            && self.since_offer >= self.hop;
        if ready {
            self.since_offer = 0;
        }
        Ok(ready)
    }

    /// Sample `i` of the window, oldest first.
    pub fn sample(&self, i: usize) -> Option<&[f32]> {
        if i >= self.len {
            return None;
        }
        let at = (self.head + i) % self.len;
        self.buf.get(at * self.channels..(at + 1) * self.channels)
    }

    /// Writes the window into a model input in `layout`, each value
    /// `(x - offset) * gain` quantized with the input's `scale` and
    /// `zero_point`. Call it when [`Self::push`] returned `Ok(true)`.
    pub fn fill(
        &self,
        input: &mut [i8],
        layout: Layout,
        offset: f32,
        gain: f32,
        scale: f32,
        zero_point: i32,
    ) -> Result<(), ConfigError> {
        let (n, c) = (self.len, self.channels);
        if input.len() != n * c {
            return Err(ConfigError::InputSize);
        }
        for t in 0..n {
            let Some(s) = self.sample(t) else {
                return Err(ConfigError::BufferTooSmall);
            };
            for (ch, &x) in s.iter().enumerate() {
                let at = match layout {
                    Layout::ChannelsLast => t * c + ch,
                    Layout::ChannelsFirst => ch * n + t,
                };
                if let Some(d) = input.get_mut(at) {
                    *d = quantize((x - offset) * gain, scale, zero_point);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: f32) -> [f32; 2] {
        [v, -v]
    }

    #[test]
    fn windows_overlap_by_hop() {
        let mut buf = [0.0f32; 8];
        let mut w = StreamWindow::new(&mut buf, 2, 4, 2, 3).unwrap();
        let ready: [bool; 8] =
            core::array::from_fn(|i| w.push(i as u32, Ok(&s(i as f32))).unwrap());
        assert_eq!(ready, [false, false, false, true, false, true, false, true]);
        let mut input = [0i8; 8];
        w.fill(&mut input, Layout::ChannelsFirst, 0.0, 1.0, 1.0, 0)
            .unwrap();
        assert_eq!(input, [4, 5, 6, 7, -4, -5, -6, -7]);
        w.fill(&mut input, Layout::ChannelsLast, 1.0, 2.0, 1.0, 0)
            .unwrap();
        assert_eq!(input, [6, -10, 8, -12, 10, -14, 12, -16]);
    }

    #[test]
    fn faults_taint_the_window() {
        let mut buf = [0.0f32; 6];
        let mut w = StreamWindow::new(&mut buf, 2, 3, 1, 3).unwrap();
        for i in 0..3 {
            w.push(i, Ok(&s(i as f32))).unwrap();
        }
        assert_eq!(
            w.push(3, Err(ErrorKind::Bus)),
            Err(StreamFault::Bus(ErrorKind::Bus))
        );
        assert_eq!(w.push(4, Ok(&s(4.0))), Ok(false));
        assert_eq!(
            w.push(4, Ok(&s(4.0))),
            Err(StreamFault::Duplicate { seq: 4 })
        );
        assert_eq!(w.push(5, Ok(&s(5.0))), Ok(false));
        assert_eq!(w.push(6, Ok(&s(6.0))), Ok(true));
        assert_eq!(
            w.push(9, Ok(&s(9.0))),
            Err(StreamFault::Gap {
                expected: 7,
                got: 9
            })
        );
        assert_eq!(w.push(10, Ok(&s(10.0))), Ok(false));
        assert_eq!(
            w.push(11, Ok(&s(f32::NAN))),
            Err(StreamFault::BadSample { seq: 11 })
        );
        for i in 12..15 {
            assert_eq!(w.push(i, Ok(&s(i as f32))), Ok(i == 14));
        }
        // Stuck: the second repeat is held back, the third is reported.
        assert_eq!(w.push(15, Ok(&s(14.0))), Ok(false));
        assert_eq!(
            w.push(16, Ok(&s(14.0))),
            Err(StreamFault::Stuck { seq: 16 })
        );
        assert_eq!(w.push(17, Ok(&s(14.0))), Ok(false));
        for i in 18..20 {
            assert_eq!(w.push(i, Ok(&s(i as f32))), Ok(false));
        }
        assert_eq!(w.push(20, Ok(&s(20.0))), Ok(true));
        assert_eq!(w.sample(0), Some(&s(18.0)[..]));
    }

    #[test]
    fn buffer_bytes_are_the_window_of_f32() {
        assert_eq!(StreamWindow::buffer_bytes(6, 100), Some(2400));
        assert_eq!(StreamWindow::buffer_bytes(usize::MAX, 2), None);
    }

    #[test]
    fn bad_configs() {
        let mut buf = [0.0f32; 5];
        assert_eq!(
            StreamWindow::new(&mut buf, 2, 3, 1, 0).err(),
            Some(ConfigError::BufferTooSmall)
        );
        assert_eq!(
            StreamWindow::new(&mut buf, 0, 3, 1, 0).err(),
            Some(ConfigError::Empty)
        );
        let w = StreamWindow::new(&mut buf, 1, 5, 1, 0).unwrap();
        assert_eq!(
            w.fill(&mut [0; 4], Layout::ChannelsLast, 0.0, 1.0, 1.0, 0),
            Err(ConfigError::InputSize)
        );
    }
}
