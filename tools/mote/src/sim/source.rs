//! Reading replay data: sensor streams (CSV or `.npy`) and images (PNG or
//! DICOM). Values are decoded here; every step a device would also do
//! (DICOM rescale and window, resizing, quantizing) is `mote-board` code.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use dicom_pixeldata::{ConvertOptions, ModalityLutOption, PhotometricInterpretation, PixelDecoder};
use mote_board::frame::{rescale, voi_linear};

use crate::npy::{self, Array};

/// A recorded multi-channel stream: `values` holds `samples x channels`.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Channel names (from a CSV header, else `ch0`, `ch1`, ...).
    pub names: Vec<String>,
    /// Values per sample.
    pub channels: usize,
    /// The samples, interleaved.
    pub values: Vec<f32>,
}

impl Recording {
    /// Number of samples.
    pub fn samples(&self) -> usize {
        self.values.len() / self.channels.max(1)
    }

    /// Sample `i`.
    pub fn sample(&self, i: usize) -> &[f32] {
        &self.values[i * self.channels..(i + 1) * self.channels]
    }
}

/// Whether `path` is a stream file (CSV or `.npy`) rather than an image.
pub fn is_stream(path: &Path) -> bool {
    matches!(ext(path).as_str(), "csv" | "npy" | "txt")
}

fn ext(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Reads a stream: CSV (comma-separated numbers, one sample per line, an
/// optional header line of names) or a float32 `.npy` of shape
/// `[samples, channels]` (or `[samples]`).
pub fn read_stream(path: &Path) -> Result<Recording> {
    let rec = if ext(path) == "npy" {
        let (shape, data) = npy::read(path)?;
        let Array::F32(values) = data else {
            bail!("{}: a sensor stream must be float32", path.display());
        };
        let channels = match shape.as_slice() {
            [_] => 1,
            [_, c] => *c,
            s => bail!(
                "{}: a sensor stream must have shape [samples, channels], not {s:?}",
                path.display()
            ),
        };
        Recording {
            names: (0..channels).map(|i| format!("ch{i}")).collect(),
            channels,
            values,
        }
    } else {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        parse_csv(&text).with_context(|| format!("{}", path.display()))?
    };
    if rec.channels == 0 || rec.values.is_empty() {
        bail!("{}: the stream holds no samples", path.display());
    }
    if let Some(i) = rec.values.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: sample {} holds a non-finite value",
            path.display(),
            i / rec.channels
        );
    }
    Ok(rec)
}

fn parse_csv(text: &str) -> Result<Recording> {
    let mut names = None;
    let mut values = Vec::new();
    let mut channels = 0;
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let nums: Option<Vec<f32>> = fields.iter().map(|f| f.parse().ok()).collect();
        match nums {
            None if channels == 0 && names.is_none() => {
                names = Some(fields.iter().map(|s| s.to_string()).collect::<Vec<_>>());
                channels = fields.len();
            }
            None => bail!("line {}: '{line}' is not all numbers", n + 1),
            Some(v) => {
                if channels == 0 {
                    channels = v.len();
                }
                if v.len() != channels {
                    bail!("line {} has {} values, expected {channels}", n + 1, v.len());
                }
                values.extend(v);
            }
        }
    }
    let names = names.unwrap_or_else(|| (0..channels).map(|i| format!("ch{i}")).collect());
    Ok(Recording {
        names,
        channels,
        values,
    })
}

/// A decoded image: `pixels` are `[h][w][c]` values in `[0, 1]`.
#[derive(Debug, Clone)]
pub struct Image {
    /// Where it came from.
    pub path: PathBuf,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel (1 or 3).
    pub channels: usize,
    /// The pixels.
    pub pixels: Vec<f32>,
}

/// Expands directories (sorted, their PNG and DICOM files) into files.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(ext(f).as_str(), "png" | "dcm" | "dicom"))
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("{}: no .png or .dcm files", p.display());
            }
            out.extend(files);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Reads a PNG or DICOM image with `channels` values per pixel (1: grey,
/// 3: RGB).
pub fn read_image(path: &Path, channels: usize) -> Result<Image> {
    if !path.exists() {
        bail!("cannot read {}: no such file", path.display());
    }
    match ext(path).as_str() {
        "dcm" | "dicom" => read_dicom(path, channels),
        _ => read_png(path, channels),
    }
}

fn read_png(path: &Path, channels: usize) -> Result<Image> {
    let img = image::open(path)
        .with_context(|| format!("{}: not a readable PNG image", path.display()))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pixels: Vec<f32> = if channels == 1 {
        img.to_luma8()
            .into_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect()
    } else {
        img.to_rgb8()
            .into_raw()
            .iter()
            .map(|&v| f32::from(v) / 255.0)
            .collect()
    };
    Ok(Image {
        path: path.into(),
        height: h,
        width: w,
        channels: if channels == 1 { 1 } else { 3 },
        pixels,
    })
}

/// DICOM grey-scale: the stored values (8, 12 or 16 bit, signed or not),
/// rescaled by RescaleSlope/Intercept, then the first Window Center/Width
/// (PS3.3 C.11.2.1.2), or the image's own min-max when it has no window.
/// MONOCHROME1 is inverted. The first frame is used.
fn read_dicom(path: &Path, channels: usize) -> Result<Image> {
    let obj = dicom_object::open_file(path)
        .map_err(|e| anyhow!("{}: not a readable DICOM file: {e}", path.display()))?;
    let px = obj
        .decode_pixel_data()
        .map_err(|e| anyhow!("{}: cannot decode its pixel data: {e}", path.display()))?;
    let (h, w) = (px.rows() as usize, px.columns() as usize);
    if px.samples_per_pixel() != 1 {
        bail!(
            "{}: only grey-scale DICOM (1 sample per pixel) is supported, not {}",
            path.display(),
            px.samples_per_pixel()
        );
    }
    let stored: Vec<f32> = px
        .to_vec_frame_with_options(
            0,
            &ConvertOptions::new().with_modality_lut(ModalityLutOption::None),
        )
        .map_err(|e| anyhow!("{}: cannot read its pixels: {e}", path.display()))?;
    let r = px
        .rescale()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .first()
        .copied()
        .ok_or_else(|| anyhow!("{}: no rescale parameters", path.display()))?;
    let units: Vec<f32> = stored
        .iter()
        .map(|&s| rescale(s, r.slope as f32, r.intercept as f32))
        .collect();
    let window = px
        .window()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .and_then(|w| w.first().copied());
    let (center, width) = match window {
        Some(win) => (win.center as f32, win.width as f32),
        None => {
            let lo = units.iter().copied().fold(f32::INFINITY, f32::min);
            let hi = units.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            // The window whose linear ramp spans [lo, hi].
            ((lo + hi) / 2.0 + 0.5, (hi - lo) + 1.0)
        }
    };
    let invert = matches!(
        px.photometric_interpretation(),
        PhotometricInterpretation::Monochrome1
    );
    let grey = units.iter().map(|&u| {
        let v = voi_linear(u, center, width);
        if invert {
            1.0 - v
        } else {
            v
        }
    });
    let pixels: Vec<f32> = if channels == 1 {
        grey.collect()
    } else {
        grey.flat_map(|v| [v, v, v]).collect()
    };
    if pixels.len() != h * w * if channels == 1 { 1 } else { 3 } {
        bail!("{}: pixel data does not match {h}x{w}", path.display());
    }
    Ok(Image {
        path: path.into(),
        height: h,
        width: w,
        channels: if channels == 1 { 1 } else { 3 },
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_and_without_header() {
        let r = parse_csv("x,y\n1,2\n3,4\n").unwrap();
        assert_eq!((r.channels, r.samples(), r.names[1].as_str()), (2, 2, "y"));
        let r = parse_csv("1, 2\n\n3,4\n").unwrap();
        assert_eq!(r.values, [1.0, 2.0, 3.0, 4.0]);
        assert!(parse_csv("1,2\n3\n").is_err());
        assert!(parse_csv("1,2\na,b\n").is_err());
    }
}
