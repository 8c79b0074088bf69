//! Exact t-SNE (van der Maaten & Hinton, 2008): Gaussian affinities calibrated to a perplexity
//! by bisection, a Student-t kernel in 2-D, early exaggeration, momentum with per-coordinate
//! gains. O(n²) time and memory per iteration, meant for a few thousand points.

use rand::Rng as _;
use rand::SeedableRng as _;
use rand_distr::StandardNormal;

#[derive(Clone, Debug, PartialEq)]
pub struct TsneConfig {
    /// Effective number of neighbours; lowered to (n − 1) / 3 for small inputs.
    pub perplexity: f64,
    pub iterations: usize,
    /// P is multiplied by this for the first `exaggeration_iterations`, which pulls clusters
    /// together early so they can move apart as wholes.
    pub exaggeration: f64,
    pub exaggeration_iterations: usize,
    /// `None`: max(n / exaggeration / 4, 50), the rule of Belkina et al. (2019) that scikit-learn uses.
    pub learning_rate: Option<f64>,
    pub seed: u64,
}

impl Default for TsneConfig {
    fn default() -> Self {
        Self {
            perplexity: 30.0,
            iterations: 750,
            exaggeration: 12.0,
            exaggeration_iterations: 250,
            learning_rate: None,
            seed: 1111,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TsneError {
    #[error("t-SNE needs at least 4 points, got {0}")]
    TooFewPoints(usize),
    #[error("t-SNE input: row {row} has {got} values, the first row has {expected}")]
    RaggedRow { row: usize, got: usize, expected: usize },
    #[error("t-SNE input: row {0} has a value that is not a finite number")]
    NotFinite(usize),
    #[error("t-SNE was stopped before it finished")]
    Stopped,
}

/// Momentum before and after the exaggeration phase.
const MOMENTUM_EARLY: f64 = 0.5;
const MOMENTUM_LATE: f64 = 0.8;
const MIN_GAIN: f64 = 0.01;
/// Floor for affinities, so that log and division stay finite.
const TINY: f64 = 1e-12;
/// How often (in iterations) `progress` is called.
const PROGRESS_EVERY: usize = 10;

/// Projects `rows` (n vectors of one length) to 2-D. `progress(done, total)` is called every few
/// iterations; returning `false` stops the run with [`TsneError::Stopped`].
pub fn tsne(
    rows: &[Vec<f32>],
    config: &TsneConfig,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Vec<[f32; 2]>, TsneError> {
    let n = rows.len();
    if n < 4 {
        return Err(TsneError::TooFewPoints(n));
    }
    let expected = rows[0].len();
    for (row, values) in rows.iter().enumerate() {
        if values.len() != expected {
            return Err(TsneError::RaggedRow { row, got: values.len(), expected });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(TsneError::NotFinite(row));
        }
    }
    // Computing the affinities takes a while for large n: report the start.
    if !progress(0, config.iterations) {
        return Err(TsneError::Stopped);
    }
    let perplexity = config.perplexity.min((n - 1) as f64 / 3.0).max(1.0);
    let p = joint_probabilities(&squared_distances(rows), n, perplexity);
    let learning_rate = config.learning_rate.unwrap_or((n as f64 / config.exaggeration / 4.0).max(50.0));

    let mut rng = rand::rngs::StdRng::seed_from_u64(config.seed);
    // Start from a tiny Gaussian blob (σ = 1e-4), as in the original paper.
    let mut y: Vec<f64> = (0..2 * n).map(|_| 1e-4 * rng.sample::<f64, _>(StandardNormal)).collect();
    let mut update = vec![0.0f64; 2 * n];
    let mut gains = vec![1.0f64; 2 * n];
    let mut gradient = vec![0.0f64; 2 * n];
    let mut attract = vec![0.0f64; 2 * n];
    let mut repel = vec![0.0f64; 2 * n];
    for iteration in 0..config.iterations {
        let early = iteration < config.exaggeration_iterations;
        let exaggeration = if early { config.exaggeration } else { 1.0 };
        let momentum = if early { MOMENTUM_EARLY } else { MOMENTUM_LATE };
        compute_gradient(&p, &y, exaggeration, &mut attract, &mut repel, &mut gradient);
        for k in 0..2 * n {
            // Delta-bar-delta gains: grow while steps keep going downhill (gradient against the
            // last step), shrink when the gradient turns (the last step overshot).
            gains[k] =
                if (gradient[k] > 0.0) != (update[k] > 0.0) { gains[k] + 0.2 } else { (gains[k] * 0.8).max(MIN_GAIN) };
            update[k] = momentum * update[k] - learning_rate * gains[k] * gradient[k];
            y[k] += update[k];
        }
        recentre(&mut y);
        if (iteration + 1) % PROGRESS_EVERY == 0 && !progress(iteration + 1, config.iterations) {
            return Err(TsneError::Stopped);
        }
    }
    Ok(y.chunks_exact(2).map(|c| [c[0] as f32, c[1] as f32]).collect())
}

/// Squared Euclidean distances, n × n, row-major.
fn squared_distances(rows: &[Vec<f32>]) -> Vec<f64> {
    let n = rows.len();
    let mut d = vec![0.0f64; n * n];
    for i in 0..n {
        for j in i + 1..n {
            let s: f64 = rows[i].iter().zip(&rows[j]).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            d[i * n + j] = s;
            d[j * n + i] = s;
        }
    }
    d
}

/// Symmetric P = (P_{j|i} + P_{i|j}) / 2n, each row calibrated to `perplexity`.
fn joint_probabilities(distances: &[f64], n: usize, perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let mut conditional = vec![0.0f64; n * n];
    for i in 0..n {
        let (row, _) = calibrate_row(&distances[i * n..(i + 1) * n], i, target);
        conditional[i * n..(i + 1) * n].copy_from_slice(&row);
    }
    let mut p = vec![0.0f64; n * n];
    for i in 0..n {
        for j in 0..n {
            p[i * n + j] = ((conditional[i * n + j] + conditional[j * n + i]) / (2.0 * n as f64)).max(TINY);
        }
    }
    p
}

/// The conditional distribution P_{·|i} for one row of squared distances (entry `own` is the
/// point itself and gets 0), with the Gaussian precision β found by bisection so that the
/// distribution's Shannon entropy (nats) equals `target_entropy` = ln(perplexity). Returns the
/// row and β.
pub(crate) fn calibrate_row(distances: &[f64], own: usize, target_entropy: f64) -> (Vec<f64>, f64) {
    const TOLERANCE: f64 = 1e-5;
    const STEPS: usize = 200;
    // Distances are shifted by their minimum (other than own) so exp() does not underflow to 0
    // for every neighbour of a far-away point; the shift cancels in the normalisation.
    let shift = distances.iter().enumerate().filter(|&(j, _)| j != own).map(|(_, &d)| d).fold(f64::INFINITY, f64::min);
    let mut beta = 1.0f64;
    let (mut low, mut high) = (0.0f64, f64::INFINITY);
    let mut row = vec![0.0f64; distances.len()];
    for _ in 0..STEPS {
        let entropy = conditional_row(distances, own, shift, beta, &mut row);
        let error = entropy - target_entropy;
        if error.abs() < TOLERANCE {
            break;
        }
        if error > 0.0 {
            // Too flat: sharpen.
            low = beta;
            beta = if high.is_finite() { (beta + high) / 2.0 } else { beta * 2.0 };
        } else {
            high = beta;
            beta = (beta + low) / 2.0;
        }
    }
    conditional_row(distances, own, shift, beta, &mut row);
    (row, beta)
}

/// Fills `row` with exp(−β(d − shift)) normalised, and returns its entropy in nats.
fn conditional_row(distances: &[f64], own: usize, shift: f64, beta: f64, row: &mut [f64]) -> f64 {
    let mut sum = 0.0;
    let mut weighted = 0.0;
    for (j, (&d, p)) in distances.iter().zip(row.iter_mut()).enumerate() {
        *p = if j == own { 0.0 } else { (-beta * (d - shift)).exp() };
        sum += *p;
        weighted += (d - shift) * *p;
    }
    if sum <= 0.0 {
        return 0.0;
    }
    for p in row.iter_mut() {
        *p /= sum;
    }
    // H = ln Σ + β Σ (d − shift) p / Σ
    sum.ln() + beta * weighted / sum
}

/// Gradient of KL(P‖Q) with respect to the 2-D positions:
/// 4 Σ_j (e·p_ij − q_ij) k_ij (y_i − y_j), with k_ij = (1 + |y_i − y_j|²)⁻¹ and q_ij = k_ij / Z.
/// Split into an attractive part Σ e·p_ij k_ij Δ and a repulsive part Σ k_ij² Δ / Z, both
/// accumulate in one pass over the pairs i < j (each pair's terms are antisymmetric), and Z is
/// only needed at the end: a third of the pair evaluations of the textbook two-pass form.
fn compute_gradient(
    p: &[f64],
    y: &[f64],
    exaggeration: f64,
    attract: &mut [f64],
    repel: &mut [f64],
    gradient: &mut [f64],
) {
    let n = y.len() / 2;
    attract.fill(0.0);
    repel.fill(0.0);
    let mut z = 0.0;
    for i in 0..n {
        let (xi, yi) = (y[2 * i], y[2 * i + 1]);
        let p_row = &p[i * n..(i + 1) * n];
        let (mut ax, mut ay, mut rx, mut ry) = (0.0, 0.0, 0.0, 0.0);
        for j in i + 1..n {
            let (dx, dy) = (xi - y[2 * j], yi - y[2 * j + 1]);
            let k = 1.0 / (1.0 + dx * dx + dy * dy);
            z += 2.0 * k;
            let a = exaggeration * p_row[j] * k;
            let r = k * k;
            ax += a * dx;
            ay += a * dy;
            rx += r * dx;
            ry += r * dy;
            attract[2 * j] -= a * dx;
            attract[2 * j + 1] -= a * dy;
            repel[2 * j] -= r * dx;
            repel[2 * j + 1] -= r * dy;
        }
        attract[2 * i] += ax;
        attract[2 * i + 1] += ay;
        repel[2 * i] += rx;
        repel[2 * i + 1] += ry;
    }
    let z = z.max(TINY);
    for ((g, a), r) in gradient.iter_mut().zip(attract.iter()).zip(repel.iter()) {
        *g = 4.0 * (a - r / z);
    }
}

fn recentre(y: &mut [f64]) {
    let n = (y.len() / 2).max(1) as f64;
    let (mx, my) = y.chunks_exact(2).fold((0.0, 0.0), |(sx, sy), c| (sx + c[0], sy + c[1]));
    for c in y.chunks_exact_mut(2) {
        c[0] -= mx / n;
        c[1] -= my / n;
    }
}

#[cfg(test)]
mod tests {
    use rand::Rng as _;
    use rand_distr::{Distribution as _, Normal};

    use super::*;

    fn entropy(row: &[f64]) -> f64 {
        -row.iter().filter(|&&p| p > 0.0).map(|&p| p * p.ln()).sum::<f64>()
    }

    #[test]
    fn calibration_hits_the_target_entropy() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for (scale, perplexity) in [(1.0, 5.0), (40.0, 30.0), (1e-3, 10.0), (1e4, 2.0)] {
            let distances: Vec<f64> = (0..200).map(|_| rng.random::<f64>() * scale).collect();
            let (row, beta) = calibrate_row(&distances, 7, f64::ln(perplexity));
            assert!(beta > 0.0 && beta.is_finite());
            assert_eq!(row[7], 0.0, "a point is not its own neighbour");
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-9);
            let h = entropy(&row);
            assert!((h - perplexity.ln()).abs() < 1e-4, "scale {scale}: entropy {h}, want {}", perplexity.ln());
        }
    }

    #[test]
    fn one_pass_gradient_matches_the_textbook_formula() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let n = 9;
        let y: Vec<f64> = (0..2 * n).map(|_| rng.random::<f64>() * 4.0 - 2.0).collect();
        let mut p = vec![0.0; n * n];
        for i in 0..n {
            for j in i + 1..n {
                let v = rng.random::<f64>();
                p[i * n + j] = v;
                p[j * n + i] = v;
            }
        }
        let total: f64 = p.iter().sum();
        p.iter_mut().for_each(|v| *v /= total);
        let (mut attract, mut repel, mut gradient) = (vec![0.0; 2 * n], vec![0.0; 2 * n], vec![0.0; 2 * n]);
        compute_gradient(&p, &y, 3.0, &mut attract, &mut repel, &mut gradient);
        let k =
            |i: usize, j: usize| 1.0 / (1.0 + (y[2 * i] - y[2 * j]).powi(2) + (y[2 * i + 1] - y[2 * j + 1]).powi(2));
        let z: f64 =
            (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| k(i, j)).sum();
        for i in 0..n {
            for d in 0..2 {
                let want: f64 = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| 4.0 * (3.0 * p[i * n + j] - k(i, j) / z) * k(i, j) * (y[2 * i + d] - y[2 * j + d]))
                    .sum();
                assert!(
                    (gradient[2 * i + d] - want).abs() < 1e-12,
                    "point {i} dim {d}: {} vs {want}",
                    gradient[2 * i + d]
                );
            }
        }
    }

    /// Three well separated Gaussian clusters in 10-D.
    fn clusters(per_cluster: usize) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let normal = Normal::new(0.0f32, 1.0).unwrap();
        let mut rows = Vec::new();
        let mut cluster = Vec::new();
        for c in 0..3 {
            for _ in 0..per_cluster {
                rows.push((0..10).map(|d| normal.sample(&mut rng) + if d == c { 20.0 } else { 0.0 }).collect());
                cluster.push(c);
            }
        }
        (rows, cluster)
    }

    #[test]
    fn three_clusters_stay_separated() {
        let (rows, cluster) = clusters(25);
        let config = TsneConfig { perplexity: 10.0, iterations: 400, ..TsneConfig::default() };
        let mut calls = 0;
        let y = tsne(&rows, &config, &mut |done, total| {
            calls += 1;
            assert!(done <= total);
            true
        })
        .unwrap();
        assert_eq!(calls, 41, "once at the start, then every 10 iterations");
        assert_eq!(y.len(), rows.len());
        let distance = |a: [f32; 2], b: [f32; 2]| (a[0] - b[0]).hypot(a[1] - b[1]);
        // Every point's nearest neighbour in 2-D is from its own cluster, and the closest pair
        // across clusters is farther apart than the mean distance within a cluster.
        let mut within = (0.0f32, 0usize);
        let mut across = f32::INFINITY;
        for i in 0..y.len() {
            let nearest =
                (0..y.len()).filter(|&j| j != i).min_by(|&a, &b| distance(y[i], y[a]).total_cmp(&distance(y[i], y[b])));
            assert_eq!(cluster[nearest.unwrap()], cluster[i], "point {i}");
            for j in 0..y.len() {
                if j == i {
                    continue;
                }
                if cluster[i] == cluster[j] {
                    within = (within.0 + distance(y[i], y[j]), within.1 + 1);
                } else {
                    across = across.min(distance(y[i], y[j]));
                }
            }
        }
        assert!(
            across > within.0 / within.1 as f32,
            "closest across {across}, mean within {}",
            within.0 / within.1 as f32
        );
    }

    #[test]
    fn same_seed_same_map_and_stop_is_honoured() {
        let (rows, _) = clusters(6);
        let config = TsneConfig { perplexity: 5.0, iterations: 50, ..TsneConfig::default() };
        let a = tsne(&rows, &config, &mut |_, _| true).unwrap();
        let b = tsne(&rows, &config, &mut |_, _| true).unwrap();
        assert_eq!(a, b);
        assert!(matches!(tsne(&rows, &config, &mut |done, _| done < 20), Err(TsneError::Stopped)));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(
            tsne(&vec![vec![0.0]; 3], &TsneConfig::default(), &mut |_, _| true),
            Err(TsneError::TooFewPoints(3))
        ));
        let ragged = vec![vec![0.0, 1.0], vec![0.0], vec![1.0, 1.0], vec![2.0, 2.0]];
        assert!(matches!(
            tsne(&ragged, &TsneConfig::default(), &mut |_, _| true),
            Err(TsneError::RaggedRow { row: 1, got: 1, expected: 2 })
        ));
        let nan = vec![vec![0.0], vec![f32::NAN], vec![1.0], vec![2.0]];
        assert!(matches!(tsne(&nan, &TsneConfig::default(), &mut |_, _| true), Err(TsneError::NotFinite(1))));
    }
}
