//! Reading named tensors from safetensors, `.npz` and `.npy` files.
//!
//! Everything is read into memory and checked: dtype, shape and element count must agree, and
//! every float must be finite where a caller asks for finite values.

use crate::error::ImportError;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest tensor file loisim reads (2 GiB).
pub const MAX_TENSOR_FILE: u64 = 2 << 30;

/// Element values of a tensor, widened.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// Any integer dtype.
    Int(Vec<i64>),
    /// float32.
    F32(Vec<f32>),
    /// float64.
    F64(Vec<f64>),
}

/// One tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dtype as written in the file (`I8`, `F32`, `<i2`, ...).
    pub dtype: String,
    /// Shape, row-major.
    pub shape: Vec<usize>,
    /// Values in row-major order.
    pub values: Values,
}

impl Tensor {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.values {
            Values::Int(v) => v.len(),
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
        }
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are integers.
    pub fn is_int(&self) -> bool {
        matches!(self.values, Values::Int(_))
    }
}

/// A set of named tensors read from one file.
#[derive(Clone, Debug)]
pub struct TensorFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// The tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
    /// safetensors `__metadata__`, if any.
    pub metadata: BTreeMap<String, String>,
}

pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, ImportError> {
    let io = |e: std::io::Error| ImportError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let meta = std::fs::metadata(path).map_err(io)?;
    if meta.is_dir() {
        return Err(ImportError::invalid(
            path,
            "is a directory, expected a file",
        ));
    }
    if meta.len() > MAX_TENSOR_FILE {
        return Err(ImportError::invalid(
            path,
            format!("is {} bytes, larger than loisim reads", meta.len()),
        ));
    }
    std::fs::read(path).map_err(io)
}

fn le_chunks<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
    data.chunks_exact(N).map(|c| {
        let mut a = [0u8; N];
        a.copy_from_slice(c);
        a
    })
}

impl TensorFile {
    /// Reads a safetensors file.
    pub fn read_safetensors(path: &Path) -> Result<Self, ImportError> {
        let bytes = read_file(path)?;
        Self::parse_safetensors(path, &bytes)
    }

    /// Parses safetensors bytes (`path` is only used in messages).
    pub fn parse_safetensors(path: &Path, bytes: &[u8]) -> Result<Self, ImportError> {
        use safetensors::{Dtype, SafeTensors};
        let st = SafeTensors::deserialize(bytes).map_err(|e| {
            ImportError::invalid(path, format!("is not a valid safetensors file: {e}"))
        })?;
        let (_, meta) = SafeTensors::read_metadata(bytes).map_err(|e| {
            ImportError::invalid(path, format!("is not a valid safetensors file: {e}"))
        })?;
        let metadata: BTreeMap<String, String> = meta
            .metadata()
            .clone()
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
        let mut tensors = BTreeMap::new();
        for (name, view) in st.iter() {
            let d = view.data();
            let values = match view.dtype() {
                Dtype::I8 => Values::Int(d.iter().map(|&b| i64::from(b as i8)).collect()),
                Dtype::U8 => Values::Int(d.iter().map(|&b| i64::from(b)).collect()),
                Dtype::I16 => Values::Int(
                    le_chunks::<2>(d)
                        .map(|c| i64::from(i16::from_le_bytes(c)))
                        .collect(),
                ),
                Dtype::U16 => Values::Int(
                    le_chunks::<2>(d)
                        .map(|c| i64::from(u16::from_le_bytes(c)))
                        .collect(),
                ),
                Dtype::I32 => Values::Int(
                    le_chunks::<4>(d)
                        .map(|c| i64::from(i32::from_le_bytes(c)))
                        .collect(),
                ),
                Dtype::U32 => Values::Int(
                    le_chunks::<4>(d)
                        .map(|c| i64::from(u32::from_le_bytes(c)))
                        .collect(),
                ),
                Dtype::I64 => Values::Int(le_chunks::<8>(d).map(i64::from_le_bytes).collect()),
                Dtype::F32 => Values::F32(le_chunks::<4>(d).map(f32::from_le_bytes).collect()),
                Dtype::F64 => Values::F64(le_chunks::<8>(d).map(f64::from_le_bytes).collect()),
                other => {
                    return Err(ImportError::invalid(
                        path,
                        format!(
                            "tensor `{name}` has dtype {other:?}; loisim reads integer, F32 and F64 tensors"
                        ),
                    ));
                }
            };
            let t = Tensor {
                dtype: format!("{:?}", view.dtype()),
                shape: view.shape().to_vec(),
                values,
            };
            let expected: usize = t.shape.iter().product();
            if t.len() != expected {
                return Err(ImportError::invalid(
                    path,
                    format!(
                        "tensor `{name}` has {} elements for shape {:?}",
                        t.len(),
                        t.shape
                    ),
                ));
            }
            tensors.insert(name.to_string(), t);
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata,
        })
    }

    /// Reads an `.npz` archive (stored or deflated members).
    pub fn read_npz(path: &Path) -> Result<Self, ImportError> {
        let bytes = read_file(path)?;
        let bad = |e: String| ImportError::invalid(path, e);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| bad(format!("is not a valid .npz (zip) archive: {e}")))?;
        let mut tensors = BTreeMap::new();
        for k in 0..zip.len() {
            let mut member = zip
                .by_index(k)
                .map_err(|e| bad(format!("cannot read archive member {k}: {e}")))?;
            let member_name = member
                .name()
                .map_err(|e| bad(format!("archive member {k} has a bad name: {e}")))?
                .to_string();
            let Some(name) = npyz::npz::array_name_from_file_name(&member_name).map(str::to_string)
            else {
                continue;
            };
            if member.size() > MAX_TENSOR_FILE {
                return Err(bad(format!("member `{member_name}` is too large")));
            }
            let mut data = Vec::new();
            member
                .read_to_end(&mut data)
                .map_err(|e| bad(format!("cannot decompress member `{member_name}`: {e}")))?;
            let t = parse_npy(&data).map_err(|e| bad(format!("array `{name}`: {e}")))?;
            tensors.insert(name, t);
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            metadata: BTreeMap::new(),
        })
    }

    /// Reads a checkpoint: `.npz` by extension, safetensors otherwise.
    pub fn read_checkpoint(path: &Path) -> Result<Self, ImportError> {
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("npz"))
        {
            Self::read_npz(path)
        } else {
            Self::read_safetensors(path)
        }
    }

    /// A tensor by name.
    pub fn get(&self, name: &str) -> Result<&Tensor, ImportError> {
        self.tensors
            .get(name)
            .ok_or_else(|| ImportError::MissingTensor {
                path: self.path.clone(),
                name: name.to_string(),
            })
    }
}

/// Parses one `.npy` payload (any integer dtype, float32 or float64; C or Fortran order).
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor, String> {
    use npyz::{DType, NpyFile, Order, TypeChar};
    let npy = NpyFile::new(bytes).map_err(|e| format!("not a valid .npy array: {e}"))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let n: usize = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("shape overflows")?;
    let DType::Plain(ts) = npy.dtype() else {
        return Err("structured or pickled arrays are not supported".into());
    };
    let size = ts.size_field();
    let order = npy.order();
    let dtype = ts.to_string();
    let payload = npy_payload_len(bytes).ok_or("has a malformed .npy header")?;
    if (n as u64).saturating_mul(size) > payload as u64 {
        return Err(format!(
            "holds {payload} data bytes, fewer than its shape {shape:?} needs (truncated?)"
        ));
    }
    fn ints<T: npyz::Deserialize + Into<i64>>(npy: NpyFile<&[u8]>) -> Result<Values, String> {
        let v = npy
            .into_vec::<T>()
            .map_err(|e| format!("cannot read integers (truncated?): {e}"))?;
        Ok(Values::Int(v.into_iter().map(Into::into).collect()))
    }
    let values = match (ts.type_char(), size) {
        (TypeChar::Int, 1) => ints::<i8>(npy)?,
        (TypeChar::Int, 2) => ints::<i16>(npy)?,
        (TypeChar::Int, 4) => ints::<i32>(npy)?,
        (TypeChar::Int, 8) => ints::<i64>(npy)?,
        (TypeChar::Uint, 1) => ints::<u8>(npy)?,
        (TypeChar::Uint, 2) => ints::<u16>(npy)?,
        (TypeChar::Uint, 4) => ints::<u32>(npy)?,
        (TypeChar::Float, 4) => Values::F32(
            npy.into_vec::<f32>()
                .map_err(|e| format!("cannot read floats (truncated?): {e}"))?,
        ),
        (TypeChar::Float, 8) => Values::F64(
            npy.into_vec::<f64>()
                .map_err(|e| format!("cannot read floats (truncated?): {e}"))?,
        ),
        _ => {
            return Err(format!(
                "dtype `{dtype}` is not supported (use an integer, float32 or float64 array)"
            ));
        }
    };
    let mut t = Tensor {
        dtype,
        shape,
        values,
    };
    if t.len() != n {
        return Err(format!(
            "has {} elements, its shape {:?} says {n}",
            t.len(),
            t.shape
        ));
    }
    if order == Order::Fortran && t.shape.len() == 2 {
        let (r, c) = (t.shape[0], t.shape[1]);
        let transpose = |src: &dyn Fn(usize) -> usize| -> Vec<usize> {
            (0..r * c).map(|k| src((k % c) * r + k / c)).collect()
        };
        let idx = transpose(&|k| k);
        t.values = match t.values {
            Values::Int(v) => Values::Int(idx.iter().map(|&k| v[k]).collect()),
            Values::F32(v) => Values::F32(idx.iter().map(|&k| v[k]).collect()),
            Values::F64(v) => Values::F64(idx.iter().map(|&k| v[k]).collect()),
        };
    } else if order == Order::Fortran && t.shape.len() > 2 {
        return Err("Fortran-ordered arrays with more than 2 dimensions are not supported".into());
    }
    Ok(t)
}

/// Bytes after the `.npy` header (format versions 1 to 3), or `None` if the header is malformed.
fn npy_payload_len(bytes: &[u8]) -> Option<usize> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return None;
    }
    let header_end = match bytes[6] {
        1 => 10 + usize::from(u16::from_le_bytes([bytes[8], bytes[9]])),
        2 | 3 if bytes.len() >= 12 => {
            12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize
        }
        _ => return None,
    };
    bytes.len().checked_sub(header_end)
}

/// Reads a `.npy` file.
pub fn read_npy(path: &Path) -> Result<Tensor, ImportError> {
    let bytes = read_file(path)?;
    parse_npy(&bytes).map_err(|e| ImportError::invalid(path, e))
}
