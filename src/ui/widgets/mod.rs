//! Drawing helpers every pane may use and that know nothing of the app: the theme (colours,
//! sizes, dark and light visuals), the point-mesh plot item of the large maps, the clip's
//! timeline, the badge of a server store's connection, and text as panes lay it out.

pub mod point_mesh;
pub mod sync_badge;
pub mod text;
pub mod theme;
pub mod timeline;

pub use text::{labelled_combo, labelled_slider, text_width, wrapped_height};
