//! Drawing helpers every pane may use and that know nothing of the app: the theme (colours,
//! sizes, dark and light visuals), the point-mesh plot item of the large maps, the clip's
//! timeline, and the badge of a server store's connection.

pub mod point_mesh;
pub mod sync_badge;
pub mod theme;
pub mod timeline;
