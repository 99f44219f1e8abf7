//! Reading named tensors from safetensors, `.npz` and `.npy` files.
//!
//! Everything is read into memory and checked: dtype, shape and element count must agree, and
//! every float must be finite where a caller asks for finite values.

use crate::error::ImportError;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The largest tensor file loisim reads (2 GiB): safetensors, `.npz` and `.npy` alike.
pub const MAX_TENSOR_FILE: u64 = 2 << 30;

/// The most bytes loisim decompresses from one `.npz` archive, all members together (2 GiB),
/// counted on the bytes actually read, whatever sizes the archive declares.
pub const MAX_ARCHIVE_BYTES: u64 = 2 << 30;

/// The most bytes the values read from one file may take once widened (integers to `i64`,
/// floats as stored), all tensors together (4 GiB): checked from the shapes before any
/// allocation.
pub const MAX_TENSOR_ALLOCATION: u64 = 4 << 30;

/// The caps a read applies (the constants above; tests lower them).
#[derive(Clone, Copy, Debug)]
struct Limits {
    archive_bytes: u64,
    allocation: u64,
}

const LIMITS: Limits = Limits {
    archive_bytes: MAX_ARCHIVE_BYTES,
    allocation: MAX_TENSOR_ALLOCATION,
};

/// Bytes still allowed for the widened values of one file.
#[derive(Debug)]
struct Budget {
    left: u64,
    limit: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        Self {
            left: limits.allocation,
            limit: limits.allocation,
        }
    }

    /// Takes `n` elements of `width` bytes each from the budget (checked arithmetic).
    fn take(&mut self, what: &str, n: usize, width: u64) -> Result<(), String> {
        match (n as u64).checked_mul(width) {
            Some(b) if b <= self.left => {
                self.left -= b;
                Ok(())
            }
            b => Err(format!(
                "{what}: {n} elements of {width} bytes ({}) take more than the {} bytes loisim allocates for the tensors of one file",
                b.map_or_else(|| "overflow".to_string(), |b| format!("{b} bytes")),
                self.limit
            )),
        }
    }
}

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
    read_file_within(path, MAX_TENSOR_FILE)
}

/// Reads a whole file of at most `cap` bytes. The cap holds on the bytes actually read, not
/// only on the size the file system reports (a pipe or a device reports 0).
pub(crate) fn read_file_within(path: &Path, cap: u64) -> Result<Vec<u8>, ImportError> {
    use std::io::Read;
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
    let too_big = |len: u64| {
        ImportError::invalid(
            path,
            format!("is {len} bytes or more, larger than the {cap} loisim reads"),
        )
    };
    if meta.len() > cap {
        return Err(too_big(meta.len()));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(cap + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Largest JSON description read (an export v1 `model.json`, a qconfig): 64 MiB, far above the
/// few kilobytes these files hold.
pub const MAX_JSON_FILE: u64 = 64 << 20;

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
        let mut budget = Budget::new(&LIMITS);
        for (name, view) in st.iter() {
            let d = view.data();
            let n = view
                .shape()
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| {
                    ImportError::invalid(path, format!("tensor `{name}`: its shape overflows"))
                })?;
            let width = match view.dtype() {
                Dtype::F32 => 4,
                _ => 8,
            };
            budget
                .take(&format!("tensor `{name}`"), n, width)
                .map_err(|e| ImportError::invalid(path, e))?;
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
            if t.len() != n {
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

    /// Reads an `.npz` archive (stored or deflated members), within [`MAX_TENSOR_FILE`],
    /// [`MAX_ARCHIVE_BYTES`] and [`MAX_TENSOR_ALLOCATION`].
    pub fn read_npz(path: &Path) -> Result<Self, ImportError> {
        Self::read_npz_within(path, &LIMITS)
    }

    fn read_npz_within(path: &Path, limits: &Limits) -> Result<Self, ImportError> {
        let bytes = read_file(path)?;
        let bad = |e: String| ImportError::invalid(path, e);
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| bad(format!("is not a valid .npz (zip) archive: {e}")))?;
        let mut tensors = BTreeMap::new();
        let mut budget = Budget::new(limits);
        // Decompressed bytes still allowed, counted on what is read (a member's declared size
        // can lie).
        let mut left = limits.archive_bytes;
        for k in 0..zip.len() {
            let member = zip
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
            let too_large = || {
                bad(format!(
                    "decompresses to more than {} bytes (at member `{member_name}`), more than loisim reads from one archive",
                    limits.archive_bytes
                ))
            };
            if member.size() > left {
                return Err(too_large());
            }
            let mut data = Vec::new();
            member
                .take(left + 1)
                .read_to_end(&mut data)
                .map_err(|e| bad(format!("cannot decompress member `{member_name}`: {e}")))?;
            if data.len() as u64 > left {
                return Err(too_large());
            }
            left -= data.len() as u64;
            let t = parse_npy_within(&data, &mut budget)
                .map_err(|e| bad(format!("array `{name}`: {e}")))?;
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

/// Parses one `.npy` payload (any integer dtype, float32 or float64; C or Fortran order),
/// within [`MAX_TENSOR_ALLOCATION`].
pub fn parse_npy(bytes: &[u8]) -> Result<Tensor, String> {
    parse_npy_within(bytes, &mut Budget::new(&LIMITS))
}

/// The row-major copy of a column-major `rows x cols` matrix, walking the strides (no index
/// table).
fn fortran_to_c<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    let mut out = Vec::with_capacity(v.len());
    for i in 0..rows {
        out.extend((0..cols).map(|j| v[j * rows + i]));
    }
    out
}

/// Whether the shape in a `.npy` header has an element count that overflows (checked here:
/// the `.npy` reader multiplies the dimensions unchecked).
fn header_shape_overflows(bytes: &[u8]) -> bool {
    let Some(payload) = npy_payload_len(bytes) else {
        return false;
    };
    // The magic and the length fields are binary: only the dictionary is text.
    let text = String::from_utf8_lossy(&bytes[..bytes.len() - payload]);
    let Some(after) = text.split("'shape'").nth(1) else {
        return false;
    };
    let Some(dims) = after
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .map(|(dims, _)| dims)
    else {
        return false;
    };
    dims.split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .try_fold(1u64, |acc, d| {
            d.parse::<u64>().ok().and_then(|d| acc.checked_mul(d))
        })
        .is_none_or(|n| n > isize::MAX as u64)
}

/// Longest `.npy` header accepted, in bytes (numpy's own default `max_header_size`).
pub const MAX_NPY_HEADER: usize = 10_000;

/// Rejects a `.npy` header that a plain (non-structured) array cannot have before npyz parses
/// it: npyz's Python-literal parser backtracks exponentially in the nesting depth of brackets
/// (a 200-byte header with 48 nested braces never finishes). A plain array's header is a
/// dictionary holding a tuple: brackets nest at most two deep outside quoted strings.
fn check_npy_header(bytes: &[u8]) -> Result<(), String> {
    let Some(payload) = npy_payload_len(bytes) else {
        // npyz reports a short or foreign file itself (nothing to parse at length).
        return Ok(());
    };
    let header = &bytes[..bytes.len() - payload];
    if header.len() > MAX_NPY_HEADER {
        return Err(format!(
            "has a {}-byte .npy header, longer than {MAX_NPY_HEADER} bytes (numpy's own limit)",
            header.len()
        ));
    }
    let (mut depth, mut quote) = (0usize, None);
    for &b in header.iter().skip(10) {
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'\'' | b'"') => quote = Some(b),
            (None, b'(' | b'[' | b'{') => {
                depth += 1;
                if depth > 2 {
                    return Err(
                        "has a .npy header nested deeper than a plain array's (structured \
                         dtypes are not supported)"
                            .into(),
                    );
                }
            }
            (None, b')' | b']' | b'}') => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn parse_npy_within(bytes: &[u8], budget: &mut Budget) -> Result<Tensor, String> {
    use npyz::{DType, NpyFile, Order, TypeChar};
    check_npy_header(bytes)?;
    if header_shape_overflows(bytes) {
        return Err("its shape's element count overflows".into());
    }
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
    // Integers are widened to i64; floats keep their size.
    let widened = match ts.type_char() {
        TypeChar::Float => size,
        _ => 8,
    };
    budget.take("the array", n, widened)?;
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
        t.values = match t.values {
            Values::Int(v) => Values::Int(fortran_to_c(&v, r, c)),
            Values::F32(v) => Values::F32(fortran_to_c(&v, r, c)),
            Values::F64(v) => Values::F64(fortran_to_c(&v, r, c)),
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

#[cfg(test)]
mod limit_tests {
    use super::*;
    use std::io::Write;

    /// A version 1 `.npy` file.
    fn npy(descr: &str, fortran: bool, shape: &[usize], data: &[u8]) -> Vec<u8> {
        let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
        let shape = if dims.len() == 1 {
            format!("({},)", dims[0])
        } else {
            format!("({})", dims.join(", "))
        };
        let mut header = format!(
            "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {shape}, }}",
            if fortran { "True" } else { "False" }
        );
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    fn npz(dir: &Path, members: &[(&str, Vec<u8>)]) -> PathBuf {
        let path = dir.join("a.npz");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("create"));
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, data) in members {
            zip.start_file(format!("{name}.npy"), opts).expect("member");
            zip.write_all(data).expect("write");
        }
        zip.finish().expect("finish");
        path
    }

    fn int8s(n: usize) -> Vec<u8> {
        npy("|i1", false, &[n], &vec![7u8; n])
    }

    #[test]
    fn members_adding_up_past_the_archive_cap_are_an_error() {
        let dir = tempfile::tempdir().expect("dir");
        let path = npz(
            dir.path(),
            &[("a", int8s(1000)), ("b", int8s(1000)), ("c", int8s(1000))],
        );
        let ok = TensorFile::read_npz(&path).expect("within the caps");
        assert_eq!(ok.tensors.len(), 3);
        let limits = Limits {
            archive_bytes: 2500,
            ..LIMITS
        };
        let e = TensorFile::read_npz_within(&path, &limits)
            .expect_err("past the cap")
            .to_string();
        assert!(
            e.contains("more than 2500 bytes (at member `c.npy`)"),
            "{e}"
        );
    }

    #[test]
    fn a_member_whose_declared_size_lies_is_capped_on_the_bytes_read() {
        let dir = tempfile::tempdir().expect("dir");
        let path = npz(dir.path(), &[("a", int8s(100_000))]);
        // Declare 100 uncompressed bytes in both the local and the central header: the
        // declared size passes every check, the bytes read do not (the zip reader also refuses
        // a member larger than it declares; `Read::take` bounds the read either way).
        let mut bytes = std::fs::read(&path).expect("read");
        let central = bytes
            .windows(4)
            .position(|w| w == b"PK\x01\x02")
            .expect("central directory");
        bytes[22..26].copy_from_slice(&100u32.to_le_bytes());
        bytes[central + 24..central + 28].copy_from_slice(&100u32.to_le_bytes());
        std::fs::write(&path, &bytes).expect("write");
        let limits = Limits {
            archive_bytes: 10_000,
            ..LIMITS
        };
        let e = TensorFile::read_npz_within(&path, &limits)
            .expect_err("lying size")
            .to_string();
        assert!(
            e.contains("more than 10000 bytes") || e.contains("cannot decompress"),
            "{e}"
        );
    }

    #[test]
    fn widened_values_past_the_allocation_cap_are_refused_before_allocating() {
        let one = int8s(1000);
        // 1000 int8 become 8000 bytes of i64.
        assert!(parse_npy_within(&one, &mut Budget::new(&LIMITS)).is_ok());
        let small = Limits {
            allocation: 7999,
            ..LIMITS
        };
        let e = parse_npy_within(&one, &mut Budget::new(&small)).expect_err("8x");
        assert!(e.contains("1000 elements of 8 bytes (8000 bytes)"), "{e}");
        // The budget is per file: two arrays that fit alone do not fit together.
        let two = Limits {
            allocation: 12_000,
            ..LIMITS
        };
        let dir = tempfile::tempdir().expect("dir");
        let path = npz(dir.path(), &[("a", int8s(1000)), ("b", int8s(1000))]);
        let e = TensorFile::read_npz_within(&path, &two)
            .expect_err("cumulative")
            .to_string();
        assert!(e.contains("array `b`"), "{e}");
        // A shape whose element count overflows is an error, not a wrap.
        let huge = npy("|i1", false, &[1 << 40, 1 << 40], &[]);
        assert!(parse_npy(&huge).is_err());
    }

    /// A version 1 `.npy` file with the header text given as is.
    fn npy_raw(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn the_file_cap_holds_on_the_bytes_read_not_the_reported_size() {
        let dir = tempfile::tempdir().expect("dir");
        let big = dir.path().join("model.json");
        std::fs::File::create(&big)
            .and_then(|f| f.set_len(MAX_JSON_FILE + 1))
            .expect("sparse file");
        let e = read_file_within(&big, MAX_JSON_FILE).expect_err("too big");
        assert!(e.to_string().contains("larger than"), "{e}");
        // A device reports a length of 0 and never ends.
        #[cfg(target_os = "linux")]
        {
            let e = read_file_within(Path::new("/dev/zero"), 4096).expect_err("endless");
            assert!(e.to_string().contains("4097 bytes or more"), "{e}");
        }
        let small = dir.path().join("ok.json");
        std::fs::write(&small, b"{}").expect("write");
        assert_eq!(read_file_within(&small, 2).expect("fits"), b"{}");
    }

    #[test]
    fn a_deeply_nested_header_is_refused_before_npyz_parses_it() {
        // Found by the `npy` fuzz target: npyz's literal parser backtracks exponentially in the
        // nesting depth, so this 200-byte file never finished parsing before the check.
        let braces = "{".repeat(48);
        let header =
            format!("{{'descr': '<i2', 'fortran_order': False, 'shape': (32,{braces} 257, -, }}\n");
        let e = parse_npy(&npy_raw(&header, &[0; 64])).expect_err("nested");
        assert!(e.contains("nested deeper"), "{e}");
        // Brackets inside a quoted string do not count; a plain header still reads.
        let header = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), 'x': '((({{'}\n";
        let t = parse_npy(&npy_raw(header, &[1, 0, 2, 0])).expect("plain");
        assert_eq!(t.shape, vec![2]);
        // A header longer than numpy's limit is refused.
        let long = format!(
            "{{'descr': '<i2', 'fortran_order': False, 'shape': (2,), {}}}\n",
            " ".repeat(MAX_NPY_HEADER)
        );
        let mut bytes = b"\x93NUMPY\x02\x00".to_vec();
        bytes.extend_from_slice(&(long.len() as u32).to_le_bytes());
        bytes.extend_from_slice(long.as_bytes());
        bytes.extend_from_slice(&[1, 0, 2, 0]);
        let e = parse_npy(&bytes).expect_err("long");
        assert!(e.contains("longer than"), "{e}");
    }

    #[test]
    fn a_fortran_order_array_reads_like_its_c_order_twin() {
        let (r, c) = (3usize, 5usize);
        let m = |i: usize, j: usize| (i * 10 + j) as i16 - 20;
        let c_bytes: Vec<u8> = (0..r)
            .flat_map(|i| (0..c).map(move |j| m(i, j)))
            .flat_map(i16::to_le_bytes)
            .collect();
        let f_bytes: Vec<u8> = (0..c)
            .flat_map(|j| (0..r).map(move |i| m(i, j)))
            .flat_map(i16::to_le_bytes)
            .collect();
        let a = parse_npy(&npy("<i2", false, &[r, c], &c_bytes)).expect("C");
        let b = parse_npy(&npy("<i2", true, &[r, c], &f_bytes)).expect("Fortran");
        assert_eq!(a, b);
        assert_eq!(a.shape, vec![r, c]);
        let Values::Int(v) = &a.values else {
            panic!("integers")
        };
        assert_eq!(v[c + 2], i64::from(m(1, 2)));
        let fc: Vec<u8> = (0..c)
            .flat_map(|j| (0..r).map(move |i| m(i, j) as f64 * 0.5))
            .flat_map(f64::to_le_bytes)
            .collect();
        let cc: Vec<u8> = (0..r)
            .flat_map(|i| (0..c).map(move |j| m(i, j) as f64 * 0.5))
            .flat_map(f64::to_le_bytes)
            .collect();
        assert_eq!(
            parse_npy(&npy("<f8", true, &[r, c], &fc)).expect("F f64"),
            parse_npy(&npy("<f8", false, &[r, c], &cc)).expect("C f64")
        );
    }
}
