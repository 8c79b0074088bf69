//! Principal component analysis to a few dimensions before the neighbour search, as openTSNE
//! and umap-learn's users do: distances in the top 50 components keep the neighbourhoods and
//! cost a fraction of those in the full representation.

/// Sweeps of the cyclic Jacobi eigenvalue method; it converges quadratically, a dozen is ample.
const JACOBI_SWEEPS: usize = 30;

/// The rows (n × `dim`, row-major) centred and projected onto their top `components` principal
/// axes (at most `dim`), n × min(components, dim) row-major. Each axis's sign is fixed so that
/// its largest coefficient is positive, so the result does not depend on the solver's signs.
pub fn pca(data: &[f32], dim: usize, components: usize) -> Vec<f32> {
    let n = data.len().checked_div(dim).unwrap_or(0);
    let k = components.min(dim);
    if n == 0 || k == 0 {
        return Vec::new();
    }
    let mut mean = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        for (m, &v) in mean.iter_mut().zip(row) {
            *m += f64::from(v);
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut covariance = vec![0.0f64; dim * dim];
    let mut centred = vec![0.0f64; dim];
    for row in data.chunks_exact(dim) {
        for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = f64::from(v) - m;
        }
        for a in 0..dim {
            let ca = centred[a];
            let out = &mut covariance[a * dim..a * dim + dim];
            for b in a..dim {
                out[b] += ca * centred[b];
            }
        }
    }
    for a in 0..dim {
        for b in 0..a {
            covariance[a * dim + b] = covariance[b * dim + a];
        }
    }
    let (values, vectors) = symmetric_eigen(&mut covariance, dim);
    let mut order: Vec<usize> = (0..dim).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    // axes[c] = the c-th eigenvector (a column of `vectors`), sign-normalised.
    let axes: Vec<Vec<f64>> = order[..k]
        .iter()
        .map(|&col| {
            let mut axis: Vec<f64> = (0..dim).map(|r| vectors[r * dim + col]).collect();
            let largest = axis.iter().copied().fold(0.0f64, |acc, v| if v.abs() > acc.abs() { v } else { acc });
            if largest < 0.0 {
                axis.iter_mut().for_each(|v| *v = -*v);
            }
            axis
        })
        .collect();
    let mut out = Vec::with_capacity(n * k);
    for row in data.chunks_exact(dim) {
        for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
            *c = f64::from(v) - m;
        }
        for axis in &axes {
            out.push(axis.iter().zip(&centred).map(|(a, c)| a * c).sum::<f64>() as f32);
        }
    }
    out
}

/// Eigen-decomposition of the symmetric `dim` × `dim` matrix `a` (destroyed) by cyclic Jacobi
/// rotations: the eigenvalues and the eigenvectors as the columns of a row-major matrix.
fn symmetric_eigen(a: &mut [f64], dim: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0f64; dim * dim];
    for i in 0..dim {
        v[i * dim + i] = 1.0;
    }
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _ in 0..JACOBI_SWEEPS {
        let off: f64 = (0..dim)
            .flat_map(|p| (0..dim).filter(move |&q| q != p).map(move |q| (p, q)))
            .map(|(p, q)| a[p * dim + q].powi(2))
            .sum();
        if off <= 1e-22 * scale {
            break;
        }
        for p in 0..dim {
            for q in p + 1..dim {
                let apq = a[p * dim + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * dim + q] - a[p * dim + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..dim {
                    let (akp, akq) = (a[k * dim + p], a[k * dim + q]);
                    a[k * dim + p] = c * akp - s * akq;
                    a[k * dim + q] = s * akp + c * akq;
                }
                for k in 0..dim {
                    let (apk, aqk) = (a[p * dim + k], a[q * dim + k]);
                    a[p * dim + k] = c * apk - s * aqk;
                    a[q * dim + k] = s * apk + c * aqk;
                }
                for k in 0..dim {
                    let (vkp, vkq) = (v[k * dim + p], v[k * dim + q]);
                    v[k * dim + p] = c * vkp - s * vkq;
                    v[k * dim + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..dim).map(|i| a[i * dim + i]).collect(), v)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng as _;
    use rand_distr::{Distribution as _, Normal};

    use super::*;

    #[test]
    fn recovers_the_axes_of_an_elongated_cloud_and_keeps_variance_order() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(4);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        // Standard deviations 10, 3, 1, 0.1 along dimensions 2, 0, 3, 1, plus an offset.
        let sd = [3.0f32, 0.1, 10.0, 1.0];
        let data: Vec<f32> = (0..2000).flat_map(|_| sd.map(|s| 5.0 + s * normal.sample(&mut rng))).collect();
        let out = pca(&data, 4, 2);
        assert_eq!(out.len(), 2000 * 2);
        // The first component is dimension 2 (centred), the second dimension 0, up to sign.
        let corr = |c: usize, d: usize| {
            let (xs, ys): (Vec<f64>, Vec<f64>) =
                (0..2000).map(|i| (f64::from(out[i * 2 + c]), f64::from(data[i * 4 + d]))).unzip();
            let (mx, my) = (xs.iter().sum::<f64>() / 2000.0, ys.iter().sum::<f64>() / 2000.0);
            let cov: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
            let vx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
            let vy: f64 = ys.iter().map(|y| (y - my).powi(2)).sum();
            cov / (vx * vy).sqrt()
        };
        assert!(corr(0, 2).abs() > 0.999, "{}", corr(0, 2));
        assert!(corr(1, 0).abs() > 0.99, "{}", corr(1, 0));
        let mean0: f32 = (0..2000).map(|i| out[i * 2]).sum::<f32>() / 2000.0;
        assert!(mean0.abs() < 1e-3);
    }

    #[test]
    fn eigen_of_a_known_matrix() {
        let mut a = vec![2.0, 1.0, 1.0, 2.0];
        let (values, vectors) = symmetric_eigen(&mut a, 2);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        assert!((sorted[0] - 1.0).abs() < 1e-12 && (sorted[1] - 3.0).abs() < 1e-12);
        for col in 0..2 {
            let (x, y) = (vectors[col], vectors[2 + col]);
            assert!(((2.0 * x + y) - values[col] * x).abs() < 1e-12);
        }
    }
}
