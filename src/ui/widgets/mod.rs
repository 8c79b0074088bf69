//! Drawing helpers every pane may use and that know nothing of the app: the theme (colours,
//! sizes, dark and light visuals), the point-mesh plot item of the large maps, and the clip's
//! timeline.

pub mod point_mesh;
pub mod theme;
pub mod timeline;
