//! Importer for the "S5 fixed-point export v1" layout: `model.json` (formats, dimensions, wiring)
//! plus `model.safetensors` (integer tensors) with the same stem.
//!
//! Validation, beyond what [`loisim_model::Model::validate`] checks: the format tag and version,
//! the model options loisim implements, every referenced tensor present in both files with the
//! declared dtype and shape, every value inside its declared width, the BN output and model
//! output formats consistent with the ops that produce them, and an 8-entry sigmoid table.

use crate::error::ImportError;
use crate::tensors::{Tensor, TensorFile, Values};
use loisim_model::{
    Block, Dense, Dims, Fmt, InputSpec, Model, MultGate, Norm, NormAffine, Sigmoid, SparseMatrix,
    Ssm, Vector,
};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
struct FmtJson {
    bits: i64,
    exp: i64,
    #[serde(default)]
    #[allow(dead_code)]
    exp_source: Option<String>,
}

#[derive(Deserialize)]
struct DimsJson {
    d_input: u32,
    d_model: u32,
    d_state: u32,
    d_output: u32,
    n_layers: u32,
}

#[derive(Deserialize)]
struct OptionsJson {
    conj_sym: bool,
    glu_variant: String,
    prenorm: bool,
    norm: String,
    norm_affine: bool,
    norm_fused: bool,
    relufication: bool,
    discretization: String,
    recurrence: String,
}

#[derive(Deserialize)]
struct InputJson {
    bits: i64,
    exp: i64,
    offset: f64,
    rounding: String,
}

#[derive(Deserialize)]
struct TensorJson {
    bits: i64,
    exp: i64,
    dtype: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
struct DenseJson {
    kernel: String,
    bias: String,
    inp: FmtJson,
    out: FmtJson,
}

#[derive(Deserialize)]
struct NormJson {
    minus_mean: String,
    invsq_var: String,
    scale: Option<String>,
    bias: Option<String>,
    sub: FmtJson,
    mul: FmtJson,
    mul_scale: Option<FmtJson>,
    add_bias: Option<FmtJson>,
    out: FmtJson,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct SsmJson {
    Lambda_bar_re: String,
    Lambda_bar_im: String,
    B_bar_re: String,
    B_bar_im: String,
    C_re: String,
    C_im: String,
    D: String,
    u: FmtJson,
    Bu_re: FmtJson,
    Bu_im: FmtJson,
    x_re: FmtJson,
    x_im: FmtJson,
    y: FmtJson,
}

#[derive(Deserialize)]
struct SigmoidJson {
    x_exp: i64,
    y_exp: i64,
    x_extra: i64,
    n_exp: i64,
    lut: Vec<i64>,
}

#[derive(Deserialize)]
struct MultGateJson {
    l: FmtJson,
    r: FmtJson,
    res: FmtJson,
}

#[derive(Deserialize)]
struct LayerJson {
    norm: NormJson,
    ssm: SsmJson,
    out2: DenseJson,
    sigmoid: SigmoidJson,
    multgate: MultGateJson,
    residual: FmtJson,
}

#[derive(Deserialize)]
struct ExportJson {
    format: String,
    version: serde_json::Value,
    #[serde(default)]
    source: Option<String>,
    dims: DimsJson,
    options: OptionsJson,
    input: InputJson,
    tensors: BTreeMap<String, TensorJson>,
    encoder: DenseJson,
    layers: Vec<LayerJson>,
    decoder: DenseJson,
    output: FmtJson,
}

/// The two files of an export, from either one's path.
pub fn export_paths(path: &Path) -> (PathBuf, PathBuf) {
    (
        path.with_extension("json"),
        path.with_extension("safetensors"),
    )
}

struct Ctx<'a> {
    json_path: &'a Path,
    json: &'a ExportJson,
    st: &'a TensorFile,
}

fn dtype_width(dtype: &str) -> Option<u32> {
    match dtype {
        "I8" => Some(8),
        "I16" => Some(16),
        "I32" => Some(32),
        "I64" => Some(64),
        _ => None,
    }
}

impl Ctx<'_> {
    fn bad(&self, msg: impl Into<String>) -> ImportError {
        ImportError::invalid(self.json_path, msg)
    }

    fn fmt(&self, what: &str, f: &FmtJson) -> Result<Fmt, ImportError> {
        if !(2..=32).contains(&f.bits) || !(-64..=64).contains(&f.exp) {
            return Err(self.bad(format!(
                "{what}: format bits {} exp {} is out of range",
                f.bits, f.exp
            )));
        }
        Ok(Fmt::new(f.bits as u32, f.exp as i32))
    }

    /// A referenced integer tensor: declared in model.json, present in the safetensors with the
    /// declared dtype and `shape`, every value inside the declared width.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<(Fmt, Vec<i64>), ImportError> {
        let decl = self.json.tensors.get(name).ok_or_else(|| {
            self.bad(format!(
                "tensor `{name}` is referenced but not declared in `tensors`"
            ))
        })?;
        let fmt = self.fmt(
            &format!("tensors.{name}"),
            &FmtJson {
                bits: decl.bits,
                exp: decl.exp,
                exp_source: None,
            },
        )?;
        let t: &Tensor = self.st.get(name)?;
        if t.dtype != decl.dtype {
            return Err(ImportError::invalid(
                &self.st.path,
                format!(
                    "tensor `{name}` has dtype {}, model.json declares {}",
                    t.dtype, decl.dtype
                ),
            ));
        }
        match dtype_width(&t.dtype) {
            Some(w) if w >= fmt.bits => {}
            _ => {
                return Err(ImportError::invalid(
                    &self.st.path,
                    format!(
                        "tensor `{name}` has dtype {} which cannot hold {}-bit integers",
                        t.dtype, fmt.bits
                    ),
                ));
            }
        }
        if t.shape != shape || decl.shape != shape {
            return Err(ImportError::invalid(
                &self.st.path,
                format!(
                    "tensor `{name}` has shape {:?} (declared {:?}), expected {shape:?}",
                    t.shape, decl.shape
                ),
            ));
        }
        let Values::Int(v) = &t.values else {
            return Err(ImportError::invalid(
                &self.st.path,
                format!("tensor `{name}` is not an integer tensor"),
            ));
        };
        if let Some((i, &x)) = v.iter().enumerate().find(|&(_, &x)| !fmt.contains(x)) {
            return Err(ImportError::invalid(
                &self.st.path,
                format!(
                    "tensor `{name}` element {i} = {x} does not fit its declared {} signed bits",
                    fmt.bits
                ),
            ));
        }
        Ok((fmt, v.clone()))
    }

    fn vector(&self, name: &str, len: u32) -> Result<Vector, ImportError> {
        let (fmt, v) = self.tensor(name, &[len as usize])?;
        Ok(Vector::new(fmt, v.into_iter().map(|x| x as i32).collect()))
    }

    /// A matrix stored `[in, out]` (Dense kernels) or `[out, in]` (B, C).
    fn matrix(
        &self,
        name: &str,
        n_in: u32,
        n_out: u32,
        in_major: bool,
    ) -> Result<SparseMatrix, ImportError> {
        let (ni, no) = (n_in as usize, n_out as usize);
        let shape = if in_major { [ni, no] } else { [no, ni] };
        let (fmt, v) = self.tensor(name, &shape)?;
        SparseMatrix::from_fn(ni, no, fmt, |o, i| {
            if in_major {
                v[i * no + o]
            } else {
                v[o * ni + i]
            }
        })
        .map_err(|e| ImportError::invalid(&self.st.path, format!("tensor `{name}`: {e}")))
    }

    fn dense(
        &self,
        what: &str,
        d: &DenseJson,
        n_in: u32,
        n_out: u32,
    ) -> Result<Dense, ImportError> {
        Ok(Dense {
            weight: self.matrix(&d.kernel, n_in, n_out, true)?,
            bias: self.vector(&d.bias, n_out)?,
            inp: self.fmt(&format!("{what}.inp"), &d.inp)?,
            out: self.fmt(&format!("{what}.out"), &d.out)?,
        })
    }
}

/// Imports an export v1 model; `path` may name either `model.json` or `model.safetensors`.
pub fn import_export_v1(path: &Path) -> Result<Model, ImportError> {
    let (json_path, st_path) = export_paths(path);
    for p in [&json_path, &st_path] {
        if !p.exists() {
            return Err(ImportError::invalid(
                p,
                "is missing: an S5 fixed-point export v1 needs both model.json and model.safetensors with the same stem",
            ));
        }
    }
    let text = crate::tensors::read_file_within(&json_path, crate::tensors::MAX_JSON_FILE)?;
    let json: ExportJson = serde_json::from_slice(&text).map_err(|e| {
        ImportError::invalid(
            &json_path,
            format!("is not a valid export v1 description: {e}"),
        )
    })?;
    let st = TensorFile::read_safetensors(&st_path)?;
    if let Some(f) = st.metadata.get("format")
        && f != "s5-fxp-export"
    {
        return Err(ImportError::invalid(
            &st_path,
            format!("metadata says format `{f}`, expected `s5-fxp-export`"),
        ));
    }
    let ctx = Ctx {
        json_path: &json_path,
        json: &json,
        st: &st,
    };
    build(&ctx, path)
}

fn build(ctx: &Ctx<'_>, path: &Path) -> Result<Model, ImportError> {
    let json = ctx.json;
    if json.format != "s5-fxp-export" {
        return Err(ctx.bad(format!(
            "format is `{}`, expected `s5-fxp-export`",
            json.format
        )));
    }
    let version_ok = match &json.version {
        serde_json::Value::Number(n) => n.as_u64() == Some(1),
        serde_json::Value::String(s) => s == "1",
        _ => false,
    };
    if !version_ok {
        return Err(ctx.bad(format!(
            "version {} is not supported (loisim reads version 1)",
            json.version
        )));
    }
    let o = &json.options;
    let unsupported = [
        (!o.conj_sym, "conj_sym must be true"),
        (o.glu_variant != "half1", "glu_variant must be \"half1\""),
        (!o.prenorm, "prenorm must be true"),
        (o.norm != "batchnorm", "norm must be \"batchnorm\""),
        (
            o.norm_fused,
            "norm_fused must be false (the fused batch norm is broken upstream, quirk Q10)",
        ),
        (!o.relufication, "relufication must be true"),
        (o.discretization != "zoh", "discretization must be \"zoh\""),
        (
            o.recurrence != "upstream-numpy-v1",
            "recurrence must be \"upstream-numpy-v1\"",
        ),
    ];
    if let Some((_, msg)) = unsupported.iter().find(|(bad, _)| *bad) {
        return Err(ctx.bad(format!("unsupported options: {msg}")));
    }
    let d = &json.dims;
    let dims = Dims {
        d_input: d.d_input,
        d_model: d.d_model,
        d_state: d.d_state,
        d_output: d.d_output,
        n_layers: d.n_layers,
    };
    for (name, v) in [
        ("d_input", d.d_input),
        ("d_model", d.d_model),
        ("d_state", d.d_state),
        ("d_output", d.d_output),
    ] {
        if v == 0 || v > loisim_model::validate::MAX_DIM {
            return Err(ctx.bad(format!("dims.{name} = {v} is out of range")));
        }
    }
    if json.layers.len() != d.n_layers as usize {
        return Err(ctx.bad(format!(
            "dims.n_layers is {} but `layers` has {} entries",
            d.n_layers,
            json.layers.len()
        )));
    }
    if json.input.rounding != "floor" {
        return Err(ctx.bad(format!(
            "input.rounding is `{}`; only \"floor\" is defined",
            json.input.rounding
        )));
    }
    if !json.input.offset.is_finite() {
        return Err(ctx.bad("input.offset must be finite"));
    }
    let input = InputSpec {
        fmt: ctx.fmt(
            "input",
            &FmtJson {
                bits: json.input.bits,
                exp: json.input.exp,
                exp_source: None,
            },
        )?,
        offset: json.input.offset as f32,
    };
    let (h, p) = (d.d_model, d.d_state);
    let encoder = ctx.dense("encoder", &json.encoder, d.d_input, h)?;
    let mut layers = Vec::with_capacity(json.layers.len());
    for (l, lj) in json.layers.iter().enumerate() {
        let path_of = |s: &str| format!("layers[{l}].{s}");
        let nj = &lj.norm;
        let affine = match (&nj.scale, &nj.bias, &nj.mul_scale, &nj.add_bias) {
            (None, None, None, None) => None,
            (Some(s), Some(b), Some(ms), Some(ab)) => Some(NormAffine {
                scale: ctx.vector(s, h)?,
                bias: ctx.vector(b, h)?,
                mul_scale: ctx.fmt(&path_of("norm.mul_scale"), ms)?,
                add_bias: ctx.fmt(&path_of("norm.add_bias"), ab)?,
            }),
            _ => {
                return Err(ctx.bad(format!(
                    "{}: scale, bias, mul_scale and add_bias must be all present or all null",
                    path_of("norm")
                )));
            }
        };
        if affine.is_some() != o.norm_affine {
            return Err(ctx.bad(format!(
                "{}: options.norm_affine disagrees with the norm's tensors",
                path_of("norm")
            )));
        }
        let norm = Norm {
            minus_mean: ctx.vector(&nj.minus_mean, h)?,
            invsq_var: ctx.vector(&nj.invsq_var, h)?,
            sub: ctx.fmt(&path_of("norm.sub"), &nj.sub)?,
            mul: ctx.fmt(&path_of("norm.mul"), &nj.mul)?,
            affine,
        };
        let declared_out = ctx.fmt(&path_of("norm.out"), &nj.out)?;
        if declared_out != norm.out() {
            return Err(ctx.bad(format!(
                "{}: out is {declared_out} but the last norm step produces {}",
                path_of("norm"),
                norm.out()
            )));
        }
        let sj = &lj.ssm;
        let ssm = Ssm {
            lambda_re: ctx.vector(&sj.Lambda_bar_re, p)?,
            lambda_im: ctx.vector(&sj.Lambda_bar_im, p)?,
            b_re: ctx.matrix(&sj.B_bar_re, h, p, false)?,
            b_im: ctx.matrix(&sj.B_bar_im, h, p, false)?,
            c_re: ctx.matrix(&sj.C_re, p, h, false)?,
            c_im: ctx.matrix(&sj.C_im, p, h, false)?,
            d: ctx.vector(&sj.D, h)?,
            u: ctx.fmt(&path_of("ssm.u"), &sj.u)?,
            bu_re: ctx.fmt(&path_of("ssm.Bu_re"), &sj.Bu_re)?,
            bu_im: ctx.fmt(&path_of("ssm.Bu_im"), &sj.Bu_im)?,
            x_re: ctx.fmt(&path_of("ssm.x_re"), &sj.x_re)?,
            x_im: ctx.fmt(&path_of("ssm.x_im"), &sj.x_im)?,
            y: ctx.fmt(&path_of("ssm.y"), &sj.y)?,
        };
        let out2 = ctx.dense(&path_of("out2"), &lj.out2, h, h)?;
        let sg = &lj.sigmoid;
        if sg.x_extra != 3 || sg.n_exp != 3 || sg.lut.len() != 8 {
            return Err(ctx.bad(format!(
                "{}: loisim implements the 8-entry table (x_extra = n_exp = 3); got x_extra {}, n_exp {}, {} entries",
                path_of("sigmoid"),
                sg.x_extra,
                sg.n_exp,
                sg.lut.len()
            )));
        }
        if !(0..=30).contains(&sg.x_exp) || !(1..=30).contains(&sg.y_exp) {
            return Err(ctx.bad(format!(
                "{}: x_exp {} or y_exp {} is out of range",
                path_of("sigmoid"),
                sg.x_exp,
                sg.y_exp
            )));
        }
        if sg.x_exp > i64::from(out2.out.exp) {
            return Err(ctx.bad(format!(
                "{}: x_exp {} exceeds the out2 output exponent {}",
                path_of("sigmoid"),
                sg.x_exp,
                out2.out.exp
            )));
        }
        let mut lut = [0i32; 8];
        for (k, &v) in sg.lut.iter().enumerate() {
            lut[k] = i32::try_from(v).map_err(|_| {
                ctx.bad(format!(
                    "{}: entry {v} is out of range",
                    path_of("sigmoid.lut")
                ))
            })?;
        }
        let sigmoid = Sigmoid {
            x_exp: sg.x_exp as i32,
            y_exp: sg.y_exp as i32,
            lut,
        };
        let mg = &lj.multgate;
        let multgate = MultGate {
            l: ctx.fmt(&path_of("multgate.l"), &mg.l)?,
            r: ctx.fmt(&path_of("multgate.r"), &mg.r)?,
            res: ctx.fmt(&path_of("multgate.res"), &mg.res)?,
        };
        let residual = ctx.fmt(&path_of("residual"), &lj.residual)?;
        layers.push(Block {
            norm,
            ssm,
            out2,
            sigmoid,
            multgate,
            residual,
        });
    }
    let decoder = ctx.dense("decoder", &json.decoder, h, d.d_output)?;
    let output = ctx.fmt("output", &json.output)?;
    if output != decoder.out {
        return Err(ctx.bad(format!(
            "output is {output} but the decoder produces {}",
            decoder.out
        )));
    }
    let name = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "imported".into());
    let model = Model {
        name,
        provenance: format!(
            "S5 fixed-point export v1 ({}){}",
            ctx.json_path.display(),
            json.source
                .as_ref()
                .map(|s| format!("; source: {s}"))
                .unwrap_or_default()
        ),
        dims,
        input,
        encoder,
        layers,
        decoder,
    };
    model.validate()?;
    Ok(model)
}
