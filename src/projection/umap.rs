//! UMAP (McInnes, Healy & Melville, 2018), following umap-learn's reference choices: a fuzzy
//! k-nearest-neighbour graph (each point's distances shifted by its nearest neighbour's and
//! scaled so the weights sum to log₂ k), symmetrised by fuzzy union; a layout optimised by
//! stochastic gradient descent over the graph's edges, each sampled in proportion to its
//! weight, with negative sampling for the repulsion. O(n k) per epoch, so 50,000 points take
//! seconds where exact t-SNE's O(n²) takes hours. Seeded; one thread, so the same seed gives
//! the same map on every machine.

use super::knn::{self, Neighbours, SearchConfig};
use super::pca::pca;
use super::rng::SplitMix;

#[derive(Clone, Debug, PartialEq)]
pub struct UmapConfig {
    /// Size of the local neighbourhood (umap-learn's `n_neighbors`).
    pub neighbours: usize,
    /// How tightly points may pack in the map (umap-learn's `min_dist`), with `spread`.
    pub min_dist: f32,
    pub spread: f32,
    /// `None`: umap-learn's rule, 500 up to 10,000 points and 200 above.
    pub epochs: Option<usize>,
    pub negative_sample_rate: usize,
    pub learning_rate: f32,
    /// Below this many points the neighbours are found exactly.
    pub exact_neighbours_below: usize,
    pub search: SearchConfig,
    pub seed: u64,
}

impl Default for UmapConfig {
    fn default() -> Self {
        Self {
            neighbours: 15,
            min_dist: 0.1,
            spread: 1.0,
            epochs: None,
            negative_sample_rate: 5,
            learning_rate: 1.0,
            exact_neighbours_below: 2048,
            search: SearchConfig::default(),
            seed: 1111,
        }
    }
}

impl UmapConfig {
    pub fn epochs_for(&self, n: usize) -> usize {
        self.epochs.unwrap_or(if n <= 10_000 { 500 } else { 200 })
    }
}

/// Where a UMAP run is, for progress reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UmapProgress<'a> {
    /// The neighbour search, as a fraction.
    Neighbours(f32),
    /// After an epoch of the layout, with the layout so far.
    Epoch { done: usize, total: usize, layout: &'a [[f32; 2]] },
}

/// Coordinates of the initial layout lie in [−INIT_SCALE, INIT_SCALE], as umap-learn's.
const INIT_SCALE: f32 = 10.0;
/// Each gradient component is clipped to ±4 (umap-learn's `clip`).
const CLIP: f32 = 4.0;

/// The 2-D layout of `data` (n × `dim`, row-major, n ≥ 4, finite). `progress` returning false
/// stops the run with `None`.
pub fn umap(
    data: &[f32],
    dim: usize,
    config: &UmapConfig,
    progress: &mut dyn FnMut(UmapProgress<'_>) -> bool,
) -> Option<Vec<[f32; 2]>> {
    let n = data.len() / dim.max(1);
    let k = config.neighbours.clamp(2, n.saturating_sub(1).max(2));
    let neighbours = if n < config.exact_neighbours_below {
        knn::exact(data, dim, k)
    } else {
        knn::approximate(data, dim, k, &config.search, config.seed, &mut |f| progress(UmapProgress::Neighbours(f)))?
    };
    let graph = fuzzy_graph(&neighbours);
    let epochs = config.epochs_for(n);
    let (a, b) = fit_ab(config.spread, config.min_dist);
    let mut layout = initial_layout(data, dim, config.seed);
    optimise(&mut layout, &graph, epochs, a, b, config, progress)?;
    Some(layout)
}

/// The symmetric fuzzy graph as directed edges (both directions of each pair), in row order.
#[derive(Debug, PartialEq)]
pub(crate) struct Graph {
    pub heads: Vec<u32>,
    pub tails: Vec<u32>,
    pub weights: Vec<f32>,
}

/// Per-point membership strengths exp(−(d − ρ)/σ) with ρ the nearest neighbour's distance and
/// σ such that they sum to log₂ k (umap-learn's `smooth_knn_dist`, local connectivity 1), then
/// the fuzzy union w_ij + w_ji − w_ij·w_ji.
pub(crate) fn fuzzy_graph(neighbours: &Neighbours) -> Graph {
    const STEPS: usize = 64;
    const TOLERANCE: f64 = 1e-5;
    const MIN_K_DIST_SCALE: f64 = 1e-3;
    let (n, k) = (neighbours.len(), neighbours.k);
    let target = (k as f64).log2();
    let mean_all: f64 = neighbours.distances.iter().map(|&d| f64::from(d)).sum::<f64>() / (n * k).max(1) as f64;
    let mut directed: Vec<(u32, u32, f32)> = Vec::with_capacity(n * k);
    for i in 0..n {
        let (idx, dist) = neighbours.row(i);
        let rho = dist.iter().copied().find(|&d| d > 0.0).map_or(0.0, f64::from);
        let (mut low, mut high, mut sigma) = (0.0f64, f64::INFINITY, 1.0f64);
        for _ in 0..STEPS {
            let sum: f64 = dist.iter().map(|&d| (-((f64::from(d) - rho).max(0.0)) / sigma).exp()).sum();
            if (sum - target).abs() < TOLERANCE {
                break;
            }
            if sum > target {
                high = sigma;
                sigma = (low + high) / 2.0;
            } else {
                low = sigma;
                sigma = if high.is_finite() { (low + high) / 2.0 } else { sigma * 2.0 };
            }
        }
        let mean_i: f64 = dist.iter().map(|&d| f64::from(d)).sum::<f64>() / k as f64;
        let floor = MIN_K_DIST_SCALE * if rho > 0.0 { mean_i } else { mean_all };
        let sigma = sigma.max(floor).max(f64::MIN_POSITIVE);
        for (&j, &d) in idx.iter().zip(dist) {
            if j as usize == i {
                continue;
            }
            let w = (-((f64::from(d) - rho).max(0.0)) / sigma).exp() as f32;
            directed.push(((i as u32).min(j), (i as u32).max(j), w));
        }
    }
    directed.sort_unstable_by_key(|x| (x.0, x.1));
    let mut pairs: Vec<(u32, u32, f32)> = Vec::with_capacity(directed.len());
    for (lo, hi, w) in directed {
        match pairs.last_mut() {
            Some(last) if last.0 == lo && last.1 == hi => last.2 = last.2 + w - last.2 * w,
            _ => pairs.push((lo, hi, w)),
        }
    }
    let mut edges: Vec<(u32, u32, f32)> = pairs.iter().flat_map(|&(lo, hi, w)| [(lo, hi, w), (hi, lo, w)]).collect();
    edges.sort_unstable_by_key(|x| (x.0, x.1));
    Graph {
        heads: edges.iter().map(|e| e.0).collect(),
        tails: edges.iter().map(|e| e.1).collect(),
        weights: edges.iter().map(|e| e.2).collect(),
    }
}

/// a and b of the map's similarity 1 / (1 + a d^{2b}), fitted by least squares (Levenberg–
/// Marquardt) to the target curve 1 for d < min_dist, exp(−(d − min_dist)/spread) beyond,
/// on the 300 points of [0, 3·spread] umap-learn fits on.
pub fn fit_ab(spread: f32, min_dist: f32) -> (f32, f32) {
    let (spread, min_dist) = (f64::from(spread), f64::from(min_dist));
    let xs: Vec<f64> = (0..300).map(|i| 3.0 * spread * i as f64 / 299.0).collect();
    let ys: Vec<f64> = xs.iter().map(|&x| if x < min_dist { 1.0 } else { (-(x - min_dist) / spread).exp() }).collect();
    let cost = |a: f64, b: f64| -> f64 {
        xs.iter().zip(&ys).map(|(&x, &y)| (1.0 / (1.0 + a * x.powf(2.0 * b)) - y).powi(2)).sum()
    };
    let (mut a, mut b, mut lambda) = (1.0f64, 1.0f64, 1e-3f64);
    let mut current = cost(a, b);
    for _ in 0..200 {
        // Normal equations JᵀJ δ = −Jᵀr of the residuals r = g − y.
        let (mut jaa, mut jab, mut jbb, mut ga, mut gb) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for (&x, &y) in xs.iter().zip(&ys) {
            if x <= 0.0 {
                continue;
            }
            let u = x.powf(2.0 * b);
            let g = 1.0 / (1.0 + a * u);
            let r = g - y;
            let da = -u * g * g;
            let db = -a * u * 2.0 * x.ln() * g * g;
            jaa += da * da;
            jab += da * db;
            jbb += db * db;
            ga += da * r;
            gb += db * r;
        }
        let (maa, mbb) = (jaa * (1.0 + lambda), jbb * (1.0 + lambda));
        let det = maa * mbb - jab * jab;
        if det.abs() < 1e-300 {
            break;
        }
        let step_a = -(mbb * ga - jab * gb) / det;
        let step_b = -(maa * gb - jab * ga) / det;
        let (na, nb) = ((a + step_a).max(1e-6), (b + step_b).max(1e-6));
        let next = cost(na, nb);
        if next < current {
            let converged = (current - next) < 1e-15 * current.max(1e-300);
            (a, b, current, lambda) = (na, nb, next, lambda / 10.0);
            if converged {
                break;
            }
        } else {
            lambda *= 10.0;
            if lambda > 1e12 {
                break;
            }
        }
    }
    (a as f32, b as f32)
}

/// The data's top two principal components scaled into [−10, 10], plus a little seeded noise
/// so that duplicate points do not start on top of each other.
fn initial_layout(data: &[f32], dim: usize, seed: u64) -> Vec<[f32; 2]> {
    let projected = pca(data, dim, 2);
    let mut rng = SplitMix::new(seed ^ 0x5EED_1A70);
    let largest = projected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    // Identical inputs (a collapsed encoder) have no spread to scale: only the noise places them.
    let scale = if largest > 1e-12 { INIT_SCALE / largest } else { 0.0 };
    let mut layout: Vec<[f32; 2]> = if projected.len() == 2 * (data.len() / dim.max(1)) {
        projected.chunks_exact(2).map(|c| [c[0] * scale, c[1] * scale]).collect()
    } else {
        // One input dimension: its value and noise.
        projected.iter().map(|&v| [v * scale, 0.0]).collect()
    };
    for p in &mut layout {
        p[0] += 1e-4 * (rng.unit() as f32 - 0.5);
        p[1] += 1e-4 * (rng.unit() as f32 - 0.5);
    }
    layout
}

fn clip(v: f32) -> f32 {
    v.clamp(-CLIP, CLIP)
}

/// umap-learn's `optimize_layout_euclidean` (moving both ends of an edge), one thread.
fn optimise(
    layout: &mut [[f32; 2]],
    graph: &Graph,
    epochs: usize,
    a: f32,
    b: f32,
    config: &UmapConfig,
    progress: &mut dyn FnMut(UmapProgress<'_>) -> bool,
) -> Option<()> {
    let n = layout.len();
    let max_weight = graph.weights.iter().copied().fold(0.0f32, f32::max);
    // Edges too weak to be sampled even once in the run are dropped, as umap-learn does.
    let keep: Vec<usize> =
        (0..graph.weights.len()).filter(|&e| graph.weights[e] >= max_weight / epochs.max(1) as f32).collect();
    let per_sample: Vec<f32> = keep.iter().map(|&e| max_weight / graph.weights[e]).collect();
    let rate = config.negative_sample_rate.max(1) as f32;
    let per_negative: Vec<f32> = per_sample.iter().map(|&s| s / rate).collect();
    let mut next_sample = per_sample.clone();
    let mut next_negative = per_negative.clone();
    let mut rng = SplitMix::new(config.seed);
    for epoch in 0..epochs {
        let alpha = config.learning_rate * (1.0 - epoch as f32 / epochs as f32);
        let now = epoch as f32;
        for (s, &e) in keep.iter().enumerate() {
            if next_sample[s] > now {
                continue;
            }
            let (j, t) = (graph.heads[e] as usize, graph.tails[e] as usize);
            let (head, tail) = (layout[j], layout[t]);
            let (dx, dy) = (head[0] - tail[0], head[1] - tail[1]);
            let d2 = dx * dx + dy * dy;
            if d2 > 0.0 {
                let pb1 = d2.powf(b - 1.0);
                let coeff = -2.0 * a * b * pb1 / (a * pb1 * d2 + 1.0);
                let (gx, gy) = (clip(coeff * dx) * alpha, clip(coeff * dy) * alpha);
                layout[j] = [head[0] + gx, head[1] + gy];
                layout[t] = [tail[0] - gx, tail[1] - gy];
            }
            next_sample[s] += per_sample[s];
            let negatives = ((now - next_negative[s]) / per_negative[s]).max(0.0) as usize;
            for _ in 0..negatives {
                let other = rng.below(n);
                if other == j {
                    continue;
                }
                let (current, far) = (layout[j], layout[other]);
                let (dx, dy) = (current[0] - far[0], current[1] - far[1]);
                let d2 = dx * dx + dy * dy;
                if d2 > 0.0 {
                    let coeff = 2.0 * b / ((0.001 + d2) * (a * d2.powf(b) + 1.0));
                    layout[j] = [current[0] + clip(coeff * dx) * alpha, current[1] + clip(coeff * dy) * alpha];
                }
            }
            next_negative[s] += negatives as f32 * per_negative[s];
        }
        if !progress(UmapProgress::Epoch { done: epoch + 1, total: epochs, layout }) {
            return None;
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ab_fit_matches_umap_learn() {
        // umap-learn's find_ab_params(1.0, 0.1) = (1.5769434603113077, 0.8950608779109733).
        let (a, b) = fit_ab(1.0, 0.1);
        assert!((a - 1.5769).abs() < 5e-3 && (b - 0.8951).abs() < 2e-3, "a {a}, b {b}");
        // min_dist 0.5 gives a flatter core: umap-learn (0.5830300, 1.3341669).
        let (a, b) = fit_ab(1.0, 0.5);
        assert!((a - 0.5830).abs() < 5e-3 && (b - 1.3342).abs() < 5e-3, "a {a}, b {b}");
    }

    #[test]
    fn fuzzy_graph_is_symmetric_with_weights_in_the_unit_interval() {
        let mut rng = SplitMix::new(3);
        let data: Vec<f32> = (0..200 * 4).map(|_| rng.unit() as f32).collect();
        let graph = fuzzy_graph(&knn::exact(&data, 4, 10));
        let mut edges: Vec<(u32, u32, f32)> =
            graph.heads.iter().zip(&graph.tails).zip(&graph.weights).map(|((&h, &t), &w)| (h, t, w)).collect();
        assert!(edges.iter().all(|e| e.2 > 0.0 && e.2 <= 1.0 && e.0 != e.1));
        edges.sort_by_key(|x| (x.1, x.0));
        let mut reversed: Vec<(u32, u32, f32)> = edges.iter().map(|e| (e.1, e.0, e.2)).collect();
        reversed.sort_by_key(|x| (x.0, x.1));
        let mut forward = edges.clone();
        forward.sort_by_key(|x| (x.0, x.1));
        assert_eq!(forward, reversed);
        // Each point's nearest neighbour gets weight 1 (its distance minus ρ is 0).
        assert!(graph.weights.iter().filter(|&&w| w == 1.0).count() >= 200);
    }
}
