//! `mote`: compress ONNX models into `.mote` files, inspect and run them.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};
use mote_cli::{compress, inspect, npy, read_model, run};

#[derive(Parser)]
#[command(
    name = "mote",
    version,
    about = "Put quantized neural networks on ARM edge devices"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a quantized ONNX model (QDQ or QOperator form) into a .mote file.
    Compress {
        /// The ONNX model.
        model: PathBuf,
        /// Where to write the .mote file.
        #[arg(short, long)]
        output: PathBuf,
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
        /// Calibration samples (float32 .npy with a leading sample axis, or a
        /// directory of .npy files): quantizes a float model to int8.
        #[arg(long)]
        calibration: Option<PathBuf>,
        /// Activation range method: minmax, percentile:<p> (e.g. percentile:99.99) or mse.
        #[arg(long, default_value = "mse")]
        calibrate: String,
        /// Input shape for a model with dynamic dimensions, e.g. 1,3,32,32.
        #[arg(long, value_delimiter = ',')]
        input_shape: Option<Vec<usize>>,
        /// Weights: int8 (quantize, needs --calibration for float models),
        /// int4 (Conv/FC weights on the symmetric grid -7..=7 per output
        /// channel, packed two per byte; int8 activations; needs
        /// --calibration), or keep a float model in float with f32 or f16
        /// weights.
        #[arg(long, default_value = "int8")]
        weights: String,
        /// Nodes to keep in float (f32 compute) in an int8 model, by ONNX node name.
        #[arg(long, value_delimiter = ',')]
        keep_float: Vec<String>,
        /// Float inputs (.npy) to evaluate the result on against the source
        /// model (as `mote eval`), printed with the summary.
        #[arg(long)]
        eval_data: Option<PathBuf>,
        /// Integer labels (.npy) for --eval-data.
        #[arg(long)]
        eval_labels: Option<PathBuf>,
        /// After quantizing, fold each layer's mean output error against the
        /// float model on the calibration data into its bias: empirical
        /// (measured layer by layer, the default when the flag is given
        /// alone) or analytic (weight rounding error times the mean input).
        #[arg(
            long,
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "empirical"
        )]
        bias_correction: Option<String>,
        /// Zero this fraction of the float weights (0.5 or 50%) before
        /// quantizing: the smallest magnitudes across every Conv, depthwise
        /// Conv and fully connected layer.
        #[arg(long)]
        prune: Option<String>,
        /// Prune one layer to its own sparsity, <node name>=<sparsity>
        /// (repeatable); it is left out of the global --prune.
        #[arg(long)]
        prune_layer: Vec<String>,
        /// Choose each layer's int8 weights so its output on the
        /// calibration data stays close to the float model's (GPTQ: rounding
        /// errors compensated column by column) instead of rounding to
        /// nearest: independent (the default when the flag is given alone;
        /// each layer on the float model's inputs) or sequential (layer by
        /// layer on the quantized model's own inputs, each layer first
        /// refitted towards the float model's output).
        #[arg(
            long,
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "independent"
        )]
        optimize_rounding: Option<String>,
        /// Remove this fraction of the output channels (0.25 or 25%) of
        /// every Conv and fully connected layer whose output reaches one
        /// other such layer through per-channel ops; the next layer is
        /// refitted by least squares towards the float model's output.
        #[arg(long)]
        prune_channels: Option<String>,
        /// Skip the least-squares refit: with --prune or --prune-layer, of
        /// each pruned layer's remaining weights; with --prune-channels, of
        /// the next layer.
        #[arg(long)]
        no_reconstruct: bool,
        /// Store each Conv/FC filter sparse (bitmap + non-zero values) where
        /// that is smaller than dense int8: less flash; on a Cortex-M4 about
        /// as many instructions as dense at 50 % unstructured density, and
        /// slower on the host.
        #[arg(long)]
        sparse_weights: bool,
        /// Store each FullyConnected filter (up to 1024 inputs) widened to
        /// 16 bits in the order the Cortex-M DSP kernel reads it: about half
        /// the instructions per MAC there, twice the flash for those
        /// filters. Lossless: outputs are unchanged.
        #[arg(long, conflicts_with = "sparse_weights")]
        wide_fc: bool,
    },
    /// Prune each layer alone at several sparsities, quantize, and measure
    /// the loss against the float model; suggest per-layer levels for a
    /// target weight size.
    PruneScan {
        /// The float ONNX model.
        model: PathBuf,
        /// Calibration samples (float32 .npy, or a directory of .npy).
        #[arg(long)]
        calibration: PathBuf,
        /// Held-out float32 inputs to measure on.
        #[arg(long)]
        data: PathBuf,
        /// Integer class labels (.npy) for --data, for accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Sparsity levels, comma-separated.
        #[arg(long, default_value = "0.25,0.5,0.75")]
        levels: String,
        /// Suggest levels that bring the non-zero int8 weights to this size
        /// (bytes, or KB of 1024 bytes: 16000, 15.5KB).
        #[arg(long)]
        target_size: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Show a .mote file's ops, tensors, sizes and MACs.
    Inspect {
        /// The .mote file.
        model: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print only the mote-runtime cargo features the model needs
        /// (comma-separated), for a firmware that links only its kernels.
        #[arg(long, conflicts_with = "json")]
        features: bool,
    },
    /// List the board profiles `mote sim` knows.
    Boards,
    /// Check a model against a board's flash and RAM, and estimate its latency there.
    Sim {
        /// Board name (see `mote boards`).
        #[arg(long)]
        board: String,
        /// The .mote file.
        #[arg(long)]
        model: PathBuf,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Print the published MLPerf Tiny latency of this benchmark (ic,
        /// kws, vww or ad: TFLite Micro on the STM32L4R5 at 120 MHz) next
        /// to the estimate.
        #[arg(long)]
        reference: Option<String>,
        /// Replay data: a sensor stream (.csv or .npy [samples, channels]) or
        /// images (.png, .dcm, or a directory of them); repeatable for images.
        #[arg(long)]
        sensor: Vec<PathBuf>,
        /// Stream sample rate in Hz.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Samples per window (default: what the model input holds).
        #[arg(long)]
        window: Option<usize>,
        /// Samples between windows (default: the window length).
        #[arg(long)]
        hop: Option<usize>,
        /// Replay the stream this many times back to back.
        #[arg(long, default_value_t = 1)]
        repeat: usize,
        /// Identical stream readings in a row that mean a stuck sensor (0
        /// turns the check off, e.g. for a slow thermometer).
        #[arg(long, default_value_t = mote_cli::sim::session::STUCK_AFTER)]
        stuck_after: usize,
        /// Image normalisation: model input = (pixel in [0, 1] - mean) / std.
        #[arg(long, default_value_t = 0.0)]
        mean: f32,
        /// See --mean.
        #[arg(long, default_value_t = 1.0)]
        std: f32,
        /// Inject a fault: kind:rate=<p> or kind:at=<n> (repeatable). Kinds:
        /// i2c-error, stuck (len=<samples>), drop, dup, flash-bitflip,
        /// store-bitflip, arena-corrupt, brownout.
        #[arg(long)]
        fault: Vec<String>,
        /// Seed of the fault campaign.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write the prediction timeline (.csv or .json).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Draw the signal and the predictions over time (.svg).
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Create an Ed25519 key pair: <name>.key (secret) and <name>.pub.
    Keygen {
        /// Path and base name of the key files.
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign a .mote file with a secret key (in place unless -o is given).
    Sign {
        /// The .mote file.
        model: PathBuf,
        /// The secret key file (<name>.key).
        #[arg(long)]
        key: PathBuf,
        /// Write the signed model here instead of replacing the input.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check a .mote file's signature as the runtime does.
    Verify {
        /// The .mote file.
        model: PathBuf,
        /// The public key file (<name>.pub).
        #[arg(long)]
        pubkey: PathBuf,
    },
    /// Time a .mote model on this host, optionally against tract on an ONNX model.
    Bench {
        /// The .mote file.
        model: PathBuf,
        /// An ONNX model for tract to run on the same input: typed, and for a
        /// float model also optimized.
        #[arg(long)]
        tract: Option<PathBuf>,
        /// Seconds to spend per engine.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
        /// Also measure batch throughput (inferences/s) with 1, 2, 4, … up to
        /// this many worker threads (0: all cores).
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Compare a .mote model with its float ONNX model on the same inputs.
    Eval {
        /// The .mote file.
        model: PathBuf,
        /// The float ONNX model it came from.
        #[arg(long)]
        reference: PathBuf,
        /// Float32 inputs (.npy with a leading sample axis, or a directory of .npy).
        #[arg(long)]
        data: PathBuf,
        /// Integer class labels (.npy), for accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Also write a self-contained HTML report with plots.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Run a .mote model on the host over the samples of a .npy file.
    Run {
        /// The .mote file.
        model: PathBuf,
        /// Input .npy (int8 used as is, float32 quantized with the model's input parameters).
        #[arg(short, long)]
        input: PathBuf,
        /// Output .npy.
        #[arg(short, long)]
        output: PathBuf,
        /// Write float32 outputs (dequantized) instead of int8.
        #[arg(long)]
        dequantize: bool,
        /// Integer class labels (.npy, one per sample): print top-1 accuracy.
        #[arg(long)]
        labels: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    // A bug must never leave a stack trace instead of a message.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("error: internal error in mote: {info}");
    }));
    match std::panic::catch_unwind(|| execute(cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

/// Rust ignores SIGPIPE, so `mote ... | head` would fail on its next write;
/// a command-line tool should end quietly instead, as other Unix tools do.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists;
    // SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Evaluates the .mote file at `model` against float ONNX `reference`.
fn eval_file(
    model: &std::path::Path,
    reference: &std::path::Path,
    data: &std::path::Path,
    labels: Option<&std::path::Path>,
) -> Result<mote_cli::eval::Report> {
    let bytes = read_model(model)?;
    let m = mote_runtime::Model::parse(bytes.as_slice())
        .map_err(|e| anyhow::anyhow!("invalid model {}: {e}", model.display()))?;
    let shape: Vec<usize> = m
        .input(0)
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .shape()
        .iter()
        .map(|&d| d as usize)
        .collect();
    let inputs = mote_cli::quantize::data::load_samples(data, &shape)?;
    let labels = labels.map(npy::read_labels).transpose()?;
    mote_cli::eval::evaluate(bytes.as_slice(), reference, &inputs, labels.as_deref())
}

fn execute(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Compress {
            model,
            output,
            json,
            calibration,
            calibrate,
            input_shape,
            weights,
            keep_float,
            eval_data,
            eval_labels,
            bias_correction,
            prune,
            prune_layer,
            optimize_rounding,
            prune_channels,
            no_reconstruct,
            sparse_weights,
            wide_fc,
        } => {
            let (weight_type, float_model) = match weights.as_str() {
                "int8" | "int4" => (mote_format::WeightType::F32, false),
                "f32" => (mote_format::WeightType::F32, true),
                "f16" => (mote_format::WeightType::F16, true),
                other => anyhow::bail!("--weights must be int8, int4, f32 or f16, not '{other}'"),
            };
            if weights == "int4" && calibration.is_none() {
                anyhow::bail!("--weights int4 needs --calibration (float models are quantized to int4 weights)");
            }
            if float_model && calibration.is_some() && keep_float.is_empty() {
                anyhow::bail!("--weights {weights} keeps the model in float: drop --calibration, or use --keep-float for chosen layers");
            }
            let sequential_rounding = match optimize_rounding.as_deref() {
                None | Some("independent") => false,
                Some("sequential") => true,
                Some(other) => anyhow::bail!(
                    "--optimize-rounding must be independent or sequential, not '{other}'"
                ),
            };
            let mut pruning = mote_cli::quantize::prune::Prune {
                global: prune
                    .as_deref()
                    .map(mote_cli::quantize::prune::sparsity)
                    .transpose()?,
                per_layer: Vec::new(),
            };
            for spec in &prune_layer {
                pruning.add_layer(spec)?;
            }
            let prune_channels = prune_channels
                .as_deref()
                .map(mote_cli::quantize::channels::fraction)
                .transpose()?
                .map(|fraction| mote_cli::quantize::channels::Channels {
                    fraction,
                    reconstruct: !no_reconstruct,
                });
            if no_reconstruct && prune_channels.is_none() && pruning.is_empty() {
                anyhow::bail!(
                    "--no-reconstruct goes with --prune, --prune-layer or --prune-channels"
                );
            }
            if prune_channels.is_some() && calibration.is_none() {
                anyhow::bail!("--prune-channels needs --calibration (the refit and the int8 quantization use it)");
            }
            if !pruning.is_empty() && calibration.is_none() {
                anyhow::bail!("--prune and --prune-layer need --calibration (pruning happens before int8 quantization)");
            }
            let opts = mote_cli::quantize::Options {
                method: calibrate.parse()?,
                input_shape,
                progress: !json,
                keep_float,
                weights: weight_type,
                float_model,
                bias_correction: bias_correction.as_deref().map(str::parse).transpose()?,
                prune: pruning,
                prune_reconstruct: !no_reconstruct,
                optimize_rounding: optimize_rounding.is_some(),
                sequential_rounding,
                int4: weights == "int4",
                prune_channels,
                sparse_weights,
                wide_fc,
            };
            if optimize_rounding.is_some() && calibration.is_none() {
                anyhow::bail!("--optimize-rounding needs --calibration (the float model's data)");
            }
            if opts.bias_correction.is_some() && calibration.is_none() {
                anyhow::bail!("--bias-correction needs --calibration (the float model's data)");
            }
            let s = compress::compress(&model, &output, calibration.as_deref(), &opts)?;
            let eval = match eval_data {
                Some(d) => Some(eval_file(&output, &model, &d, eval_labels.as_deref())?),
                None => None,
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "eval": eval,
                        "output": output.display().to_string(),
                        "file_bytes": s.file_bytes,
                        "weights_bytes": s.weights_bytes,
                        "arena_bytes": s.arena_bytes,
                        "ideal_peak_bytes": s.ideal_peak_bytes,
                        "ops": s.ops,
                        "macs": s.macs,
                        "sparse_weights_bytes": s.sparse_weights_bytes,
                    })
                );
            } else {
                println!(
                    "wrote {}: {} ops, {} B file, {} B weights, arena {} B (ideal layer peak {} B), {} MACs",
                    output.display(),
                    s.ops,
                    s.file_bytes,
                    s.weights_bytes,
                    s.arena_bytes,
                    s.ideal_peak_bytes,
                    s.macs
                );
                if let Some(b) = s.sparse_weights_bytes {
                    eprintln!(
                        "note: many filter weights are zero; --sparse-weights would store the weights in about {b} B instead of {} B (slower kernels: see the README)",
                        s.weights_bytes
                    );
                }
                if let Some(r) = &eval {
                    print!("{}", mote_cli::eval::render(r));
                }
            }
        }
        Command::PruneScan {
            model,
            calibration,
            data,
            labels,
            levels,
            target_size,
            json,
        } => {
            let levels = mote_cli::scan::parse_levels(&levels)?;
            let target = target_size
                .as_deref()
                .map(mote_cli::scan::parse_size)
                .transpose()?;
            let m = mote_cli::import::onnx::load(&model)?;
            let shape = mote_cli::quantize::input_shape(&m, None)?;
            let inputs = mote_cli::quantize::data::load_samples(&data, &shape)?;
            let labels = labels.map(|l| npy::read_labels(&l)).transpose()?;
            let s = mote_cli::scan::scan(&mote_cli::scan::Inputs {
                model: &model,
                calibration: &calibration,
                data: &inputs,
                labels: labels.as_deref(),
                levels: &levels,
                target,
                progress: !json,
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{}", mote_cli::scan::render(&s));
            }
        }
        Command::Eval {
            model,
            reference,
            data,
            labels,
            json,
            report,
        } => {
            let r = eval_file(&model, &reference, &data, labels.as_deref())?;
            if let Some(path) = report {
                let title = format!("Mote evaluation: {}", model.display());
                mote_cli::write::atomic_write(
                    &path,
                    mote_cli::report::html(&r, &title)?.as_bytes(),
                )?;
                eprintln!("wrote {}", path.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", mote_cli::eval::render(&r));
            }
        }
        Command::Bench {
            model,
            tract,
            seconds,
            threads,
            json,
        } => {
            let bytes = read_model(&model)?;
            let budget = std::time::Duration::from_secs_f64(seconds.clamp(0.01, 600.0));
            let t = mote_cli::bench::bench(bytes.as_slice(), tract.as_deref(), budget)?;
            let scan = match threads {
                Some(n) => {
                    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
                    let n = if n == 0 { cores } else { n };
                    Some(mote_cli::throughput::scan(bytes.as_slice(), 64, n)?)
                }
                None => None,
            };
            if json {
                let v = match &scan {
                    Some(s) => serde_json::json!({ "timings": t, "throughput": s }),
                    None => serde_json::to_value(&t)?,
                };
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for s in scan.iter().flatten() {
                    println!(
                        "batch of 64, {} thread(s): {:>10.1} inferences/s ({:.2}x one thread)",
                        s.threads, s.inferences_per_s, s.speedup
                    );
                }
                for e in &t {
                    println!(
                        "{:<28} {:>12.1} us/inference (median of {})",
                        e.engine, e.median_us, e.runs
                    );
                }
                if let [m, peers @ ..] = &t[..] {
                    for p in peers {
                        println!(
                            "ratio {}/{}: {:.2}x",
                            p.engine,
                            m.engine,
                            p.median_us / m.median_us
                        );
                    }
                }
            }
        }
        Command::Boards => print!("{}", mote_cli::sim::boards_table()),
        Command::Sim {
            board,
            model,
            json,
            reference,
            sensor,
            rate,
            window,
            hop,
            repeat,
            stuck_after,
            mean,
            std,
            fault,
            seed,
            out,
            plot,
        } => {
            let b = mote_cli::sim::board(&board)?;
            let reference = reference
                .map(|r| {
                    mote_cli::sim::reference::by_name(&r).ok_or_else(|| {
                        anyhow::anyhow!("unknown --reference '{r}'; known: ic, kws, vww, ad")
                    })
                })
                .transpose()?;
            let specs: Vec<mote_cli::sim::fault::FaultSpec> =
                fault.iter().map(|f| f.parse()).collect::<Result<_>>()?;
            if sensor.is_empty() && (!specs.is_empty() || out.is_some() || plot.is_some()) {
                anyhow::bail!("--fault, --out and --plot need replay data: give --sensor <file>");
            }
            let bytes = read_model(&model)?;
            let fit = mote_cli::sim::check(bytes.as_slice(), b)?;
            let cmp = reference.map(|r| mote_cli::sim::reference::compare(&fit, r));
            if !sensor.is_empty() {
                let replay = mote_cli::sim::Replay {
                    sensor,
                    stream: mote_cli::sim::session::StreamOptions {
                        rate_hz: rate,
                        window,
                        hop,
                        repeat,
                        stuck_after,
                    },
                    mean,
                    std,
                    specs,
                    seed,
                    out,
                    plot,
                };
                let name = model.display().to_string();
                return mote_cli::sim::replay(bytes.as_slice(), &name, fit, &replay, json);
            }
            if fit.fits && json {
                let mut v = serde_json::to_value(&fit)?;
                v["reference"] = serde_json::to_value(&cmp)?;
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if fit.fits {
                print!("{}", mote_cli::sim::render(&fit));
                if let Some(c) = &cmp {
                    print!("{}", mote_cli::sim::reference::render(c, &fit));
                }
            } else {
                anyhow::bail!("{}", fit.overrun(&model.display().to_string()));
            }
        }
        Command::Keygen { out } => {
            let (k, p) = mote_cli::sign::keygen(&out)?;
            println!(
                "wrote {} (secret: keep it off devices) and {}",
                k.display(),
                p.display()
            );
        }
        Command::Sign { model, key, output } => {
            let out = mote_cli::sign::sign(&model, &key, output.as_deref())?;
            println!("signed {}", out.display());
        }
        Command::Verify { model, pubkey } => {
            mote_cli::sign::verify(&model, &pubkey)?;
            println!("{}: signature verified", model.display());
        }
        Command::Inspect {
            model,
            json,
            features,
        } => {
            let bytes = read_model(&model)?;
            if features {
                println!(
                    "{}",
                    mote_cli::features::needed(bytes.as_slice())?.join(",")
                );
                return Ok(());
            }
            let r = inspect::report(bytes.as_slice())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", inspect::render(&r));
            }
        }
        Command::Run {
            model,
            input,
            output,
            dequantize,
            labels,
        } => {
            let bytes = read_model(&model)?;
            let (shape, data) = npy::read(&input)?;
            let out = run::run(bytes.as_slice(), &shape, &data, dequantize)?;
            let acc = match labels {
                Some(l) => Some(run::top1_accuracy(&out, &npy::read_labels(&l)?)?),
                None => None,
            };
            npy::write(&output, &out.shape, &out.data)?;
            println!("wrote {} {:?}", output.display(), out.shape);
            if let Some((correct, total)) = acc {
                println!(
                    "top-1 accuracy: {:.2}% ({correct} of {total})",
                    100.0 * correct as f64 / total.max(1) as f64
                );
            }
        }
    }
    Ok(())
}
