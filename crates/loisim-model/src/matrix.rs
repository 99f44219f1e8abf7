//! Sparse integer weight matrices, stored by input ("fan-out lists").
//!
//! A matrix maps `n_in` inputs to `n_out` outputs, `y[o] = sum_i W[o, i] * x[i]`, whatever the
//! orientation of the tensor it was imported from. Only non-zero weights are stored, grouped by
//! input and sorted by output inside each group: this is the order in which an event-driven
//! core walks its synapses when the input fires, and a zero input costs nothing.

use crate::fxp::Fmt;
use serde::{Deserialize, Serialize};

/// A sparse matrix with integer weights in one fixed-point format.
///
/// Invariants (established by every constructor): `ptr` has `n_in + 1` non-decreasing entries
/// starting at 0 and ending at `nnz`; output indices are `< n_out` and strictly increasing inside
/// each input's group; no stored weight is zero; every weight fits `fmt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MatrixRepr", into = "MatrixRepr")]
pub struct SparseMatrix {
    n_in: u32,
    n_out: u32,
    fmt: Fmt,
    ptr: Vec<u32>,
    out_idx: Vec<u32>,
    values: Vec<i32>,
}

/// Why a matrix could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(String);

impl SparseMatrix {
    /// Builds a matrix from a function giving `W[out, in]`; zeros are dropped.
    ///
    /// Fails if a weight does not fit `fmt` or the matrix has more than `u32::MAX` entries.
    pub fn from_fn(
        n_in: usize,
        n_out: usize,
        fmt: Fmt,
        mut weight: impl FnMut(usize, usize) -> i64,
    ) -> Result<Self, MatrixError> {
        let n_in32 =
            u32::try_from(n_in).map_err(|_| MatrixError(format!("{n_in} inputs is too many")))?;
        let n_out32 = u32::try_from(n_out)
            .map_err(|_| MatrixError(format!("{n_out} outputs is too many")))?;
        let mut ptr = Vec::with_capacity(n_in + 1);
        let mut out_idx = Vec::new();
        let mut values = Vec::new();
        ptr.push(0u32);
        for i in 0..n_in {
            for o in 0..n_out {
                let w = weight(o, i);
                if w == 0 {
                    continue;
                }
                if !fmt.contains(w) {
                    return Err(MatrixError(format!(
                        "weight [{o}, {i}] = {w} does not fit {} signed bits",
                        fmt.bits
                    )));
                }
                out_idx.push(o as u32);
                values.push(w as i32);
            }
            let n = u32::try_from(values.len())
                .map_err(|_| MatrixError("too many non-zeros".into()))?;
            ptr.push(n);
        }
        Ok(Self {
            n_in: n_in32,
            n_out: n_out32,
            fmt,
            ptr,
            out_idx,
            values,
        })
    }

    /// Builds a matrix from fan-out lists: for each input, `(output, weight)` pairs.
    /// Pairs are sorted here; a duplicate output, an index out of range or a weight that does not
    /// fit `fmt` is an error. Zero weights are dropped.
    pub fn from_fan_out(
        n_in: usize,
        n_out: usize,
        fmt: Fmt,
        fan_out: &[Vec<(u32, i64)>],
    ) -> Result<Self, MatrixError> {
        if fan_out.len() != n_in {
            return Err(MatrixError(format!(
                "{} fan-out lists for {n_in} inputs",
                fan_out.len()
            )));
        }
        let n_in32 =
            u32::try_from(n_in).map_err(|_| MatrixError(format!("{n_in} inputs is too many")))?;
        let n_out32 = u32::try_from(n_out)
            .map_err(|_| MatrixError(format!("{n_out} outputs is too many")))?;
        let mut ptr = Vec::with_capacity(n_in + 1);
        ptr.push(0u32);
        let mut out_idx = Vec::new();
        let mut values = Vec::new();
        for (i, list) in fan_out.iter().enumerate() {
            let mut list: Vec<(u32, i64)> = list.iter().copied().filter(|&(_, w)| w != 0).collect();
            list.sort_unstable_by_key(|&(o, _)| o);
            for (k, &(o, w)) in list.iter().enumerate() {
                if o >= n_out32 {
                    return Err(MatrixError(format!(
                        "input {i} connects to output {o}, but there are {n_out}"
                    )));
                }
                if k > 0 && list[k - 1].0 == o {
                    return Err(MatrixError(format!(
                        "input {i} connects to output {o} twice"
                    )));
                }
                if !fmt.contains(w) {
                    return Err(MatrixError(format!(
                        "weight [{o}, {i}] = {w} does not fit {} signed bits",
                        fmt.bits
                    )));
                }
                out_idx.push(o);
                values.push(w as i32);
            }
            let n = u32::try_from(values.len())
                .map_err(|_| MatrixError("too many non-zeros".into()))?;
            ptr.push(n);
        }
        Ok(Self {
            n_in: n_in32,
            n_out: n_out32,
            fmt,
            ptr,
            out_idx,
            values,
        })
    }

    /// Builds a matrix from raw parts WITHOUT checking any invariant. Exists only so tests can
    /// write files holding invalid matrices and check that loading rejects them.
    #[doc(hidden)]
    pub fn from_raw_parts_unchecked(
        n_in: u32,
        n_out: u32,
        fmt: Fmt,
        ptr: Vec<u32>,
        out_idx: Vec<u32>,
        values: Vec<i32>,
    ) -> Self {
        Self {
            n_in,
            n_out,
            fmt,
            ptr,
            out_idx,
            values,
        }
    }

    /// Number of inputs.
    pub fn n_in(&self) -> usize {
        self.n_in as usize
    }

    /// Number of outputs.
    pub fn n_out(&self) -> usize {
        self.n_out as usize
    }

    /// Weight format.
    pub fn fmt(&self) -> Fmt {
        self.fmt
    }

    /// Number of stored (non-zero) weights.
    pub fn nnz(&self) -> usize {
        self.values.len()
    }

    /// Fraction of non-zero weights, in 0..=1.
    pub fn density(&self) -> f64 {
        let total = self.n_in as f64 * self.n_out as f64;
        if total == 0.0 {
            0.0
        } else {
            self.nnz() as f64 / total
        }
    }

    /// The fan-out of input `i`: output indices (sorted) and their weights.
    pub fn fan_out(&self, i: usize) -> (&[u32], &[i32]) {
        let (a, b) = (self.ptr[i] as usize, self.ptr[i + 1] as usize);
        (&self.out_idx[a..b], &self.values[a..b])
    }

    /// Weight `W[out, in]` (0 when not stored).
    pub fn get(&self, out: usize, inp: usize) -> i64 {
        let (idx, val) = self.fan_out(inp);
        match idx.binary_search(&(out as u32)) {
            Ok(k) => i64::from(val[k]),
            Err(_) => 0,
        }
    }

    /// Every stored entry as `(input, output, weight)`, by input then output.
    pub fn entries(&self) -> impl Iterator<Item = (usize, usize, i64)> + '_ {
        (0..self.n_in()).flat_map(move |i| {
            let (idx, val) = self.fan_out(i);
            idx.iter()
                .zip(val)
                .map(move |(&o, &w)| (i, o as usize, i64::from(w)))
        })
    }

    /// Number of stored weights reaching each output.
    pub fn fan_in_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.n_out()];
        for &o in &self.out_idx {
            counts[o as usize] += 1;
        }
        counts
    }

    /// Number of stored weights leaving each input.
    pub fn fan_out_counts(&self) -> Vec<u32> {
        self.ptr.windows(2).map(|w| w[1] - w[0]).collect()
    }

    /// `y = W x` with int64 wrapping accumulation; callers wrap to 32 bits as the spec requires
    /// (wrapping modulo 2^64 and then 2^32 equals wrapping modulo 2^32 all along).
    pub fn matvec_wrapping(&self, x: &[i64]) -> Vec<i64> {
        let mut acc = vec![0i64; self.n_out()];
        for (i, o, w) in self.entries() {
            acc[o] = acc[o].wrapping_add(x[i].wrapping_mul(w));
        }
        acc
    }
}

/// On-disk layout of a matrix: dense (every weight, zeros included) or sparse with
/// gap-coded output indices. The smaller of the two is written.
#[derive(Serialize, Deserialize)]
enum MatrixRepr {
    Dense {
        n_in: u32,
        n_out: u32,
        fmt: Fmt,
        values: Values,
    },
    Sparse {
        n_in: u32,
        n_out: u32,
        fmt: Fmt,
        counts: Vec<u32>,
        gaps: Vec<u32>,
        values: Values,
    },
}

#[derive(Serialize, Deserialize)]
enum Values {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
}

impl Values {
    fn from_i32(fmt: Fmt, v: impl Iterator<Item = i32>) -> Self {
        // Every weight fits `fmt` (an invariant of SparseMatrix), so the casts are lossless.
        if fmt.bits <= 8 {
            Values::I8(v.map(|x| x as i8).collect())
        } else if fmt.bits <= 16 {
            Values::I16(v.map(|x| x as i16).collect())
        } else {
            Values::I32(v.collect())
        }
    }

    fn into_i32(self) -> Vec<i32> {
        match self {
            Values::I8(v) => v.into_iter().map(i32::from).collect(),
            Values::I16(v) => v.into_iter().map(i32::from).collect(),
            Values::I32(v) => v,
        }
    }
}

impl From<SparseMatrix> for MatrixRepr {
    fn from(m: SparseMatrix) -> Self {
        let dense_len = u64::from(m.n_in) * u64::from(m.n_out);
        let value_bytes: u64 = if m.fmt.bits <= 8 { 1 } else { 2 };
        // Sparse costs roughly one byte of gap per entry on top of the value.
        let sparse_cost = m.values.len() as u64 * (value_bytes + 1) + u64::from(m.n_in);
        if dense_len * value_bytes <= sparse_cost {
            let mut dense = vec![0i32; dense_len as usize];
            for (i, o, w) in m.entries() {
                dense[i * m.n_out() + o] = w as i32;
            }
            MatrixRepr::Dense {
                n_in: m.n_in,
                n_out: m.n_out,
                fmt: m.fmt,
                values: Values::from_i32(m.fmt, dense.into_iter()),
            }
        } else {
            let counts = m.fan_out_counts();
            let mut gaps = Vec::with_capacity(m.out_idx.len());
            for i in 0..m.n_in() {
                let (idx, _) = m.fan_out(i);
                let mut next = 0u32;
                for &o in idx {
                    gaps.push(o - next);
                    next = o + 1;
                }
            }
            MatrixRepr::Sparse {
                n_in: m.n_in,
                n_out: m.n_out,
                fmt: m.fmt,
                counts,
                gaps,
                values: Values::from_i32(m.fmt, m.values.into_iter()),
            }
        }
    }
}

impl TryFrom<MatrixRepr> for SparseMatrix {
    type Error = MatrixError;

    fn try_from(r: MatrixRepr) -> Result<Self, MatrixError> {
        // Every matrix of a model has model dimensions; a larger one is corrupt, and its shape
        // must not size an allocation or a loop (a dense 2^32 x 0 matrix holds no values).
        let (MatrixRepr::Dense { n_in, n_out, .. } | MatrixRepr::Sparse { n_in, n_out, .. }) = &r;
        let max = crate::validate::MAX_DIM;
        if *n_in > max || *n_out > max {
            return Err(MatrixError(format!(
                "a {n_out}x{n_in} matrix is larger than any model dimension (at most {max})"
            )));
        }
        match r {
            MatrixRepr::Dense {
                n_in,
                n_out,
                fmt,
                values,
            } => {
                check_fmt(fmt)?;
                let values = values.into_i32();
                let expected = u64::from(n_in) * u64::from(n_out);
                if values.len() as u64 != expected {
                    return Err(MatrixError(format!(
                        "dense {n_out}x{n_in} matrix holds {} values, expected {expected}",
                        values.len()
                    )));
                }
                let n = n_out as usize;
                Self::from_fn(n_in as usize, n, fmt, |o, i| i64::from(values[i * n + o]))
            }
            MatrixRepr::Sparse {
                n_in,
                n_out,
                fmt,
                counts,
                gaps,
                values,
            } => {
                check_fmt(fmt)?;
                let values = values.into_i32();
                if counts.len() != n_in as usize {
                    return Err(MatrixError(format!(
                        "{} fan-out counts for {n_in} inputs",
                        counts.len()
                    )));
                }
                if gaps.len() != values.len() {
                    return Err(MatrixError(format!(
                        "{} indices but {} values",
                        gaps.len(),
                        values.len()
                    )));
                }
                let mut ptr = Vec::with_capacity(counts.len() + 1);
                let mut out_idx = Vec::with_capacity(gaps.len());
                ptr.push(0u32);
                let mut pos = 0usize;
                for (i, &c) in counts.iter().enumerate() {
                    let end = pos
                        .checked_add(c as usize)
                        .filter(|&e| e <= gaps.len())
                        .ok_or_else(|| {
                            MatrixError(format!(
                                "fan-out counts exceed the {} stored entries",
                                gaps.len()
                            ))
                        })?;
                    let mut next = 0u64;
                    for k in pos..end {
                        let o = next + u64::from(gaps[k]);
                        if o >= u64::from(n_out) {
                            return Err(MatrixError(format!(
                                "input {i} connects to output {o}, but there are {n_out}"
                            )));
                        }
                        if values[k] == 0 {
                            return Err(MatrixError(format!(
                                "input {i} stores a zero weight for output {o}"
                            )));
                        }
                        if !fmt.contains(i64::from(values[k])) {
                            return Err(MatrixError(format!(
                                "weight [{o}, {i}] = {} does not fit {} signed bits",
                                values[k], fmt.bits
                            )));
                        }
                        out_idx.push(o as u32);
                        next = o + 1;
                    }
                    pos = end;
                    ptr.push(pos as u32);
                }
                if pos != gaps.len() {
                    return Err(MatrixError(format!(
                        "fan-out counts cover {pos} of the {} stored entries",
                        gaps.len()
                    )));
                }
                Ok(Self {
                    n_in,
                    n_out,
                    fmt,
                    ptr,
                    out_idx,
                    values,
                })
            }
        }
    }
}

fn check_fmt(fmt: Fmt) -> Result<(), MatrixError> {
    if !(2..=32).contains(&fmt.bits) {
        return Err(MatrixError(format!(
            "weight width {} bits is outside 2..=32",
            fmt.bits
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(m: &SparseMatrix) -> SparseMatrix {
        let bytes = postcard::to_allocvec(m).expect("encode");
        postcard::from_bytes(&bytes).expect("decode")
    }

    #[test]
    fn a_matrix_larger_than_any_model_dimension_is_refused_before_allocating() {
        // Found by the model_bin fuzz target: a dense 2^32-1 x 0 matrix holds no values, so
        // its length check passed, and building it allocated 16 GB of row pointers.
        let r = MatrixRepr::Dense {
            n_in: u32::MAX,
            n_out: 0,
            fmt: Fmt::new(8, 0),
            values: Values::I8(vec![]),
        };
        let e = SparseMatrix::try_from(r)
            .expect_err("too large")
            .to_string();
        assert!(e.contains("larger than any model dimension"), "{e}");
        let r = MatrixRepr::Dense {
            n_in: crate::validate::MAX_DIM,
            n_out: 0,
            fmt: Fmt::new(8, 0),
            values: Values::I8(vec![]),
        };
        assert_eq!(
            SparseMatrix::try_from(r).expect("at the limit").n_in(),
            1 << 16
        );
    }

    #[test]
    fn dense_and_sparse_layouts_round_trip() {
        let f = Fmt::new(8, 6);
        let dense =
            SparseMatrix::from_fn(5, 7, f, |o, i| ((o * 7 + i) % 11) as i64 - 5).expect("dense");
        assert_eq!(roundtrip(&dense), dense);
        let sparse =
            SparseMatrix::from_fn(50, 70, f, |o, i| if (o + 3 * i) % 13 == 0 { 9 } else { 0 })
                .expect("sparse");
        assert_eq!(roundtrip(&sparse), sparse);
    }

    #[test]
    fn decoding_rejects_out_of_range_indices_and_inconsistent_counts() {
        let f = Fmt::new(8, 0);
        let bad = SparseMatrix::from_raw_parts_unchecked(
            40,
            40,
            f,
            (0..=40).map(|i| u32::from(i > 0)).collect(),
            vec![45],
            vec![3],
        );
        let bytes = postcard::to_allocvec(&bad).expect("encode");
        let err = postcard::from_bytes::<SparseMatrix>(&bytes).unwrap_err();
        assert!(!err.to_string().is_empty());
        let repr = MatrixRepr::Sparse {
            n_in: 2,
            n_out: 4,
            fmt: f,
            counts: vec![3, 0],
            gaps: vec![0, 0],
            values: Values::I8(vec![1, 1]),
        };
        let e = SparseMatrix::try_from(repr)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("exceed"), "{e}");
        let repr = MatrixRepr::Sparse {
            n_in: 1,
            n_out: 4,
            fmt: f,
            counts: vec![2],
            gaps: vec![2, 3],
            values: Values::I8(vec![1, 1]),
        };
        let e = SparseMatrix::try_from(repr)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("connects to output 6"), "{e}");
    }

    #[test]
    fn out_of_range_weight_is_rejected() {
        let err = SparseMatrix::from_fn(1, 1, Fmt::new(8, 0), |_, _| 200).unwrap_err();
        assert!(
            err.to_string().contains("does not fit 8 signed bits"),
            "{err}"
        );
    }

    proptest! {
        #[test]
        fn matvec_matches_dense_product(
            n_in in 1usize..20, n_out in 1usize..20, seed in any::<u64>(), x in proptest::collection::vec(-1000i64..1000, 20)
        ) {
            let w = |o: usize, i: usize| -> i64 {
                let h = seed.wrapping_mul(6364136223846793005).wrapping_add((o * 31 + i) as u64);
                if h % 3 == 0 { ((h >> 8) % 255) as i64 - 127 } else { 0 }
            };
            let m = SparseMatrix::from_fn(n_in, n_out, Fmt::new(8, 0), w).expect("build");
            let y = m.matvec_wrapping(&x[..n_in]);
            for (o, &yo) in y.iter().enumerate() {
                let expected: i64 = (0..n_in).map(|i| w(o, i) * x[i]).sum();
                prop_assert_eq!(yo, expected);
                for i in 0..n_in { prop_assert_eq!(m.get(o, i), w(o, i)); }
            }
            prop_assert_eq!(roundtrip(&m), m.clone());
            prop_assert_eq!(m.fan_in_counts().iter().sum::<u32>() as usize, m.nnz());
        }
    }
}
