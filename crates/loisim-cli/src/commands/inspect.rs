//! `loisim inspect`: what a model is and what it costs to store and compute.

use anyhow::Result;
use clap::Args;
use loisim_model::stats::ModelStats;
use loisim_model::{Fmt, Model};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Arguments of `loisim inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The model (`model.bin`) or a lava-dl netx network (`.net`, recognised by content).
    #[arg(value_name = "MODEL")]
    model: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    netx: crate::commands::common::NetxArgs,
}

#[derive(Serialize)]
struct MatrixJson {
    name: String,
    n_in: usize,
    n_out: usize,
    bits: u32,
    exp: i32,
    nnz: usize,
    density: f64,
}

#[derive(Serialize)]
struct InspectJson {
    name: String,
    provenance: String,
    d_input: u32,
    d_model: u32,
    d_state: u32,
    d_output: u32,
    n_layers: u32,
    matrices: Vec<MatrixJson>,
    n_params_dense: u64,
    n_params_nnz: u64,
    param_bits_dense: u64,
    param_bits_nnz: u64,
    macs_per_token_dense: u64,
    macs_per_token_effective: u64,
}

fn fmt(f: Fmt) -> String {
    format!("{}", f)
}

/// The text report.
pub fn report(model: &Model) -> String {
    let s = ModelStats::of(model);
    let d = model.dims;
    let mut out = String::new();
    let _ = writeln!(out, "model      {}", model.name);
    let _ = writeln!(out, "source     {}", model.provenance);
    let _ = writeln!(
        out,
        "dims       d_input {}  d_model (H) {}  d_state (P, complex) {}  d_output {}  layers {}",
        d.d_input, d.d_model, d.d_state, d.d_output, d.n_layers
    );
    let _ = writeln!(
        out,
        "formats    input {} (offset {})  encoder out {}  output {}   (Qbits.exp: exp fraction bits)",
        fmt(model.input.fmt),
        model.input.offset,
        fmt(model.encoder.out),
        fmt(model.output())
    );
    for (l, b) in model.layers.iter().enumerate() {
        let _ = writeln!(
            out,
            "  layer {l}  bn sub {} mul {}  u {}  Bu {}/{}  x {}/{}  y {}  out2 {}  gate {}  residual {}",
            fmt(b.norm.sub),
            fmt(b.norm.mul),
            fmt(b.ssm.u),
            fmt(b.ssm.bu_re),
            fmt(b.ssm.bu_im),
            fmt(b.ssm.x_re),
            fmt(b.ssm.x_im),
            fmt(b.ssm.y),
            fmt(b.out2.out),
            fmt(b.multgate.res),
            fmt(b.residual)
        );
    }
    let _ = writeln!(out, "\nmatrices");
    let _ = writeln!(
        out,
        "  {:<16} {:>11} {:>7} {:>9} {:>8}",
        "name", "in -> out", "format", "nnz", "density"
    );
    for (name, m) in model.matrices() {
        let _ = writeln!(
            out,
            "  {:<16} {:>11} {:>7} {:>9} {:>7.1}%",
            name,
            format!("{}->{}", m.n_in(), m.n_out()),
            fmt(m.fmt()),
            m.nnz(),
            100.0 * m.density()
        );
    }
    let kib = |bits: u64| bits as f64 / 8.0 / 1024.0;
    let _ = writeln!(
        out,
        "\nmemory     parameters stored: {} ({} bits = {:.1} KiB); dense: {} ({} bits = {:.1} KiB)",
        s.n_params_nnz,
        s.param_bits_nnz,
        kib(s.param_bits_nnz),
        s.n_params_dense,
        s.param_bits_dense,
        kib(s.param_bits_dense)
    );
    let _ = writeln!(
        out,
        "compute    MACs per token: dense {}, effective (non-zero weights) {} ({:.1}% of dense); elementwise {}",
        s.macs_dense,
        s.macs_effective,
        100.0 * s.macs_effective as f64 / s.macs_dense.max(1) as f64,
        s.macs_elementwise
    );
    out
}

/// Runs `loisim inspect`.
pub fn execute(args: InspectArgs) -> Result<()> {
    if loisim::netx::is_netx(&args.model) {
        let netx = loisim::netx::load_netx(&args.model, &args.netx.options()?)?;
        let summary = netx.summary();
        if args.json {
            outln!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            out!("{}", summary.text());
        }
        return Ok(());
    }
    args.netx.refuse()?;
    let model = loisim::load_model(&args.model)?;
    if args.json {
        let s = ModelStats::of(&model);
        let d = model.dims;
        let j = InspectJson {
            name: model.name.clone(),
            provenance: model.provenance.clone(),
            d_input: d.d_input,
            d_model: d.d_model,
            d_state: d.d_state,
            d_output: d.d_output,
            n_layers: d.n_layers,
            matrices: model
                .matrices()
                .into_iter()
                .map(|(name, m)| MatrixJson {
                    name,
                    n_in: m.n_in(),
                    n_out: m.n_out(),
                    bits: m.fmt().bits,
                    exp: m.fmt().exp,
                    nnz: m.nnz(),
                    density: m.density(),
                })
                .collect(),
            n_params_dense: s.n_params_dense,
            n_params_nnz: s.n_params_nnz,
            param_bits_dense: s.param_bits_dense,
            param_bits_nnz: s.param_bits_nnz,
            macs_per_token_dense: s.macs_dense,
            macs_per_token_effective: s.macs_effective,
        };
        outln!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        out!("{}", report(&model));
    }
    Ok(())
}
