//! Reference cases: a model run recorded by the authors' own fixed-point implementation
//! (`case.safetensors` + `case.json`, spec section 13), and the comparison of loisim's
//! intermediates against them.

use crate::error::ImportError;
use crate::tensors::{TensorFile, Values};
use loisim_model::TokenTrace;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One recorded run.
#[derive(Clone, Debug)]
pub struct ReferenceCase {
    /// The case directory.
    pub dir: PathBuf,
    /// Input integers, one vector per token.
    pub input: Vec<Vec<i32>>,
    /// STFT magnitudes the input was made from.
    pub input_magnitude: Vec<Vec<f32>>,
    /// Every recorded integer tensor by name (`output`, `layers_0.x_re`, ...), `[T, n]`.
    pub tensors: BTreeMap<String, Vec<Vec<i32>>>,
}

/// One intermediate that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Tensor name.
    pub name: String,
    /// First differing token.
    pub token: usize,
    /// First differing element.
    pub index: usize,
    /// Recorded value.
    pub expected: i32,
    /// loisim's value.
    pub got: i32,
    /// Number of differing elements in the tensor.
    pub count: usize,
}

fn rows_i32(
    path: &Path,
    name: &str,
    shape: &[usize],
    values: &Values,
) -> Result<Vec<Vec<i32>>, ImportError> {
    let bad = || {
        ImportError::invalid(
            path,
            format!("tensor `{name}` must be a 2-D integer tensor"),
        )
    };
    let Values::Int(v) = values else {
        return Err(bad());
    };
    let [_, n] = shape else { return Err(bad()) };
    let n = (*n).max(1);
    v.chunks(n)
        .map(|r| {
            r.iter()
                .map(|&x| i32::try_from(x).map_err(|_| bad()))
                .collect()
        })
        .collect()
}

impl ReferenceCase {
    /// Loads `case.safetensors` from a case directory.
    pub fn load(dir: &Path) -> Result<Self, ImportError> {
        let path = dir.join("case.safetensors");
        let file = TensorFile::read_safetensors(&path)?;
        let mut tensors = BTreeMap::new();
        let mut input_magnitude = Vec::new();
        for (name, t) in &file.tensors {
            match name.as_str() {
                "input_magnitude" => {
                    let Values::F32(v) = &t.values else {
                        return Err(ImportError::invalid(&path, "input_magnitude must be F32"));
                    };
                    let n = t.shape.get(1).copied().unwrap_or(1).max(1);
                    input_magnitude = v.chunks(n).map(<[f32]>::to_vec).collect();
                }
                "input_float" => {}
                _ => {
                    tensors.insert(name.clone(), rows_i32(&path, name, &t.shape, &t.values)?);
                }
            }
        }
        let input = tensors
            .get("input")
            .cloned()
            .ok_or_else(|| ImportError::MissingTensor {
                path: path.clone(),
                name: "input".into(),
            })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            input,
            input_magnitude,
            tensors,
        })
    }

    /// Compares loisim's per-token intermediates with every recorded tensor they cover.
    /// Returns one entry per differing tensor (empty when bit-exact) and the number of tensors
    /// compared.
    pub fn compare(&self, traces: &[TokenTrace]) -> (Vec<Mismatch>, usize) {
        let mut mismatches = Vec::new();
        let mut compared = 0;
        for (name, expected) in &self.tensors {
            if name == "input" {
                continue;
            }
            let got: Vec<&[i32]> = traces.iter().filter_map(|t| pick(t, name)).collect();
            if got.len() != traces.len() || traces.is_empty() {
                continue;
            }
            compared += 1;
            let mut first = None;
            let mut count = 0;
            for (t, (e_row, g_row)) in expected.iter().zip(&got).enumerate() {
                if e_row.len() != g_row.len() {
                    count += e_row.len().max(g_row.len());
                    first.get_or_insert((t, 0, 0, 0));
                    continue;
                }
                for (i, (&e, &g)) in e_row.iter().zip(g_row.iter()).enumerate() {
                    if e != g {
                        count += 1;
                        first.get_or_insert((t, i, e, g));
                    }
                }
            }
            if expected.len() != got.len() {
                count += 1;
                first.get_or_insert((expected.len().min(got.len()), 0, 0, 0));
            }
            if let Some((token, index, e, g)) = first {
                mismatches.push(Mismatch {
                    name: name.clone(),
                    token,
                    index,
                    expected: e,
                    got: g,
                    count,
                });
            }
        }
        (mismatches, compared)
    }
}

/// The intermediate of a trace that a recorded tensor name refers to.
pub fn pick<'a>(t: &'a TokenTrace, name: &str) -> Option<&'a [i32]> {
    match name {
        "encoder_out" => return Some(&t.encoder_out),
        "encoder_out_relu" => return Some(&t.encoder_out_relu),
        "output" => return Some(&t.output),
        _ => {}
    }
    let rest = name.strip_prefix("layers_")?;
    let (l, field) = rest.split_once('.')?;
    let lt = t.layers.get(l.parse::<usize>().ok()?)?;
    Some(match field {
        "input" => &lt.input,
        "norm_out" => &lt.norm_out,
        "Bu_re" => &lt.bu_re,
        "Bu_im" => &lt.bu_im,
        "x_re" => &lt.x_re,
        "x_im" => &lt.x_im,
        "ssm_y" => &lt.ssm_y,
        "out2" => &lt.out2,
        "sigmoid" => &lt.sigmoid,
        "gate" => &lt.gate,
        "residual" => &lt.residual,
        "output" => &lt.output,
        _ => return None,
    })
}
