//! The embedding map's points as egui_plot items that draw one mesh of small quads each (a
//! class of points, or a continuous scale), so a whole training split (50,000 points) draws in
//! one pass instead of one shape per point; hover scans the item's points only when asked.

use egui::epaint::{Mesh, Vertex, WHITE_UV};
use egui::{Color32, Pos2, Shape};
use egui_plot::{ClosestElem, PlotBounds, PlotGeometry, PlotItem, PlotItemBase, PlotPoint, PlotTransform};

/// Half the side of a map point's square, in points.
const POINT_HALF_SIZE: f32 = 1.6;
/// How far from the pointer (in points) hover looks for a map point.
const HOVER_RADIUS: f32 = 10.0;

/// One legend entry of the map: its points, their colours and which map point each is.
pub struct MapItem {
    base: PlotItemBase,
    /// The legend's colour.
    color: Color32,
    pub points: Vec<PlotPoint>,
    /// One colour per point.
    pub colors: Vec<Color32>,
    /// Index into the map's points of each point.
    pub members: Vec<usize>,
    bounds: PlotBounds,
}

impl MapItem {
    pub fn new(name: String, color: Color32) -> Self {
        Self {
            base: PlotItemBase::new(name),
            color,
            points: Vec::new(),
            colors: Vec::new(),
            members: Vec::new(),
            bounds: PlotBounds::NOTHING,
        }
    }

    pub fn push(&mut self, member: usize, position: [f32; 2], color: Color32) {
        let point = PlotPoint::new(f64::from(position[0]), f64::from(position[1]));
        self.bounds.extend_with(&point);
        self.points.push(point);
        self.colors.push(color);
        self.members.push(member);
    }

    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Appends one quad per point (two triangles) to `mesh`, in screen space.
pub fn fill_quads(mesh: &mut Mesh, transform: &PlotTransform, points: &[PlotPoint], colors: &[Color32]) {
    mesh.vertices.reserve(points.len() * 4);
    mesh.indices.reserve(points.len() * 6);
    let h = POINT_HALF_SIZE;
    for (point, &color) in points.iter().zip(colors) {
        let c = transform.position_from_point(point);
        let base = mesh.vertices.len() as u32;
        for (dx, dy) in [(-h, -h), (h, -h), (h, h), (-h, h)] {
            mesh.vertices.push(Vertex { pos: Pos2::new(c.x + dx, c.y + dy), uv: WHITE_UV, color });
        }
        mesh.indices.extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
    }
}

impl PlotItem for MapItem {
    fn shapes(&self, _ui: &egui::Ui, transform: &PlotTransform, shapes: &mut Vec<Shape>) {
        if self.points.is_empty() {
            return;
        }
        let mut mesh = Mesh::default();
        fill_quads(&mut mesh, transform, &self.points, &self.colors);
        shapes.push(Shape::mesh(mesh));
    }

    fn initialize(&mut self, _x_range: std::ops::RangeInclusive<f64>) {}

    fn color(&self) -> Color32 {
        self.color
    }

    fn geometry(&self) -> PlotGeometry<'_> {
        PlotGeometry::Points(&self.points)
    }

    fn bounds(&self) -> PlotBounds {
        self.bounds
    }

    fn base(&self) -> &PlotItemBase {
        &self.base
    }

    fn base_mut(&mut self) -> &mut PlotItemBase {
        &mut self.base
    }

    fn find_closest(&self, point: Pos2, transform: &PlotTransform) -> Option<ClosestElem> {
        let limit = HOVER_RADIUS * HOVER_RADIUS;
        self.points
            .iter()
            .enumerate()
            .map(|(index, p)| ClosestElem { index, dist_sq: transform.position_from_point(p).distance_sq(point) })
            .filter(|c| c.dist_sq <= limit)
            .min_by(|a, b| a.dist_sq.total_cmp(&b.dist_sq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quads_cover_every_point() {
        let transform = PlotTransform::new(
            egui::Rect::from_min_size(Pos2::ZERO, egui::vec2(100.0, 100.0)),
            PlotBounds::from_min_max([0.0, 0.0], [1.0, 1.0]),
            egui::Vec2b::FALSE,
        );
        let points = [PlotPoint::new(0.5, 0.5), PlotPoint::new(0.0, 1.0)];
        let mut mesh = Mesh::default();
        fill_quads(&mut mesh, &transform, &points, &[Color32::RED, Color32::BLUE]);
        assert_eq!(mesh.vertices.len(), 8);
        assert_eq!(mesh.indices.len(), 12);
        let centre: Pos2 = mesh.vertices[..4].iter().fold(Pos2::ZERO, |acc, v| acc + v.pos.to_vec2() / 4.0);
        assert!((centre - Pos2::new(50.0, 50.0)).length() < 1e-4);
        assert!(mesh.vertices[4..].iter().all(|v| v.color == Color32::BLUE));
    }
}
