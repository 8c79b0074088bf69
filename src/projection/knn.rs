//! k nearest neighbours (Euclidean) for the input affinities: exact for small inputs and the
//! quality measures, approximate for large ones — a forest of random-projection trees gives
//! each point candidates from its leaves, then NN-descent (Dong et al., 2011) improves the
//! lists by trying neighbours of neighbours, as pynndescent (umap-learn's search) does.

use super::rng::SplitMix;

/// The k nearest other points of each point, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    pub k: usize,
    /// n × k point indices, row-major.
    pub indices: Vec<u32>,
    /// n × k Euclidean distances, ascending within a row.
    pub distances: Vec<f32>,
}

impl Neighbours {
    pub fn len(&self) -> usize {
        self.indices.len().checked_div(self.k).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        (&self.indices[i * self.k..(i + 1) * self.k], &self.distances[i * self.k..(i + 1) * self.k])
    }
}

/// Settings of the approximate search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchConfig {
    pub trees: usize,
    /// Leaves hold at most this many points (at least 2k are used).
    pub leaf_size: usize,
    /// NN-descent rounds at most; it stops earlier once few lists change.
    pub rounds: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self { trees: 8, leaf_size: 30, rounds: 10 }
    }
}

/// NN-descent stops when fewer than this fraction of n·k list entries changed in a round.
const CONVERGED: f64 = 0.001;

fn squared(a: &[f32], b: &[f32]) -> f32 {
    let mut s = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        s += d * d;
    }
    s
}

/// Fixed-size lists of the best candidates so far, sorted by squared distance.
struct Lists {
    k: usize,
    index: Vec<u32>,
    distance: Vec<f32>,
    /// Whether the entry arrived since the last NN-descent round looked at it.
    fresh: Vec<bool>,
}

impl Lists {
    fn new(n: usize, k: usize) -> Self {
        Self { k, index: vec![u32::MAX; n * k], distance: vec![f32::INFINITY; n * k], fresh: vec![false; n * k] }
    }

    /// Offers `j` at squared distance `d` to point `i`'s list; true when it entered.
    fn offer(&mut self, i: usize, j: u32, d: f32) -> bool {
        let base = i * self.k;
        let row = &self.distance[base..base + self.k];
        if d >= row[self.k - 1] {
            return false;
        }
        if self.index[base..base + self.k].contains(&j) {
            return false;
        }
        let mut at = self.k - 1;
        while at > 0 && self.distance[base + at - 1] > d {
            self.distance[base + at] = self.distance[base + at - 1];
            self.index[base + at] = self.index[base + at - 1];
            self.fresh[base + at] = self.fresh[base + at - 1];
            at -= 1;
        }
        self.distance[base + at] = d;
        self.index[base + at] = j;
        self.fresh[base + at] = true;
        true
    }

    fn into_neighbours(self) -> Neighbours {
        Neighbours { k: self.k, indices: self.index, distances: self.distance.into_iter().map(f32::sqrt).collect() }
    }
}

/// Exact k nearest neighbours by brute force, O(n² d): for small inputs and the quality checks.
/// `k` must be below n.
pub fn exact(data: &[f32], dim: usize, k: usize) -> Neighbours {
    let n = data.len() / dim.max(1);
    let mut lists = Lists::new(n, k);
    for i in 0..n {
        let a = &data[i * dim..(i + 1) * dim];
        for j in i + 1..n {
            let d = squared(a, &data[j * dim..(j + 1) * dim]);
            lists.offer(i, j as u32, d);
            lists.offer(j, i as u32, d);
        }
    }
    lists.into_neighbours()
}

/// The `k` rows of `data` (n × `dim`, row-major) nearest to `query`, by exact search, nearest
/// first (ties by row), leaving out row `skip` (the query itself when it is one of the rows):
/// (row, Euclidean distance). Fewer when there are fewer rows.
pub fn nearest(data: &[f32], dim: usize, query: &[f32], k: usize, skip: Option<usize>) -> Vec<(u32, f32)> {
    let mut all: Vec<(f32, u32)> = data
        .chunks_exact(dim.max(1))
        .enumerate()
        .filter(|&(row, _)| Some(row) != skip)
        .map(|(row, values)| (squared(values, query), row as u32))
        .collect();
    let order = |a: &(f32, u32), b: &(f32, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if all.len() > k && k > 0 {
        all.select_nth_unstable_by(k - 1, order);
    }
    all.truncate(k);
    all.sort_unstable_by(order);
    all.into_iter().map(|(d, row)| (row, d.sqrt())).collect()
}

/// Approximate k nearest neighbours, seeded and deterministic. `k` must be below n.
/// `progress(fraction)` returning false stops the search with `None`.
pub fn approximate(
    data: &[f32],
    dim: usize,
    k: usize,
    config: &SearchConfig,
    seed: u64,
    progress: &mut dyn FnMut(f32) -> bool,
) -> Option<Neighbours> {
    let n = data.len() / dim.max(1);
    let mut lists = Lists::new(n, k);
    let mut rng = SplitMix::new(seed);
    let leaf_size = config.leaf_size.max(2 * k);
    let steps = (config.trees + config.rounds).max(1) as f32;
    let row = |i: usize| &data[i * dim..(i + 1) * dim];
    let mut all: Vec<u32> = (0..n as u32).collect();
    for tree in 0..config.trees {
        for leaf in leaves(data, dim, &mut all, leaf_size, &mut rng) {
            for (a, &i) in leaf.iter().enumerate() {
                for &j in &leaf[a + 1..] {
                    let d = squared(row(i as usize), row(j as usize));
                    lists.offer(i as usize, j, d);
                    lists.offer(j as usize, i, d);
                }
            }
        }
        if !progress((tree + 1) as f32 / steps) {
            return None;
        }
    }
    // Points in leaves smaller than k + 1 (cannot happen with leaf_size ≥ 2k unless n is
    // tiny) still need full lists: fill any gap with random points.
    for i in 0..n {
        while lists.distance[i * k + k - 1].is_infinite() {
            let j = rng.below(n) as u32;
            if j as usize != i {
                lists.offer(i, j, squared(row(i), row(j as usize)));
            }
        }
    }
    let mut candidates: Vec<Vec<u32>> = vec![Vec::new(); n];
    for round in 0..config.rounds {
        // Each point's candidates: its fresh neighbours and the points that have it as a fresh
        // neighbour (capped at k), each tried against the others and against its old ones.
        for c in candidates.iter_mut() {
            c.clear();
        }
        let mut old: Vec<Vec<u32>> = vec![Vec::new(); n];
        for i in 0..n {
            for s in i * k..(i + 1) * k {
                let j = lists.index[s];
                if lists.fresh[s] {
                    lists.fresh[s] = false;
                    candidates[i].push(j);
                    if candidates[j as usize].len() < 2 * k {
                        candidates[j as usize].push(i as u32);
                    }
                } else {
                    old[i].push(j);
                }
            }
        }
        let mut changed = 0usize;
        for i in 0..n {
            let fresh = &candidates[i];
            for (a, &p) in fresh.iter().enumerate() {
                for &q in fresh[a + 1..].iter().chain(&old[i]) {
                    if p == q {
                        continue;
                    }
                    let d = squared(row(p as usize), row(q as usize));
                    changed += usize::from(lists.offer(p as usize, q, d));
                    changed += usize::from(lists.offer(q as usize, p, d));
                }
            }
        }
        if !progress((config.trees + round + 1) as f32 / steps) {
            return None;
        }
        if (changed as f64) < CONVERGED * (n * k) as f64 {
            break;
        }
    }
    Some(lists.into_neighbours())
}

/// The leaves of one random-projection tree over `points` (reordered in place): each split
/// takes two random points and sends every point to the side of their perpendicular bisector
/// it lies on; a degenerate split (all on one side) halves the set at random instead.
fn leaves<'a>(data: &[f32], dim: usize, points: &'a mut [u32], leaf_size: usize, rng: &mut SplitMix) -> Vec<&'a [u32]> {
    let mut out = Vec::new();
    let mut stack: Vec<&'a mut [u32]> = vec![points];
    let mut normal = vec![0.0f32; dim];
    while let Some(set) = stack.pop() {
        if set.len() <= leaf_size {
            let leaf: &'a [u32] = set;
            out.push(leaf);
            continue;
        }
        let first = rng.below(set.len());
        let second = (first + 1 + rng.below(set.len() - 1)) % set.len();
        let (a, b) = (set[first] as usize, set[second] as usize);
        let (pa, pb) = (&data[a * dim..(a + 1) * dim], &data[b * dim..(b + 1) * dim]);
        let mut offset = 0.0f32;
        for ((w, x), y) in normal.iter_mut().zip(pa).zip(pb) {
            *w = x - y;
            offset += *w * (x + y) / 2.0;
        }
        let mut left = 0;
        for s in 0..set.len() {
            let p = &data[set[s] as usize * dim..(set[s] as usize + 1) * dim];
            let side: f32 = normal.iter().zip(p).map(|(w, x)| w * x).sum::<f32>() - offset;
            // Ties (on the hyperplane) go to a random side, so duplicates still split.
            if side > 0.0 || (side == 0.0 && rng.below(2) == 0) {
                set.swap(s, left);
                left += 1;
            }
        }
        if left == 0 || left == set.len() {
            for s in (1..set.len()).rev() {
                set.swap(s, rng.below(s + 1));
            }
            left = set.len() / 2;
        }
        let (l, r) = set.split_at_mut(left);
        stack.push(r);
        stack.push(l);
    }
    out
}

/// The mean fraction of each point's true k nearest neighbours that `found` lists.
pub fn recall(found: &Neighbours, truth: &Neighbours) -> f64 {
    let n = truth.len();
    if n == 0 {
        return 1.0;
    }
    let hits: usize = (0..n).map(|i| truth.row(i).0.iter().filter(|j| found.row(i).0.contains(j)).count()).sum();
    hits as f64 / (n * truth.k) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_rows(n: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut rng = SplitMix::new(seed);
        (0..n * dim).map(|_| rng.unit() as f32).collect()
    }

    #[test]
    fn exact_neighbours_are_sorted_and_exclude_the_point() {
        let data = random_rows(60, 3, 1);
        let nn = exact(&data, 3, 5);
        for i in 0..60 {
            let (idx, dist) = nn.row(i);
            assert!(!idx.contains(&(i as u32)));
            assert!(dist.windows(2).all(|w| w[0] <= w[1]));
            // Nothing outside the list is closer than its last entry.
            let last = dist[4];
            for j in 0..60 {
                if j != i && !idx.contains(&(j as u32)) {
                    assert!(squared(&data[i * 3..i * 3 + 3], &data[j * 3..j * 3 + 3]).sqrt() >= last - 1e-6);
                }
            }
        }
    }

    #[test]
    fn a_query_finds_the_brute_force_neighbours() {
        let data = random_rows(500, 4, 3);
        let all_pairs = exact(&data, 4, 7);
        for i in [0, 17, 499] {
            let found = nearest(&data, 4, &data[i * 4..i * 4 + 4], 7, Some(i));
            let (idx, dist) = all_pairs.row(i);
            assert_eq!(found.iter().map(|f| f.0).collect::<Vec<_>>(), idx);
            for ((_, d), e) in found.iter().zip(dist) {
                assert!((d - e).abs() < 1e-6);
            }
        }
        let query = [0.5f32; 4];
        let mut sorted: Vec<(u32, f32)> =
            data.chunks_exact(4).enumerate().map(|(j, row)| (j as u32, squared(row, &query).sqrt())).collect();
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        assert_eq!(nearest(&data, 4, &query, 9, None), sorted[..9]);
        assert_eq!(nearest(&data[..8], 4, &query, 5, None).len(), 2);
    }

    #[test]
    fn approximate_search_finds_almost_all_true_neighbours_and_is_seeded() {
        let data = random_rows(3000, 10, 2);
        let truth = exact(&data, 10, 15);
        let config = SearchConfig::default();
        let found = approximate(&data, 10, 15, &config, 7, &mut |_| true).unwrap();
        let r = recall(&found, &truth);
        assert!(r > 0.95, "recall {r}");
        assert_eq!(found, approximate(&data, 10, 15, &config, 7, &mut |_| true).unwrap());
        assert!(approximate(&data, 10, 15, &config, 7, &mut |f| f < 0.2).is_none());
    }
}
