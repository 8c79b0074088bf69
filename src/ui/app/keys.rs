//! Every key of the app in one table: the bindings the app acts on each frame, and the sheet
//! (Help → Keyboard shortcuts, F1) drawn from the same table, so the two cannot drift.

use egui::{Key, KeyboardShortcut, Modifiers};

use crate::ui::state::{
    AuditCommand, Command, Layout, NUDGE_STEP, NUDGE_STEP_LARGE, SEEK_STEP_SECS, Transport, WorkspaceCommand,
};

/// When a binding acts. Only [`When::Always`] bindings act while a text field has focus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Always,
    /// Auditing (not reviewing).
    Auditing,
    /// While a point of the VA plane is armed for the arrows.
    Armed,
    /// While a pane fills the window.
    Maximized,
    /// In the Demo layout: the arrows step through utterances, for a clicker.
    Demo,
    /// Anywhere else.
    Browsing,
    /// Bound by the tile tree itself (listed for the sheet).
    Tiles,
}

impl When {
    fn name(self) -> &'static str {
        match self {
            Self::Always => "anywhere",
            Self::Auditing => "auditing",
            Self::Armed => "a VA point armed",
            Self::Maximized => "a pane maximised",
            Self::Demo => "Demo layout",
            Self::Browsing => "not typing",
            Self::Tiles => "pointer over tabs",
        }
    }
}

/// What the app's state says about which bindings act this frame.
#[derive(Clone, Copy, Debug)]
pub struct KeyState {
    pub typing: bool,
    pub auditing: bool,
    pub armed: bool,
    pub maximized: bool,
    pub layout: Layout,
    pub zoom: f32,
}

impl KeyState {
    fn active(&self, when: When) -> bool {
        match when {
            When::Always => true,
            When::Tiles => false,
            _ if self.typing => false,
            When::Auditing => self.auditing,
            When::Armed => self.armed,
            When::Maximized => self.maximized,
            When::Demo => self.layout == Layout::Demo,
            When::Browsing => true,
        }
    }
}

/// One key of the app: the shortcut, when it acts, what it does and how the sheet says it.
pub struct Binding {
    pub shortcut: KeyboardShortcut,
    pub when: When,
    pub what: &'static str,
    action: Option<fn(&KeyState) -> Command>,
}

const fn key(
    modifiers: Modifiers,
    key: Key,
    when: When,
    what: &'static str,
    action: fn(&KeyState) -> Command,
) -> Binding {
    Binding { shortcut: KeyboardShortcut::new(modifiers, key), when, what, action: Some(action) }
}

const NONE: Modifiers = Modifiers::NONE;
const SHIFT: Modifiers = Modifiers::SHIFT;
const COMMAND: Modifiers = Modifiers::COMMAND;
const COMMAND_SHIFT: Modifiers = Modifiers::COMMAND.plus(Modifiers::SHIFT);

fn audit(command: AuditCommand) -> Command {
    Command::Audit(command)
}

fn nudge(valence: f32, arousal: f32) -> Command {
    audit(AuditCommand::Nudge { valence, arousal })
}

fn workspace(command: WorkspaceCommand) -> Command {
    Command::Workspace(command)
}

/// The UI zoom one Ctrl+= or Ctrl+− step multiplies or divides by.
const ZOOM_STEP: f32 = 1.1;

/// Every binding, most specific first: the first active binding of a key takes it.
pub static BINDINGS: [Binding; 27] = [
    key(NONE, Key::F1, When::Always, "keyboard shortcuts (this sheet)", |_| {
        workspace(WorkspaceCommand::ShowShortcuts(true))
    }),
    key(NONE, Key::F11, When::Always, "full screen", |_| workspace(WorkspaceCommand::ToggleFullscreen)),
    key(COMMAND, Key::Equals, When::Always, "zoom in (text and plots)", |s| {
        workspace(WorkspaceCommand::SetZoom(s.zoom * ZOOM_STEP))
    }),
    key(COMMAND, Key::Plus, When::Always, "zoom in", |s| workspace(WorkspaceCommand::SetZoom(s.zoom * ZOOM_STEP))),
    key(COMMAND, Key::Minus, When::Always, "zoom out", |s| workspace(WorkspaceCommand::SetZoom(s.zoom / ZOOM_STEP))),
    key(COMMAND, Key::Num0, When::Always, "the layout's own zoom", |s| {
        workspace(WorkspaceCommand::SetZoom(s.layout.default_zoom()))
    }),
    key(COMMAND, Key::Q, When::Always, "quit", |_| workspace(WorkspaceCommand::Quit)),
    // Ctrl+Shift+Z before Ctrl+Z: Ctrl+Z also matches with Shift held.
    key(COMMAND_SHIFT, Key::Z, When::Auditing, "redo", |_| audit(AuditCommand::Redo)),
    key(COMMAND, Key::Y, When::Auditing, "redo", |_| audit(AuditCommand::Redo)),
    key(COMMAND, Key::Z, When::Auditing, "undo", |_| audit(AuditCommand::Undo)),
    key(NONE, Key::Enter, When::Auditing, "accept what is left and go to the next", |_| {
        audit(AuditCommand::AcceptAndNext)
    }),
    key(SHIFT, Key::ArrowLeft, When::Armed, "nudge the point: valence −0.1", |_| nudge(-NUDGE_STEP_LARGE, 0.0)),
    key(SHIFT, Key::ArrowRight, When::Armed, "nudge the point: valence +0.1", |_| nudge(NUDGE_STEP_LARGE, 0.0)),
    key(SHIFT, Key::ArrowUp, When::Armed, "nudge the point: arousal +0.1", |_| nudge(0.0, NUDGE_STEP_LARGE)),
    key(SHIFT, Key::ArrowDown, When::Armed, "nudge the point: arousal −0.1", |_| nudge(0.0, -NUDGE_STEP_LARGE)),
    key(NONE, Key::ArrowLeft, When::Armed, "nudge the point: valence −0.01", |_| nudge(-NUDGE_STEP, 0.0)),
    key(NONE, Key::ArrowRight, When::Armed, "nudge the point: valence +0.01", |_| nudge(NUDGE_STEP, 0.0)),
    key(NONE, Key::ArrowUp, When::Armed, "nudge the point: arousal +0.01", |_| nudge(0.0, NUDGE_STEP)),
    key(NONE, Key::ArrowDown, When::Armed, "nudge the point: arousal −0.01", |_| nudge(0.0, -NUDGE_STEP)),
    key(NONE, Key::Escape, When::Armed, "release the armed point", |_| audit(AuditCommand::Arm(None))),
    key(NONE, Key::Escape, When::Maximized, "restore the maximised pane", |_| {
        workspace(WorkspaceCommand::Maximize(None))
    }),
    key(NONE, Key::ArrowLeft, When::Demo, "previous utterance", |_| Command::SelectPrevious),
    key(NONE, Key::ArrowRight, When::Demo, "next utterance", |_| Command::SelectNext),
    key(NONE, Key::Space, When::Browsing, "play / pause", |_| Command::Transport(Transport::TogglePlay)),
    key(SHIFT, Key::ArrowLeft, When::Browsing, "one frame back", |_| Command::Transport(Transport::StepFrames(-1))),
    key(SHIFT, Key::ArrowRight, When::Browsing, "one frame on", |_| Command::Transport(Transport::StepFrames(1))),
    key(NONE, Key::L, When::Browsing, "loop the utterance on or off", |_| Command::Transport(Transport::ToggleLooping)),
];

/// Bindings after [`BINDINGS`]: the seek and browse keys (their text names the step), and
/// what the tile tree binds.
pub static MORE_BINDINGS: [Binding; 6] = [
    key(NONE, Key::ArrowLeft, When::Browsing, "seek back 2 s", |_| {
        Command::Transport(Transport::SeekBy(-SEEK_STEP_SECS))
    }),
    key(NONE, Key::ArrowRight, When::Browsing, "seek on 2 s", |_| {
        Command::Transport(Transport::SeekBy(SEEK_STEP_SECS))
    }),
    key(NONE, Key::ArrowUp, When::Browsing, "previous utterance", |_| Command::SelectPrevious),
    key(NONE, Key::ArrowDown, When::Browsing, "next utterance", |_| Command::SelectNext),
    Binding {
        shortcut: KeyboardShortcut::new(Modifiers::CTRL, Key::Tab),
        when: When::Tiles,
        what: "next tab of the tabs under the pointer",
        action: None,
    },
    Binding {
        shortcut: KeyboardShortcut::new(Modifiers::CTRL.plus(Modifiers::SHIFT), Key::Tab),
        when: When::Tiles,
        what: "previous tab of the tabs under the pointer",
        action: None,
    },
];

/// Every binding, in the order they are tried.
pub fn all() -> impl Iterator<Item = &'static Binding> {
    BINDINGS.iter().chain(&MORE_BINDINGS)
}

/// Takes this frame's presses of the active bindings' keys (each press one command), most
/// specific binding first, so a key armed for the audit is not also a seek.
pub fn commands(ctx: &egui::Context, state: &KeyState) -> Vec<Command> {
    let mut commands = Vec::new();
    ctx.input_mut(|input| {
        for binding in all().filter(|b| state.active(b.when)) {
            let Some(action) = binding.action else { continue };
            let shortcut = binding.shortcut;
            let presses = input.count_and_consume_key(shortcut.modifiers, shortcut.logical_key);
            commands.extend((0..presses).map(|_| action(state)));
        }
    });
    commands
}

/// The sheet: every key, what it does and when, in the table's order.
pub fn sheet_ui(ui: &mut egui::Ui) {
    egui::Grid::new("shortcut_sheet").num_columns(3).striped(true).show(ui, |ui| {
        ui.strong("key");
        ui.strong("does");
        ui.strong("when");
        ui.end_row();
        for binding in all() {
            ui.monospace(ui.ctx().format_shortcut(&binding.shortcut));
            ui.label(binding.what);
            ui.weak(binding.when.name());
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shortcut_is_bound_twice_for_the_same_state() {
        // Within one `When`, a shortcut is bound once: the table has no dead row.
        let rows: Vec<_> = all().map(|b| (b.shortcut, b.when)).collect();
        for (i, a) in rows.iter().enumerate() {
            assert!(!rows[i + 1..].contains(a), "{a:?} is bound twice");
        }
    }
}
