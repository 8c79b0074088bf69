pub mod play_window;
