//! The cloud of all utterances' modality VA points (75,000 for a MOSEI-size dataset), drawn at
//! interactive frame rates: one mesh of small quads per modality, rebuilt only when the plot's
//! transform changes, and a bucket grid so hover and click look at a few points, not all.

use std::sync::{Arc, Mutex};

use egui::epaint::{Mesh, Vertex, WHITE_UV};
use egui::{Color32, Pos2, Shape, Vec2};
use egui_plot::{ClosestElem, PlotBounds, PlotGeometry, PlotItem, PlotItemBase, PlotPoint, PlotTransform};

use crate::modality::{Modality, PerModality};

use super::session::Session;

/// Half the side of a cloud point's square, in points.
const POINT_HALF_SIZE: f32 = 1.5;
/// How far from the pointer (in points) hover looks for a cloud point.
const HOVER_RADIUS: f32 = 12.0;

/// Points of the cloud of all utterances, per modality, with the utterance of each point.
#[derive(Debug, Default)]
pub struct Cloud {
    pub points: PerModality<Vec<PlotPoint>>,
    pub owners: PerModality<Vec<usize>>,
    grids: PerModality<Grid>,
    bounds: PerModality<Option<PlotBounds>>,
    /// The last mesh drawn per modality, in screen space; valid while the transform is unchanged.
    meshes: PerModality<Mutex<Option<CachedMesh>>>,
}

impl Cloud {
    /// The VA points of every utterance of the session (non-finite values are left out).
    pub fn of(session: &Session) -> Self {
        let mut cloud = Self::default();
        for modality in Modality::ALL {
            let (values, owners) = session.cloud(modality);
            let (points, owners): (Vec<PlotPoint>, Vec<usize>) = values
                .into_iter()
                .zip(owners)
                .filter(|([v, a], _)| v.is_finite() && a.is_finite())
                .map(|(point, owner)| (PlotPoint::from(point), owner))
                .unzip();
            *cloud.grids.get_mut(modality) = Grid::new(&points);
            *cloud.bounds.get_mut(modality) = bounds_of(&points);
            *cloud.points.get_mut(modality) = points;
            *cloud.owners.get_mut(modality) = owners;
        }
        cloud
    }

    pub fn len(&self) -> usize {
        self.owners.iter().map(|(_, o)| o.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The utterance of the point of `modality` at `index`.
    pub fn owner(&self, modality: Modality, index: usize) -> Option<usize> {
        self.owners.get(modality).get(index).copied()
    }

    /// The nearest point within `radius` (VA units) of `at` among `modalities`, as its modality
    /// and index.
    pub fn nearest(&self, modalities: &[Modality], at: PlotPoint, radius: f64) -> Option<(Modality, usize)> {
        let mut best: Option<(f64, Modality, usize)> = None;
        for &modality in modalities {
            let points = self.points.get(modality);
            if let Some((index, d)) = self.grids.get(modality).nearest(points, at, radius)
                && best.is_none_or(|(bd, ..)| d < bd)
            {
                best = Some((d, modality, index));
            }
        }
        best.map(|(_, modality, index)| (modality, index))
    }

    /// The plot item that draws one modality's points.
    pub fn item(&self, modality: Modality, name: String, color: Color32) -> CloudItem<'_> {
        CloudItem { base: PlotItemBase::new(name), cloud: self, modality, color }
    }

    /// The screen-space mesh of one modality under `transform`: the last one if nothing moved,
    /// shifted after a pan, placed again after a zoom or resize. The mesh's buffers are reused
    /// when the last frame's shapes have let go of them (75k points are 8 MB of vertices, and
    /// fresh allocations of that size cost page faults every frame of a drag).
    fn mesh(&self, modality: Modality, transform: &PlotTransform, color: Color32) -> Arc<Mesh> {
        let placement = Placement::of(transform);
        let points = self.points.get(modality);
        let Ok(mut cached) = self.meshes.get(modality).lock() else {
            // A poisoned cache only costs a rebuild.
            let mut mesh = Mesh::default();
            fill_quads(&mut mesh, points, placement, color);
            return Arc::new(mesh);
        };
        let cache = cached.get_or_insert_with(|| CachedMesh { placement, color, mesh: Arc::default(), filled: false });
        if cache.filled && cache.color == color && cache.placement == placement {
            return Arc::clone(&cache.mesh);
        }
        let pan = cache.filled && cache.color == color && cache.placement.same_scale(placement);
        let delta = placement.origin - cache.placement.origin;
        let mesh = Arc::make_mut(&mut cache.mesh);
        if pan {
            // A pan moves every vertex by the same offset.
            mesh.translate(delta);
        } else {
            fill_quads(mesh, points, placement, color);
        }
        cache.placement = placement;
        cache.color = color;
        cache.filled = true;
        Arc::clone(&cache.mesh)
    }
}

/// Where a plot transform puts the cloud: the screen position of VA (0, 0) and the screen
/// offset of one VA unit along each axis (y is negative: arousal grows upwards).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Placement {
    origin: Pos2,
    scale: Vec2,
}

impl Placement {
    fn of(transform: &PlotTransform) -> Self {
        let origin = transform.position_from_point(&PlotPoint::new(0.0, 0.0));
        let [dx, dy] = transform.dpos_dvalue();
        Self { origin, scale: Vec2::new(dx as f32, dy as f32) }
    }

    /// Equal scales up to float noise (a pan recomputes the bounds' width).
    fn same_scale(self, other: Self) -> bool {
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-6 * a.abs().max(b.abs());
        close(self.scale.x, other.scale.x) && close(self.scale.y, other.scale.y)
    }
}

#[derive(Debug)]
struct CachedMesh {
    placement: Placement,
    color: Color32,
    mesh: Arc<Mesh>,
    /// False until the mesh is first filled.
    filled: bool,
}

/// Fills `mesh` with one square per point, every point (the plot clips what is outside its
/// frame, and a pan can then shift the mesh as it is). Vertices and indices are written in bulk
/// because this runs for every point on each zoom.
fn fill_quads(mesh: &mut Mesh, points: &[PlotPoint], placement: Placement, color: Color32) {
    let Placement { origin, scale } = placement;
    let h = POINT_HALF_SIZE;
    let vertex = |x: f32, y: f32| Vertex { pos: Pos2::new(x, y), uv: WHITE_UV, color };
    mesh.clear();
    mesh.vertices.reserve(points.len() * 4);
    mesh.indices.reserve(points.len() * 6);
    for point in points {
        let x = origin.x + scale.x * point.x as f32;
        let y = origin.y + scale.y * point.y as f32;
        let i = mesh.vertices.len() as u32;
        mesh.vertices.extend_from_slice(&[
            vertex(x - h, y - h),
            vertex(x + h, y - h),
            vertex(x + h, y + h),
            vertex(x - h, y + h),
        ]);
        mesh.indices.extend_from_slice(&[i, i + 1, i + 2, i, i + 2, i + 3]);
    }
}

fn bounds_of(points: &[PlotPoint]) -> Option<PlotBounds> {
    let first = points.first()?;
    let mut min = [first.x, first.y];
    let mut max = min;
    for p in points {
        min = [min[0].min(p.x), min[1].min(p.y)];
        max = [max[0].max(p.x), max[1].max(p.y)];
    }
    Some(PlotBounds::from_min_max(min, max))
}

/// A uniform bucket grid over the points' bounding box (compressed rows: `starts[c]..starts[c+1]`
/// are the entries of cell `c`). A nearest-point query visits only the cells within its radius.
#[derive(Debug, Default)]
struct Grid {
    min: [f64; 2],
    cell: f64,
    cols: usize,
    rows: usize,
    starts: Vec<u32>,
    entries: Vec<u32>,
}

impl Grid {
    /// About four points per cell on average, at most 256 × 256 cells.
    fn new(points: &[PlotPoint]) -> Self {
        let Some(bounds) = bounds_of(points) else { return Self::default() };
        let side = ((points.len() as f64 / 4.0).sqrt().ceil() as usize).clamp(1, 256);
        let extent = bounds.width().max(bounds.height()).max(1e-9);
        let cell = extent / side as f64;
        let min = bounds.min();
        let cols = ((bounds.width() / cell).floor() as usize + 1).min(side);
        let rows = ((bounds.height() / cell).floor() as usize + 1).min(side);
        let mut grid = Self { min, cell, cols, rows, starts: vec![0; cols * rows + 1], entries: Vec::new() };
        let cells: Vec<usize> = points.iter().map(|p| grid.cell_of(p.x, p.y)).collect();
        for &c in &cells {
            grid.starts[c + 1] += 1;
        }
        for c in 0..cols * rows {
            grid.starts[c + 1] += grid.starts[c];
        }
        let mut next = grid.starts.clone();
        grid.entries = vec![0; points.len()];
        for (i, &c) in cells.iter().enumerate() {
            let slot = next[c] as usize;
            grid.entries[slot] = i as u32;
            next[c] += 1;
        }
        grid
    }

    fn column(&self, x: f64) -> usize {
        (((x - self.min[0]) / self.cell).floor().max(0.0) as usize).min(self.cols.saturating_sub(1))
    }

    fn row(&self, y: f64) -> usize {
        (((y - self.min[1]) / self.cell).floor().max(0.0) as usize).min(self.rows.saturating_sub(1))
    }

    fn cell_of(&self, x: f64, y: f64) -> usize {
        self.row(y) * self.cols + self.column(x)
    }

    /// Index and squared distance of the point nearest to `at` within `radius`.
    fn nearest(&self, points: &[PlotPoint], at: PlotPoint, radius: f64) -> Option<(usize, f64)> {
        // A NaN or non-positive radius finds nothing.
        if self.entries.is_empty() || radius.is_nan() || radius <= 0.0 {
            return None;
        }
        // A pointer far outside the grid's box has nothing within reach.
        let far = |value: f64, min: f64, n: usize| value + radius < min || value - radius > min + self.cell * n as f64;
        if far(at.x, self.min[0], self.cols) || far(at.y, self.min[1], self.rows) {
            return None;
        }
        let mut best: Option<(usize, f64)> = None;
        let limit = radius * radius;
        for row in self.row(at.y - radius)..=self.row(at.y + radius) {
            for col in self.column(at.x - radius)..=self.column(at.x + radius) {
                let c = row * self.cols + col;
                let (Some(&start), Some(&end)) = (self.starts.get(c), self.starts.get(c + 1)) else { continue };
                for &i in self.entries.get(start as usize..end as usize).unwrap_or_default() {
                    let Some(p) = points.get(i as usize) else { continue };
                    let d = (p.x - at.x).powi(2) + (p.y - at.y).powi(2);
                    if d <= limit && best.is_none_or(|(_, bd)| d < bd) {
                        best = Some((i as usize, d));
                    }
                }
            }
        }
        best
    }
}

/// The egui_plot item of one modality's cloud: draws the cached mesh, and answers hover with a
/// grid query instead of egui_plot's scan over every point.
pub struct CloudItem<'a> {
    base: PlotItemBase,
    cloud: &'a Cloud,
    modality: Modality,
    color: Color32,
}

impl PlotItem for CloudItem<'_> {
    fn shapes(&self, _ui: &egui::Ui, transform: &PlotTransform, shapes: &mut Vec<Shape>) {
        if !self.cloud.points.get(self.modality).is_empty() {
            shapes.push(Shape::Mesh(self.cloud.mesh(self.modality, transform, self.color)));
        }
    }

    fn initialize(&mut self, _x_range: std::ops::RangeInclusive<f64>) {}

    fn color(&self) -> Color32 {
        self.color
    }

    fn geometry(&self) -> PlotGeometry<'_> {
        PlotGeometry::Points(self.cloud.points.get(self.modality))
    }

    fn bounds(&self) -> PlotBounds {
        self.cloud.bounds.get(self.modality).unwrap_or(PlotBounds::NOTHING)
    }

    fn base(&self) -> &PlotItemBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut PlotItemBase {
        &mut self.base
    }

    fn find_closest(&self, point: Pos2, transform: &PlotTransform) -> Option<ClosestElem> {
        let at = transform.value_from_position(point);
        let [dx, dy] = transform.dvalue_dpos();
        let radius = f64::from(HOVER_RADIUS) * dx.abs().max(dy.abs());
        let points = self.cloud.points.get(self.modality);
        let (index, _) = self.cloud.grids.get(self.modality).nearest(points, at, radius)?;
        let position = transform.position_from_point(points.get(index)?);
        Some(ClosestElem { index, dist_sq: position.distance_sq(point) })
    }
}

#[cfg(test)]
mod tests {
    use egui::Rect;

    use super::*;

    fn scattered(n: usize) -> Vec<PlotPoint> {
        // A deterministic spread over [-1, 1]² with clumps, as VA clouds have.
        (0..n)
            .map(|i| {
                let t = i as f64 * 0.618_033_988_75;
                let x = (t.fract() * 2.0 - 1.0) * if i % 3 == 0 { 0.2 } else { 1.0 };
                let y = ((t * 7.3).fract() * 2.0 - 1.0) * if i % 5 == 0 { 0.1 } else { 1.0 };
                PlotPoint::new(x, y)
            })
            .collect()
    }

    fn linear_nearest(points: &[PlotPoint], at: PlotPoint, radius: f64) -> Option<(usize, f64)> {
        points
            .iter()
            .enumerate()
            .map(|(i, p)| (i, (p.x - at.x).powi(2) + (p.y - at.y).powi(2)))
            .filter(|&(_, d)| d <= radius * radius)
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }

    #[test]
    fn grid_nearest_matches_a_linear_scan() {
        let points = scattered(5_000);
        let grid = Grid::new(&points);
        for (k, radius) in [0.01, 0.05, 0.3, 3.0].into_iter().enumerate() {
            for q in scattered(200).into_iter().map(|p| PlotPoint::new(p.y * 1.1 + k as f64 * 0.01, p.x * 1.1)) {
                let got = grid.nearest(&points, q, radius).map(|(_, d)| d);
                let want = linear_nearest(&points, q, radius).map(|(_, d)| d);
                assert_eq!(got, want, "query {q:?} radius {radius}");
            }
        }
    }

    #[test]
    fn grid_handles_empty_single_and_far_queries() {
        assert_eq!(Grid::new(&[]).nearest(&[], PlotPoint::new(0.0, 0.0), 1.0), None);
        let one = [PlotPoint::new(0.5, -0.5)];
        let grid = Grid::new(&one);
        assert_eq!(grid.nearest(&one, PlotPoint::new(0.52, -0.5), 0.05).map(|(i, _)| i), Some(0));
        assert_eq!(grid.nearest(&one, PlotPoint::new(5.0, 5.0), 0.05), None);
        assert_eq!(grid.nearest(&one, PlotPoint::new(0.5, -0.5), 0.0), None);
    }

    fn transform(min: [f64; 2], max: [f64; 2]) -> PlotTransform {
        let frame = Rect::from_min_size(Pos2::ZERO, Vec2::splat(100.0));
        PlotTransform::new(frame, PlotBounds::from_min_max(min, max), false)
    }

    fn positions(mesh: &Mesh) -> Vec<Pos2> {
        mesh.vertices.iter().map(|v| v.pos).collect()
    }

    #[test]
    fn quads_place_points_by_the_transform() {
        let points = [PlotPoint::new(0.0, 0.0), PlotPoint::new(0.5, 0.5)];
        let mut mesh = Mesh::default();
        fill_quads(&mut mesh, &points, Placement::of(&transform([-1.0, -1.0], [1.0, 1.0])), Color32::RED);
        assert_eq!(mesh.vertices.len(), 8);
        assert_eq!(mesh.indices.len(), 12);
        let centre = |k: usize| Rect::from_points(&positions(&mesh)[4 * k..4 * k + 4]).center();
        assert!((centre(0) - Pos2::new(50.0, 50.0)).length() < 1e-4);
        // Arousal grows upwards on screen.
        assert!((centre(1) - Pos2::new(75.0, 25.0)).length() < 1e-4, "{:?}", centre(1));
    }

    #[test]
    fn cached_mesh_follows_pans_and_zooms() {
        let cloud = Cloud {
            points: PerModality {
                text: vec![PlotPoint::new(0.1, 0.2), PlotPoint::new(-0.7, 0.4)],
                ..PerModality::default()
            },
            ..Cloud::default()
        };
        let fresh = |t: &PlotTransform| {
            let mut mesh = Mesh::default();
            fill_quads(&mut mesh, &cloud.points.text, Placement::of(t), Color32::RED);
            mesh
        };
        let start = transform([-1.0, -1.0], [1.0, 1.0]);
        let first = cloud.mesh(Modality::Text, &start, Color32::RED);
        assert!(Arc::ptr_eq(&first, &cloud.mesh(Modality::Text, &start, Color32::RED)), "unchanged: reused");
        drop(first);
        for moved in [transform([-0.8, -1.1], [1.2, 0.9]), transform([-0.5, -0.5], [0.5, 0.5])] {
            let mesh = cloud.mesh(Modality::Text, &moved, Color32::RED);
            assert_eq!(mesh.vertices.len(), 8);
            for (a, b) in positions(&mesh).iter().zip(positions(&fresh(&moved))) {
                assert!((*a - b).length() < 1e-3, "{a:?} vs {b:?}");
            }
        }
        // A mesh still held elsewhere (last frame's shapes) is not changed under it.
        let held = cloud.mesh(Modality::Text, &start, Color32::RED);
        let before = positions(&held);
        let _panned = cloud.mesh(Modality::Text, &transform([-0.9, -1.0], [1.1, 1.0]), Color32::RED);
        assert_eq!(positions(&held), before);
        let recoloured = cloud.mesh(Modality::Text, &start, Color32::BLUE);
        assert!(recoloured.vertices.iter().all(|v| v.color == Color32::BLUE));
    }
}
