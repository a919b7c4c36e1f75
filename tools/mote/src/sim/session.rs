//! A simulated session: a sensor stream or a series of images replayed
//! through the device pipeline (`mote-board` windowing and preprocessing,
//! the runtime), with faults injected, every fault's typed error recorded,
//! and every emitted prediction checked against a fault-free run on the
//! clean recording.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use embedded_hal::i2c::ErrorKind;
use mote_board::frame::{resize_into, Frame, FrameLayout};
use mote_board::pipeline::{quantize, top1};
use mote_board::stream::{Layout, StreamFault, StreamWindow};
use mote_runtime::{Interpreter, Model};
use serde::Serialize;

use super::device::{ArenaHit, Boot, Device, DeviceFault, SlotPart};
use super::fault::{FaultKind, Injector, Tally};
use super::source::{Image, Recording};
use crate::{AlignedBytes, Arena};

/// Identical readings in a row that mean a stuck sensor, by default (an
/// IMU's noise makes exact repeats rare; a slow sensor such as a
/// thermometer needs a longer run, or the check off).
pub const STUCK_AFTER: usize = 3;

/// Faults kept in the report's event list (all are counted).
const MAX_EVENTS: usize = 1000;

/// How a stream is windowed.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Samples per second.
    pub rate_hz: f64,
    /// Samples per window (default: what the model input holds).
    pub window: Option<usize>,
    /// Samples between windows (default: the window, no overlap).
    pub hop: Option<usize>,
    /// Times the recording is replayed back to back.
    pub repeat: usize,
    /// Identical readings in a row that mean a stuck sensor (0: no check).
    pub stuck_after: usize,
}

/// One emitted prediction.
#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    /// Inference index.
    pub index: u64,
    /// Stream: the window's last sample; images: the image index.
    pub at: u64,
    /// Seconds into the stream (images: the image index).
    pub time_s: f64,
    /// Image file, for imaging sessions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Top-1 class.
    pub class: usize,
    /// Dequantized outputs.
    pub scores: Vec<f32>,
    /// Whether the input equals the one the clean recording gives.
    pub clean_input: bool,
    /// Whether the output equals a fault-free run on the clean input.
    pub matches_reference: bool,
}

/// One reported fault.
#[derive(Debug, Clone, Serialize)]
pub struct FaultEvent {
    /// Sample (stream) or inference/image index.
    pub at: u64,
    /// Seconds into the stream.
    pub time_s: f64,
    /// The fault kind it is counted under.
    pub kind: &'static str,
    /// The typed error, as text.
    pub error: String,
}

/// What the device's boots did (each reload, reboot and store bit flip
/// boots it).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Boots {
    /// Boots in all.
    pub boots: u64,
    /// Boots on which the store rejected a slot (magic, commit word,
    /// length or CRC-32) and loaded the other one.
    pub fallback: u64,
    /// Boots refused because neither slot held a valid model; the model
    /// was installed again before the next inference.
    pub refused: u64,
    /// Boots that loaded a model differing from the installed one (must
    /// be 0: a corrupted model never runs).
    pub corrupt: u64,
}

/// Everything a session produced.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    /// Samples (stream) or images replayed.
    pub inputs: u64,
    /// Windows or frames offered to the model.
    pub offered: u64,
    /// Predictions emitted.
    pub predictions: Vec<Prediction>,
    /// Faults reported (the first 1000).
    pub events: Vec<FaultEvent>,
    /// Faults reported in all.
    pub events_total: u64,
    /// Injected, detected and harmless faults per kind.
    pub faults: Tally,
    /// Emitted predictions whose input was not the clean one (must be 0).
    pub corrupted_predictions: u64,
    /// Emitted predictions that differ from a fault-free run (must be 0).
    pub mismatched_predictions: u64,
    /// The device's boots.
    pub boots: Boots,
    /// Seconds the session took on this host.
    pub host_seconds: f64,
}

impl Session {
    fn new() -> Self {
        Session {
            inputs: 0,
            offered: 0,
            predictions: Vec::new(),
            events: Vec::new(),
            events_total: 0,
            faults: Tally::default(),
            corrupted_predictions: 0,
            mismatched_predictions: 0,
            boots: Boots::default(),
            host_seconds: 0.0,
        }
    }

    fn event(&mut self, at: u64, time_s: f64, kind: FaultKind, error: String) {
        self.events_total += 1;
        if self.events.len() < MAX_EVENTS {
            self.events.push(FaultEvent {
                at,
                time_s,
                kind: kind.name(),
                error,
            });
        }
    }
}

/// Model input and output facts the pipeline needs.
struct Io {
    shape: Vec<usize>,
    elements: usize,
    scale: f32,
    zero_point: i32,
    out_scale: f32,
    out_zero: i32,
}

fn io(model: &[u8]) -> Result<Io> {
    let m = Model::parse(model).map_err(|e| anyhow!("invalid model: {e}"))?;
    let i = m.input(0).map_err(|e| anyhow!("{e}"))?;
    let o = m.output(0).map_err(|e| anyhow!("{e}"))?;
    if i.dtype != mote_runtime::DType::I8 || o.dtype != mote_runtime::DType::I8 {
        bail!("mote sim runs int8 models; this model's input or output is float");
    }
    let shape: Vec<usize> = i.shape().iter().map(|&d| d as usize).collect();
    Ok(Io {
        elements: shape.iter().product(),
        shape,
        scale: i.scale,
        zero_point: i.zero_point,
        out_scale: o.scale,
        out_zero: o.zero_point,
    })
}

/// A fault-free reference: the same model, its own arena, clean inputs.
struct Reference<'m> {
    model: Model<'m>,
    arena: Arena,
    cache: HashMap<Vec<i8>, Vec<i8>>,
}

impl<'m> Reference<'m> {
    fn run(&mut self, input: &[i8]) -> Result<Vec<i8>> {
        if let Some(o) = self.cache.get(input) {
            return Ok(o.clone());
        }
        let mut it = Interpreter::new(&self.model, self.arena.bytes())
            .map_err(|e| anyhow!("reference run: {e}"))?;
        it.input_mut(0)
            .map_err(|e| anyhow!("{e}"))?
            .copy_from_slice(input);
        it.invoke().map_err(|e| anyhow!("reference run: {e}"))?;
        let out = it.output(0).map_err(|e| anyhow!("{e}"))?.to_vec();
        if self.cache.len() < 100_000 {
            self.cache.insert(input.to_vec(), out.clone());
        }
        Ok(out)
    }
}

/// Boots the device (a reload or a reboot) and records how it went. When
/// neither slot holds a valid model the device refuses to boot, and the
/// model is installed again (as the update server would) so the session
/// can go on; `why` names the boot in the event. Returns the boot and the
/// slots the store rejected at it.
fn boot(
    k: u64,
    time_s: f64,
    dev: &mut Device,
    s: &mut Session,
    kind: FaultKind,
    why: &str,
) -> Result<(Boot, [bool; 2])> {
    s.boots.boots += 1;
    let b = match dev.boot() {
        Ok(b) => b,
        Err(DeviceFault::NoModel(e)) => {
            s.boots.refused += 1;
            s.event(
                k,
                time_s,
                kind,
                format!("{why}: refused to boot, no valid slot ({e}); model installed again"),
            );
            let b = dev
                .provision()
                .map_err(|e| anyhow!("installing the model again: {e}"))?;
            s.boots.corrupt += u64::from(!b.pristine);
            return Ok((b, [true; 2]));
        }
        Err(e) => bail!("boot: {e}"),
    };
    s.boots.corrupt += u64::from(!b.pristine);
    s.boots.fallback += u64::from(b.rejected.iter().any(|&r| r));
    Ok((b, b.rejected))
}

/// A bit flips in one of the store's slots; the device reboots and the
/// store must reject the slot if the flip reached bytes it checks.
fn store_flip(
    k: u64,
    time_s: f64,
    dev: &mut Device,
    inj: &mut Injector,
    s: &mut Session,
) -> Result<()> {
    let slot = inj.rng.below(2) as u8;
    let bit = inj.rng.below(dev.slot_used_bytes() as u64 * 8) as usize;
    let was_valid = dev.slot_valid(slot).map_err(|e| anyhow!("{e}"))?;
    let part = dev.flip_store_bit(slot, bit).map_err(|e| anyhow!("{e}"))?;
    s.faults.of(FaultKind::StoreBitflip).injected += 1;
    let name = ["A", "B"][usize::from(slot)];
    let (b, rejected) = boot(
        k,
        time_s,
        dev,
        s,
        FaultKind::StoreBitflip,
        &format!("bit {bit} of slot {name} flipped"),
    )?;
    let refused = rejected == [true; 2];
    let rejected = rejected[usize::from(slot)];
    let c = s.faults.of(FaultKind::StoreBitflip);
    if was_valid && rejected {
        c.detected += 1;
        if refused {
            // Reported by `boot`, and installed again.
            return Ok(());
        }
        s.event(
            k,
            time_s,
            FaultKind::StoreBitflip,
            format!(
                "bit {bit} of slot {name} flipped: slot rejected at boot; running version {} from slot {}",
                b.version,
                ["A", "B"][usize::from(b.slot)]
            ),
        );
    } else if !was_valid || part != SlotPart::Checked {
        // A slot already rejected, or bytes outside the checks: the model
        // bytes of every valid slot are intact (the boot compares them).
        c.harmless += 1;
    }
    // Else: a checked byte flipped and the slot still passed: a miss.
    Ok(())
}

/// The inference-side faults of one cycle: brown-out during an update,
/// flash bit flips, arena corruption. Returns the arena hit to apply.
fn inference_faults(
    k: u64,
    time_s: f64,
    dev: &mut Device,
    inj: &mut Injector,
    s: &mut Session,
    update_steps: u32,
    pending_flips: &mut u64,
) -> Result<Option<ArenaHit>> {
    if inj.strikes(FaultKind::Brownout, k) {
        let cut = inj.rng.below(u64::from(update_steps)) as u32;
        let before = dev.version();
        match dev.update(Some(cut)) {
            Ok(Some(e)) => {
                s.faults.of(FaultKind::Brownout).injected += 1;
                s.faults.of(FaultKind::Brownout).detected += 1;
                s.event(
                    k,
                    time_s,
                    FaultKind::Brownout,
                    format!("{e}; rebooted on version {} (was {before})", dev.version()),
                );
                // The update is retried with power on.
                dev.update(None)
                    .map_err(|e| anyhow!("retried update: {e}"))?;
            }
            Ok(None) => {}
            Err(e) => bail!("brown-out left the device without a model: {e}"),
        }
        s.boots.corrupt += u64::from(!dev.runs_installed_model());
    }
    if inj.strikes(FaultKind::StoreBitflip, k) {
        store_flip(k, time_s, dev, inj, s)?;
    }
    if inj.strikes(FaultKind::FlashBitflip, k) {
        let bit = inj.rng.below(dev.image_bits() as u64) as usize;
        dev.flip_image_bit(bit);
        s.faults.of(FaultKind::FlashBitflip).injected += 1;
        *pending_flips += 1;
    }
    if inj.strikes(FaultKind::ArenaCorrupt, k) && dev.arena_bits() > 0 {
        s.faults.of(FaultKind::ArenaCorrupt).injected += 1;
        let bit = inj.rng.below(dev.arena_bits() as u64) as usize;
        return Ok(Some(if inj.rng.below(2) == 0 {
            ArenaHit::BeforeInput { bit }
        } else {
            ArenaHit::AfterInput { bit }
        }));
    }
    Ok(None)
}

/// Runs one inference cycle with its faults; returns the output when the
/// pipeline emits a prediction.
#[allow(clippy::too_many_arguments)]
fn cycle(
    k: u64,
    time_s: f64,
    dev: &mut Device,
    inj: &mut Injector,
    s: &mut Session,
    update_steps: u32,
    pending_flips: &mut u64,
    fill: &dyn Fn(&mut [i8]) -> Result<()>,
) -> Result<Option<super::device::Inference>> {
    let hit = inference_faults(k, time_s, dev, inj, s, update_steps, pending_flips)?;
    let mut result = dev.infer(fill, hit);
    if let Err(DeviceFault::ModelCorrupt(e)) = &result {
        let c = s.faults.of(FaultKind::FlashBitflip);
        c.detected += *pending_flips;
        let n = *pending_flips;
        *pending_flips = 0;
        s.event(
            k,
            time_s,
            FaultKind::FlashBitflip,
            format!("{e} ({n} flip(s)); model reloaded from the store"),
        );
        boot(
            k,
            time_s,
            dev,
            s,
            FaultKind::FlashBitflip,
            "reloading the model",
        )?;
        // The image is checked before the arena hit lands: it lands now.
        result = dev.infer(fill, hit);
    } else if *pending_flips > 0 {
        // Flips that cancelled out: the image is intact again.
        s.faults.of(FaultKind::FlashBitflip).harmless += *pending_flips;
        *pending_flips = 0;
    }
    match result {
        Ok(inf) => {
            if hit.is_some() {
                let c = s.faults.of(FaultKind::ArenaCorrupt);
                if inf.input_corruption_caught {
                    c.detected += 1;
                } else {
                    c.harmless += 1;
                }
                if inf.input_corruption_caught {
                    s.event(
                        k,
                        time_s,
                        FaultKind::ArenaCorrupt,
                        "input corrupted in the arena before inference; written again".into(),
                    );
                }
            }
            Ok(Some(inf))
        }
        Err(DeviceFault::InputCorrupt) if hit.is_some() => {
            s.faults.of(FaultKind::ArenaCorrupt).detected += 1;
            s.event(
                k,
                time_s,
                FaultKind::ArenaCorrupt,
                DeviceFault::InputCorrupt.to_string(),
            );
            Ok(None)
        }
        Err(e) => bail!("inference {k} failed: {e}"),
    }
}

/// The layout of a stream window in the model input. A one-channel stream
/// (a thermometer) fills any input shape in time order.
pub fn stream_layout(shape: &[usize], channels: usize) -> Result<Layout> {
    let last = shape.last().copied().unwrap_or(0);
    if last == channels || channels == 1 {
        Ok(Layout::ChannelsLast)
    } else if shape.len() >= 3 && shape[1] == channels {
        Ok(Layout::ChannelsFirst)
    } else {
        bail!(
            "the stream has {channels} channels but the model input {shape:?} has no axis of {channels} (last axis, or axis 1 for NCHW)"
        )
    }
}

/// Builds a window's input straight from the recording (no pipeline code
/// but the shared rounding): what a fault-free device would feed.
fn clean_input(rec: &Recording, end: u64, len: usize, layout: Layout, io: &Io) -> Vec<i8> {
    let (n, c) = (rec.samples() as u64, rec.channels);
    let mut out = vec![0i8; len * c];
    for t in 0..len {
        let seq = end + 1 + t as u64 - len as u64;
        let x = rec.sample((seq % n) as usize);
        for (ch, &v) in x.iter().enumerate() {
            let at = match layout {
                Layout::ChannelsLast => t * c + ch,
                Layout::ChannelsFirst => ch * len + t,
            };
            out[at] = quantize(v, io.scale, io.zero_point);
        }
    }
    out
}

fn dequantize(out: &[i8], io: &Io) -> Vec<f32> {
    out.iter()
        .map(|&q| (i32::from(q) - io.out_zero) as f32 * io.out_scale)
        .collect()
}

/// How a stream of `channels` values per sample is windowed into the
/// model input: (window length, hop, layout).
pub fn stream_geometry(
    model: &[u8],
    channels: usize,
    opts: &StreamOptions,
) -> Result<(usize, usize, Layout)> {
    let io = io(model)?;
    let c = channels;
    let layout = stream_layout(&io.shape, c)?;
    if io.elements % c != 0 {
        bail!(
            "the model input {:?} does not hold whole samples of {c} channels",
            io.shape
        );
    }
    let len = opts.window.unwrap_or(io.elements / c);
    if len * c != io.elements {
        bail!(
            "--window {len} x {c} channels is {} values, but the model input {:?} holds {}",
            len * c,
            io.shape,
            io.elements
        );
    }
    let hop = opts.hop.unwrap_or(len);
    if hop == 0 || opts.rate_hz.is_nan() || opts.rate_hz <= 0.0 {
        bail!("--hop and --rate must be positive");
    }
    Ok((len, hop, layout))
}

/// The stream pipeline's buffer outside the arena: the window's samples.
pub fn stream_buffers(
    model: &[u8],
    channels: usize,
    opts: &StreamOptions,
) -> Result<(usize, String)> {
    let (len, _, _) = stream_geometry(model, channels, opts)?;
    let bytes = StreamWindow::buffer_bytes(channels, len)
        .ok_or_else(|| anyhow!("a window of {len} x {channels} does not fit in memory"))?;
    Ok((
        bytes,
        format!("StreamWindow of {len} samples x {channels} channels, f32"),
    ))
}

/// Replays a stream through the pipeline.
pub fn run_stream(
    model: &[u8],
    rec: &Recording,
    opts: &StreamOptions,
    inj: &mut Injector,
) -> Result<Session> {
    let start = std::time::Instant::now();
    let io = io(model)?;
    let c = rec.channels;
    let (len, hop, layout) = stream_geometry(model, c, opts)?;
    let bytes = AlignedBytes::new(model);
    let mut reference = Reference {
        model: Model::parse(bytes.as_slice()).map_err(|e| anyhow!("invalid model: {e}"))?,
        arena: Arena::new(io_arena(model)?),
        cache: HashMap::new(),
    };
    let mut dev = Device::new(model)?;
    let update_steps = dev.update_steps().map_err(|e| anyhow!("{e}"))?.max(1);
    let mut buf = vec![0f32; len * c];
    let mut win = StreamWindow::new(&mut buf, c, len, hop, opts.stuck_after)
        .map_err(|e| anyhow!("window: {e:?}"))?;
    let mut s = Session::new();
    let total = rec.samples() as u64 * opts.repeat.max(1) as u64;
    let (mut stuck_left, mut stuck_value, mut stuck_open) = (0u32, Vec::new(), false);
    let mut last_reading: Vec<f32> = Vec::new();
    let mut stuck_prev = false;
    let (mut drops_pending, mut k, mut pending_flips) = (0u64, 0u64, 0u64);
    let stuck_len = inj.stuck_len();
    for seq in 0..total {
        s.inputs += 1;
        let time_s = seq as f64 / opts.rate_hz;
        let truth = rec.sample((seq % rec.samples() as u64) as usize);
        // A new episode starts only on a sensor that was not stuck on the
        // previous sample (else it would just lengthen the last one).
        let was_stuck = std::mem::replace(&mut stuck_prev, stuck_left > 0);
        if stuck_left == 0
            && !was_stuck
            && !last_reading.is_empty()
            && inj.strikes(FaultKind::Stuck, seq)
        {
            s.faults.of(FaultKind::Stuck).injected += 1;
            stuck_left = stuck_len;
            stuck_value = last_reading.clone();
            stuck_open = true;
        }
        let value: Vec<f32> = if stuck_left > 0 {
            stuck_left -= 1;
            stuck_value.clone()
        } else {
            truth.to_vec()
        };
        last_reading = value.clone();
        if inj.strikes(FaultKind::Drop, seq) {
            s.faults.of(FaultKind::Drop).injected += 1;
            drops_pending += 1;
            continue;
        }
        let failed = inj.strikes(FaultKind::I2cError, seq);
        if failed {
            s.faults.of(FaultKind::I2cError).injected += 1;
        }
        let dup = !failed && inj.strikes(FaultKind::Dup, seq);
        if dup {
            s.faults.of(FaultKind::Dup).injected += 1;
        }
        for _ in 0..if dup { 2 } else { 1 } {
            let read = if failed {
                Err(ErrorKind::Bus)
            } else {
                Ok(value.as_slice())
            };
            match win.push(seq as u32, read) {
                Ok(false) => {}
                Ok(true) => {
                    s.offered += 1;
                    let w = &win;
                    let fill = |input: &mut [i8]| -> Result<()> {
                        w.fill(input, layout, 0.0, 1.0, io.scale, io.zero_point)
                            .map_err(|e| anyhow!("window does not fit the input: {e:?}"))
                    };
                    let out = cycle(
                        k,
                        time_s,
                        &mut dev,
                        inj,
                        &mut s,
                        update_steps,
                        &mut pending_flips,
                        &fill,
                    )?;
                    k += 1;
                    if let Some(inf) = out {
                        let want = clean_input(rec, seq, len, layout, &io);
                        let clean = inf.input == want;
                        let ref_out = reference.run(&want)?;
                        let matches = clean && inf.output == ref_out;
                        s.corrupted_predictions += u64::from(!clean);
                        s.mismatched_predictions += u64::from(!matches);
                        s.predictions.push(Prediction {
                            index: k - 1,
                            at: seq,
                            time_s,
                            file: None,
                            class: top1(&inf.output).map_or(0, |(i, _)| i),
                            scores: dequantize(&inf.output, &io),
                            clean_input: clean,
                            matches_reference: matches,
                        });
                    }
                }
                Err(f) => {
                    let kind = match f {
                        StreamFault::Bus(_) => FaultKind::I2cError,
                        StreamFault::Gap { expected, got } => {
                            let n = u64::from(got.wrapping_sub(expected));
                            s.faults.of(FaultKind::Drop).detected += n.min(drops_pending);
                            drops_pending -= n.min(drops_pending);
                            s.event(seq, time_s, FaultKind::Drop, f.to_string());
                            continue;
                        }
                        StreamFault::Duplicate { .. } => FaultKind::Dup,
                        StreamFault::Stuck { .. } => {
                            if stuck_left > 0 || stuck_open {
                                stuck_open = false;
                                s.faults.of(FaultKind::Stuck).detected += 1;
                            }
                            s.event(seq, time_s, FaultKind::Stuck, f.to_string());
                            continue;
                        }
                        StreamFault::BadSample { .. } => FaultKind::I2cError,
                    };
                    s.faults.of(kind).detected += 1;
                    s.event(seq, time_s, kind, f.to_string());
                }
            }
        }
        if stuck_left == 0 && stuck_open {
            // The episode is over and nothing reported it: it stays
            // injected but not detected (a miss in the tally).
            stuck_open = false;
        }
    }
    // Lost after the last sample: nothing comes after them to reveal the
    // gap, and no window can hold them.
    s.faults.of(FaultKind::Drop).harmless += drops_pending;
    if stuck_left > 0 && stuck_open {
        s.faults.of(FaultKind::Stuck).harmless += 1;
    }
    s.faults.0.retain(|_, c| c.injected > 0);
    s.host_seconds = start.elapsed().as_secs_f64();
    Ok(s)
}

fn io_arena(model: &[u8]) -> Result<usize> {
    Ok(Model::parse(model)
        .map_err(|e| anyhow!("invalid model: {e}"))?
        .arena_len())
}

/// The frame geometry of an image model input: (height, width, channels,
/// layout).
pub fn frame_geometry(shape: &[usize]) -> Result<(usize, usize, usize, FrameLayout)> {
    match shape {
        [1, h, w, c] if matches!(c, 1 | 3) => Ok((*h, *w, *c, FrameLayout::Hwc)),
        [1, c, h, w] if matches!(c, 1 | 3) => Ok((*h, *w, *c, FrameLayout::Chw)),
        [h, w, c] if matches!(c, 1 | 3) => Ok((*h, *w, *c, FrameLayout::Hwc)),
        s => bail!("the model input {s:?} is not an image (NHWC or NCHW with 1 or 3 channels)"),
    }
}

/// Reads the images of an imaging session with the channels the model
/// input wants. Only `i2c-error` (a frame read fails) and the
/// inference-side faults apply to images.
pub fn read_images(model: &[u8], files: &[PathBuf], inj: &Injector) -> Result<Vec<Image>> {
    for k in [FaultKind::Stuck, FaultKind::Drop, FaultKind::Dup] {
        if inj.has(k) {
            bail!(
                "--fault {} applies to sensor streams, not to images",
                k.name()
            );
        }
    }
    let io = io(model)?;
    let (_, _, c, _) = frame_geometry(&io.shape)?;
    files
        .iter()
        .map(|f| super::source::read_image(f, c))
        .collect()
}

/// The imaging pipeline's buffer outside the arena: the largest source
/// frame, as the f32 pixels `mote_board::frame` resizes from.
pub fn image_buffers(images: &[Image]) -> Result<(usize, String)> {
    let big = images
        .iter()
        .max_by_key(|i| i.height * i.width * i.channels)
        .ok_or_else(|| anyhow!("no images to replay"))?;
    let bytes = Frame::buffer_bytes(big.height, big.width, big.channels)
        .ok_or_else(|| anyhow!("{}: the frame does not fit in memory", big.path.display()))?;
    Ok((
        bytes,
        format!(
            "frame of {}x{}x{} f32 (the largest replayed image)",
            big.height, big.width, big.channels
        ),
    ))
}

/// Replays images (see [`read_images`]) through the imaging pipeline.
pub fn run_images(
    model: &[u8],
    images: &[Image],
    mean: f32,
    std: f32,
    inj: &mut Injector,
) -> Result<Session> {
    let start = std::time::Instant::now();
    let io = io(model)?;
    let (h, w, _, layout) = frame_geometry(&io.shape)?;
    let bytes = AlignedBytes::new(model);
    let mut reference = Reference {
        model: Model::parse(bytes.as_slice()).map_err(|e| anyhow!("invalid model: {e}"))?,
        arena: Arena::new(io_arena(model)?),
        cache: HashMap::new(),
    };
    let mut dev = Device::new(model)?;
    let update_steps = dev.update_steps().map_err(|e| anyhow!("{e}"))?.max(1);
    let mut s = Session::new();
    let mut pending_flips = 0u64;
    for (i, img) in images.iter().enumerate() {
        let k = i as u64;
        s.inputs += 1;
        if inj.strikes(FaultKind::I2cError, k) {
            let c = s.faults.of(FaultKind::I2cError);
            c.injected += 1;
            c.detected += 1;
            s.event(
                k,
                k as f64,
                FaultKind::I2cError,
                "frame read failed: Bus".into(),
            );
            continue;
        }
        s.offered += 1;
        let frame = Frame {
            pixels: &img.pixels,
            height: img.height,
            width: img.width,
            channels: img.channels,
        };
        let fill = |input: &mut [i8]| -> Result<()> {
            resize_into(
                &frame,
                input,
                h,
                w,
                layout,
                mean,
                std,
                io.scale,
                io.zero_point,
            )
            .map_err(|e| anyhow!("{}: {e:?}", img.path.display()))
        };
        let mut want = vec![0i8; io.elements];
        fill(&mut want)?;
        let out = cycle(
            s.offered - 1,
            k as f64,
            &mut dev,
            inj,
            &mut s,
            update_steps,
            &mut pending_flips,
            &fill,
        )?;
        if let Some(inf) = out {
            let clean = inf.input == want;
            let matches = clean && inf.output == reference.run(&want)?;
            s.corrupted_predictions += u64::from(!clean);
            s.mismatched_predictions += u64::from(!matches);
            s.predictions.push(Prediction {
                index: k,
                at: k,
                time_s: k as f64,
                file: Some(img.path.display().to_string()),
                class: top1(&inf.output).map_or(0, |(i, _)| i),
                scores: dequantize(&inf.output, &io),
                clean_input: clean,
                matches_reference: matches,
            });
        }
    }
    s.faults.0.retain(|_, c| c.injected > 0);
    s.host_seconds = start.elapsed().as_secs_f64();
    Ok(s)
}
