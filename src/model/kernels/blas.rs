//! Single-precision matrix products through the system's OpenBLAS (Debian's
//! `libopenblas0-pthread`).
//!
//! candle's CPU backend multiplies with the `gemm` crate, which reaches about a third of what
//! OpenBLAS's Zen kernels do on the machines this project trains on (benches/model.rs), and
//! the transformer step is bound by these products. The FFI call is the one unsafe operation
//! here; [`sgemm`] checks every dimension and extent against the slices it is given first, so
//! the rest of the crate calls it safely.
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::Once;

#[link(name = "openblas")]
unsafe extern "C" {
    fn cblas_sgemm(
        layout: c_int,
        transa: c_int,
        transb: c_int,
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f32,
        a: *const f32,
        lda: c_int,
        b: *const f32,
        ldb: c_int,
        beta: f32,
        c: *mut f32,
        ldc: c_int,
    );
    fn openblas_set_num_threads(threads: c_int);
}

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

/// A read-only `rows × cols` matrix in a slice, row-major (`ld` apart) or transposed (column
/// `j` starts at `j·ld`), the two layouts BLAS reads without a copy.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    transposed: bool,
    ld: usize,
}

impl<'a> MatRef<'a> {
    /// Element `(i, j)` at `data[i·row_stride + j·col_stride]`. `None` when neither stride is 1
    /// (BLAS cannot read the layout; make the tensor contiguous) or `data` is too short.
    pub fn new(data: &'a [f32], rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<Self> {
        let (transposed, ld) = blas_layout(rows, cols, row_stride, col_stride)?;
        let extent = if rows == 0 || cols == 0 {
            0
        } else if transposed {
            (cols - 1) * ld + rows
        } else {
            (rows - 1) * ld + cols
        };
        (data.len() >= extent).then_some(Self { data, rows, cols, transposed, ld })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Rows `start..end` of the matrix.
    pub fn row_range(&self, start: usize, end: usize) -> Self {
        let end = end.min(self.rows);
        let start = start.min(end);
        let offset = if self.transposed { start } else { start * self.ld };
        Self { data: self.data.get(offset..).unwrap_or_default(), rows: end - start, ..*self }
    }

    /// The same elements read as the transpose (`cols × rows`).
    pub fn t(&self) -> Self {
        Self { rows: self.cols, cols: self.rows, transposed: !self.transposed, ..*self }
    }
}

/// Whether a `rows × cols` block with these strides is in one of BLAS's two layouts, and
/// with which leading dimension. Unit dimensions accept any stride.
pub fn blas_layout(rows: usize, cols: usize, row_stride: usize, col_stride: usize) -> Option<(bool, usize)> {
    if (col_stride == 1 || cols <= 1) && (rows <= 1 || row_stride >= cols.max(1)) {
        let ld = if rows <= 1 { cols.max(1) } else { row_stride };
        return Some((false, ld));
    }
    if (row_stride == 1 || rows <= 1) && (cols <= 1 || col_stride >= rows.max(1)) {
        let ld = if cols <= 1 { rows.max(1) } else { col_stride };
        return Some((true, ld));
    }
    None
}

/// Why [`sgemm`] refused its arguments (a bug in the caller, reported as a candle error).
#[derive(Debug, thiserror::Error)]
#[error("sgemm: {0}")]
pub struct SgemmError(String);

/// `c ← α·a·b + β·c` for `c` row-major `a.rows() × b.cols()` with rows `ldc` apart, on the
/// calling thread. With `β = 0` the previous contents of `c` are never read.
pub fn sgemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: &mut [f32], ldc: usize) -> Result<(), SgemmError> {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    if b.rows != k {
        return Err(SgemmError(format!("inner dimensions differ: {m}×{k} times {}×{n}", b.rows)));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if ldc < n || c.len() < (m - 1) * ldc + n {
        return Err(SgemmError(format!("output of {} elements with ldc {ldc} cannot hold {m}×{n}", c.len())));
    }
    if k == 0 {
        // BLAS would only scale c by β.
        for row in c.chunks_mut(ldc).take(m) {
            row[..n].iter_mut().for_each(|x| *x *= beta);
        }
        return Ok(());
    }
    let int = |x: usize| c_int::try_from(x).map_err(|_| SgemmError(format!("dimension {x} exceeds a C int")));
    let (mi, ni, ki, lda, ldb, ldci) = (int(m)?, int(n)?, int(k)?, int(a.ld)?, int(b.ld)?, int(ldc)?);
    let trans = |t: bool| if t { TRANS } else { NO_TRANS };
    single_threaded_blas();
    // SAFETY: `MatRef::new` checked that `a.data` holds every element of the m×k operand in its
    // layout and `b.data` every element of the k×n one; the check above did the same for the
    // m×n output with `ldc`. All sizes fit in a C int. OpenBLAS reads only within those extents
    // and writes only `c`, which we borrow mutably for the call.
    unsafe {
        cblas_sgemm(
            ROW_MAJOR,
            trans(a.transposed),
            trans(b.transposed),
            mi,
            ni,
            ki,
            alpha,
            a.data.as_ptr(),
            lda,
            b.data.as_ptr(),
            ldb,
            beta,
            c.as_mut_ptr(),
            ldci,
        );
    }
    Ok(())
}

/// OpenBLAS runs each call on the calling thread: the kernels split work over candle's CPU
/// pool themselves, and OpenBLAS's own spinning workers would compete with that pool for the
/// same cores.
fn single_threaded_blas() {
    static ONCE: Once = Once::new();
    // SAFETY: sets a process-wide thread count inside OpenBLAS; takes no pointers.
    ONCE.call_once(|| unsafe { openblas_set_num_threads(1) });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plain triple loop over `(i, j) → f(i, j)` accessors.
    fn reference(
        m: usize,
        n: usize,
        k: usize,
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
    ) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|p| a(i, p) * b(p, j)).sum();
            }
        }
        c
    }

    #[test]
    fn all_four_layout_pairs_match_the_triple_loop() {
        let (m, k, n) = (5, 7, 3);
        let values = |len: usize, seed: f32| (0..len).map(|i| ((i as f32 + seed) * 0.37).sin()).collect::<Vec<_>>();
        let (a_rows, a_cols) = (values(m * k, 1.0), values(k * m, 2.0));
        let (b_rows, b_cols) = (values(k * n, 3.0), values(n * k, 4.0));
        for a_transposed in [false, true] {
            for b_transposed in [false, true] {
                let (a, a_at): (MatRef, Box<dyn Fn(usize, usize) -> f32>) = if a_transposed {
                    (MatRef::new(&a_cols, m, k, 1, m).unwrap(), Box::new(|i, p| a_cols[p * m + i]))
                } else {
                    (MatRef::new(&a_rows, m, k, k, 1).unwrap(), Box::new(|i, p| a_rows[i * k + p]))
                };
                let (b, b_at): (MatRef, Box<dyn Fn(usize, usize) -> f32>) = if b_transposed {
                    (MatRef::new(&b_cols, k, n, 1, k).unwrap(), Box::new(|p, j| b_cols[j * k + p]))
                } else {
                    (MatRef::new(&b_rows, k, n, n, 1).unwrap(), Box::new(|p, j| b_rows[p * n + j]))
                };
                let mut c = vec![f32::NAN; m * n];
                sgemm(1.0, a, b, 0.0, &mut c, n).unwrap();
                let want = reference(m, n, k, a_at, b_at);
                let worst = c.iter().zip(&want).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
                assert!(worst < 1e-5, "a transposed {a_transposed}, b transposed {b_transposed}: off by {worst}");
            }
        }
    }

    #[test]
    fn short_slices_and_unreadable_strides_are_refused() {
        let data = [1.0f32; 11];
        assert!(MatRef::new(&data, 3, 4, 4, 1).is_none(), "needs 12 elements");
        assert!(MatRef::new(&data, 2, 2, 2, 2).is_none(), "neither stride is 1");
        let a = MatRef::new(&data, 2, 3, 3, 1).unwrap();
        let b = MatRef::new(&data, 2, 2, 2, 1).unwrap();
        let err = sgemm(1.0, a, b, 0.0, &mut [0.0; 4], 2).unwrap_err();
        assert!(err.to_string().contains("inner dimensions differ"), "{err}");
        let b = MatRef::new(&data, 3, 2, 2, 1).unwrap();
        let err = sgemm(1.0, a, b, 0.0, &mut [0.0; 3], 2).unwrap_err();
        assert!(err.to_string().contains("cannot hold 2×2"), "{err}");
    }

    #[test]
    fn row_ranges_and_accumulation() {
        // a = [[1, 2], [3, 4], [5, 6]], b = identity: rows 1..3 of a·b, added to ones.
        let a = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0f32, 0.0, 0.0, 1.0];
        let a = MatRef::new(&a, 3, 2, 2, 1).unwrap();
        let b = MatRef::new(&b, 2, 2, 2, 1).unwrap();
        let mut c = [1.0f32; 4];
        sgemm(2.0, a.row_range(1, 3), b, 1.0, &mut c, 2).unwrap();
        assert_eq!(c, [7.0, 9.0, 11.0, 13.0]);
        // The transpose of a transposed view reads the original again.
        let mut c = [0.0f32; 4];
        sgemm(1.0, a.t().t().row_range(0, 2), b, 0.0, &mut c, 2).unwrap();
        assert_eq!(c, [1.0, 2.0, 3.0, 4.0]);
    }
}
