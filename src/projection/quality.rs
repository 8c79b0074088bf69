//! How well a 2-D map keeps the structure of its input: trustworthiness (Venna & Kaski, 2001,
//! as scikit-learn's `sklearn.manifold.trustworthiness` defines it) and the k-nearest-neighbour
//! agreement of a class (how often a point's map neighbours share its modality or label).
//! Both are O(n²): meant for subsets of a few thousand points.

/// Trustworthiness in [0, 1] of `map` for the rows of `input` (n × `dim`): 1 − 2/(n k (2n − 3k − 1))
/// Σ_i Σ_{j ∈ map's k nearest of i} max(0, r(i, j) − k), where r(i, j) is j's rank among i's
/// neighbours in the input (1 = nearest). Needs k < n / 2.
pub fn trustworthiness(input: &[f32], dim: usize, map: &[[f32; 2]], k: usize) -> f64 {
    let n = map.len();
    let mut rank = vec![0usize; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    let mut distances = vec![0.0f64; n];
    let mut penalty = 0.0f64;
    for i in 0..n {
        let a = &input[i * dim..(i + 1) * dim];
        for (j, d) in distances.iter_mut().enumerate() {
            let b = &input[j * dim..(j + 1) * dim];
            *d = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        }
        order.clear();
        order.extend((0..n).filter(|&j| j != i));
        // Ties broken by index, as a stable argsort does.
        order.sort_by(|&x, &y| distances[x].total_cmp(&distances[y]).then(x.cmp(&y)));
        for (r, &j) in order.iter().enumerate() {
            rank[j] = r + 1;
        }
        for j in map_neighbours(map, i, k) {
            penalty += rank[j].saturating_sub(k) as f64;
        }
    }
    let (n, k) = (n as f64, k as f64);
    1.0 - 2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0)) * penalty
}

/// The mean fraction of each point's k nearest map neighbours whose class equals its own.
pub fn knn_agreement(map: &[[f32; 2]], classes: &[usize], k: usize) -> f64 {
    let n = map.len();
    if n == 0 {
        return 0.0;
    }
    let same: usize = (0..n).map(|i| map_neighbours(map, i, k).filter(|&j| classes[j] == classes[i]).count()).sum();
    same as f64 / (n * k) as f64
}

/// The k nearest other points of point `i` in the map (ties by index).
fn map_neighbours(map: &[[f32; 2]], i: usize, k: usize) -> impl Iterator<Item = usize> {
    let p = map[i];
    let mut order: Vec<(f32, usize)> = map
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(j, q)| ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2), j))
        .collect();
    let k = k.min(order.len());
    if k > 0 && k < order.len() {
        order.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    }
    order.truncate(k);
    order.into_iter().map(|(_, j)| j)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_map_that_keeps_the_order_is_fully_trustworthy_and_a_shuffled_one_is_not() {
        // Points on a line in 3-D mapped onto a line in 2-D: every neighbourhood is kept.
        let input: Vec<f32> = (0..40).flat_map(|i| [i as f32, 2.0 * i as f32, 0.0]).collect();
        let kept: Vec<[f32; 2]> = (0..40).map(|i| [i as f32 * 0.5, 0.0]).collect();
        assert!((trustworthiness(&input, 3, &kept, 5) - 1.0).abs() < 1e-12);
        // Reversing halves keeps most neighbourhoods; a scramble keeps few.
        let scrambled: Vec<[f32; 2]> = (0..40).map(|i| [((i * 17) % 40) as f32, 0.0]).collect();
        let t = trustworthiness(&input, 3, &scrambled, 5);
        assert!(t < 0.8, "{t}");
    }

    #[test]
    fn agreement_counts_same_class_neighbours() {
        // Two tight pairs far apart, classes split inside each pair: 1-NN agreement 0.
        let map = [[0.0, 0.0], [0.1, 0.0], [10.0, 0.0], [10.1, 0.0]];
        assert_eq!(knn_agreement(&map, &[0, 1, 0, 1], 1), 0.0);
        assert_eq!(knn_agreement(&map, &[0, 0, 1, 1], 1), 1.0);
        assert!((knn_agreement(&map, &[0, 0, 1, 1], 2) - 0.5).abs() < 1e-12);
    }
}
