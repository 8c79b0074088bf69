//! Team audits in the window: two windows on one store — a file, or a PostgreSQL server the
//! team shares — each showing the other's points as they are made; an edit made while the
//! server is down waits on this machine, the badge says so, and it arrives when the server is
//! back; a server's address is remembered without its password.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable as _;
use univa::dataset::Va;
use univa::modality::Modality;
use univa::store::StoreAddress;
use univa::ui::{AuditCommand, Command, Layout, StudioApp, WorkspaceCommand};

use super::gui::{fixture, studio};
use super::gui_audit::{audit, start_as};
use super::servers::postgres;

/// A window on the fixture in the Audit layout, auditing as `name` in the store `store`.
fn window(store: StoreCommand, name: &str) -> Harness<'static, StudioApp> {
    let (data, run) = fixture();
    let mut harness = studio(Some((data.clone(), Some(run.clone()))));
    harness.state_mut().handle(Command::Workspace(WorkspaceCommand::SetLayout(Layout::Audit)));
    audit(&mut harness, store.command());
    assert!(harness.state().view.audit.store.is_some(), "the store opened: {:?}", harness.state().notice);
    start_as(&mut harness, name);
    harness
}

/// How a test window opens its store.
#[derive(Clone)]
enum StoreCommand {
    File(std::path::PathBuf),
    Server(String),
}

impl StoreCommand {
    fn command(&self) -> AuditCommand {
        match self {
            Self::File(path) => AuditCommand::Start { store: Some(StoreAddress::File(path.clone())), remembered: None },
            Self::Server(url) => AuditCommand::UseServer { address: url.clone(), remembered: None },
        }
    }
}

/// Steps `harness` (as the window's frames do) until `seen` holds; how long that took.
fn until(harness: &mut Harness<'static, StudioApp>, what: &str, seen: impl Fn(&StudioApp) -> bool) -> Duration {
    let start = Instant::now();
    while !seen(harness.state()) {
        assert!(start.elapsed() < Duration::from_secs(30), "{what}: not seen after 30 s");
        std::thread::sleep(Duration::from_millis(10));
        harness.run_steps(1);
    }
    start.elapsed()
}

/// `annotator`'s judgment of the text point of utterance `index`, as `app` holds it.
fn judged_by(app: &StudioApp, annotator: &str, index: usize) -> Option<Va> {
    let audit = &app.view.audit;
    let id = audit.annotators.iter().find(|a| a.name == annotator)?.id;
    audit.judgments.get(&id)?.get(&(index, Modality::Text)).map(|j| j.va)
}

#[test]
fn a_second_window_on_the_same_store_file_shows_the_first_ones_points_as_they_are_made() {
    let dir = tempfile::tempdir().unwrap();
    let store = StoreCommand::File(dir.path().join("team.sqlite"));
    let mut alice = window(store.clone(), "alice");
    let mut bob = window(store, "bob");
    assert!(bob.state().view.audit.annotators.iter().any(|a| a.name == "alice"));

    alice.state_mut().handle(Command::Select(2));
    audit(&mut alice, AuditCommand::Set(Modality::Text, Va::new(0.25, -0.5)));
    let took =
        until(&mut bob, "alice's point in bob's window", |app| judged_by(app, "alice", 2) == Some(Va::new(0.25, -0.5)));
    eprintln!("alice's edit appeared in bob's window after {} ms", took.as_millis());

    // A third annotator joining is listed in the windows already open, and bob's review shows
    // alice's point.
    let mut carol = window(StoreCommand::File(dir.path().join("team.sqlite")), "carol");
    carol.state_mut().handle(Command::Select(2));
    audit(&mut carol, AuditCommand::Set(Modality::Text, Va::new(-0.75, 0.5)));
    until(&mut bob, "carol in bob's window", |app| judged_by(app, "carol", 2) == Some(Va::new(-0.75, 0.5)));
    bob.state_mut().handle(Command::Select(2));
    audit(&mut bob, AuditCommand::SetReview(true));
    for name in ["alice", "carol"] {
        assert!(bob.query_all_by_label(name).count() > 0, "{name} in bob's review");
    }
    // A file store has no server badge.
    assert!(bob.state().view.audit.server_status().is_none());
}

#[test]
fn an_address_that_is_not_a_server_is_refused_with_what_to_type() {
    let (data, run) = fixture();
    let mut harness = studio(Some((data.clone(), Some(run.clone()))));
    audit(&mut harness, AuditCommand::UseServer { address: "lab-server:5432".to_owned(), remembered: None });
    let notice = harness.state().notice.clone().expect("a notice");
    assert!(notice.is_error && notice.text.contains("postgres://"), "{}", notice.text);
    assert!(harness.state().view.audit.store.is_none());
}

#[test]
fn two_windows_on_one_server_see_each_others_points_and_an_edit_made_offline_arrives_later() {
    let Some(server) = postgres() else { return };
    let url = server.url_with_password("gui_team");
    let mut alice = window(StoreCommand::Server(url.clone()), "alice");
    let mut bob = window(StoreCommand::Server(url), "bob");
    // Remembered, and offered again, without the password.
    let remembered = alice.state().settings.last_server.clone().expect("the server is remembered");
    assert!(!remembered.contains(super::servers::POSTGRES_PASSWORD), "{remembered}");
    assert!(remembered.starts_with("postgres://univa@127.0.0.1:"), "{remembered}");
    let status = alice.state().view.audit.server_status().expect("a server store");
    assert!(status.online && status.pending == 0, "{status:?}");
    // In the Audit pane and the status bar.
    assert_eq!(alice.query_all_by_label("● server").count(), 2);

    // Each sees the other's points.
    let mut took = Vec::new();
    for (round, index) in [0usize, 1, 3].into_iter().enumerate() {
        let va = Va::new(0.1 * round as f32, -0.2);
        alice.state_mut().handle(Command::Select(index));
        audit(&mut alice, AuditCommand::Set(Modality::Text, va));
        took.push(until(&mut bob, "alice's point in bob's window", |app| judged_by(app, "alice", index) == Some(va)));
        bob.state_mut().handle(Command::Select(index));
        audit(&mut bob, AuditCommand::Set(Modality::Text, Va::new(-0.4, 0.3)));
        took.push(until(&mut alice, "bob's point in alice's window", |app| {
            judged_by(app, "bob", index) == Some(Va::new(-0.4, 0.3))
        }));
    }
    let ms: Vec<u128> = took.iter().map(Duration::as_millis).collect();
    eprintln!("an edit appeared in the other window after (ms): {ms:?}");

    // The server goes down: alice's edit waits on her machine, and the badge says so.
    server.stop();
    alice.state_mut().handle(Command::Select(4));
    audit(&mut alice, AuditCommand::Set(Modality::Text, Va::new(0.5, 0.5)));
    assert_eq!(judged_by(alice.state(), "alice", 4), Some(Va::new(0.5, 0.5)), "the edit counts at once");
    until(&mut alice, "the offline badge", |app| {
        app.view.audit.server_status().is_some_and(|s| !s.online && s.pending == 1)
    });
    alice.run_steps(1);
    assert_eq!(alice.query_all_by_label("⚠ offline: 1 edit waiting on this machine").count(), 2);

    // Back: the edit is sent, and bob sees it.
    server.resume();
    until(&mut alice, "the journal sent", |app| {
        app.view.audit.server_status().is_some_and(|s| s.online && s.pending == 0)
    });
    until(&mut bob, "the offline edit in bob's window", |app| judged_by(app, "alice", 4) == Some(Va::new(0.5, 0.5)));
}
