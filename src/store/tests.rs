use rusqlite::Connection;

use super::*;
use crate::dataset::VaOverlay;

fn judgment(v: f32, a: f32, status: Status) -> Judgment {
    Judgment { va: Va::new(v, a), status, unsure: false, reason: String::new() }
}

fn change<'a>(annotator: AnnotatorId, utterance: &'a str, kind: EventKind, new: Option<Judgment>) -> Change<'a> {
    Change {
        annotator,
        utterance,
        modality: Modality::Vision,
        kind,
        new,
        reason: "looks sad",
        source_model: "fer@1",
        model: None,
    }
}

#[test]
fn a_new_store_is_at_the_latest_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.sqlite"), "demo").unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    let mode: String = store.conn().pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    // 2 = FULL
    let synchronous: i64 = store.conn().pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
    assert_eq!(synchronous, 2);
    store.integrity_check().unwrap();
}

#[test]
fn a_closed_store_file_holds_every_edit_while_another_window_keeps_it_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let other_window = Store::open(&path, "demo").unwrap();
    {
        let mut store = Store::open(&path, "demo").unwrap();
        let alice = store.create_annotator("alice", "").unwrap();
        store.record(&change(alice.id, "u1", EventKind::Correct, Some(judgment(0.5, 0.5, Status::Corrected)))).unwrap();
    }
    // The file alone, copied without its write-ahead log (as one mails it to the lead).
    let copy = dir.path().join("copy.sqlite");
    std::fs::copy(&path, &copy).unwrap();
    let copied = Store::open(&copy, "demo").unwrap();
    assert_eq!(copied.events().unwrap().len(), 1, "the edit stayed in the log beside the file");
    drop(other_window);
}

#[test]
fn edits_undo_and_redo_are_events_and_leave_the_right_judgment() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let mut store = Store::open(&path, "demo").unwrap();
    let alice = store.create_annotator("alice", "linguist").unwrap();
    let bob = store.create_annotator(" bob ", "").unwrap();
    assert_eq!(bob.name, "bob");
    assert!(store.create_annotator("alice", "").is_err(), "names are unique");
    assert!(store.create_annotator("  ", "").is_err());

    let first = store
        .record(&change(alice.id, "u1", EventKind::Correct, Some(judgment(0.5, -0.25, Status::Corrected))))
        .unwrap();
    assert_eq!(first.old, None);
    let second = store
        .record(&change(alice.id, "u1", EventKind::Correct, Some(judgment(0.75, -0.25, Status::Corrected))))
        .unwrap();
    assert_eq!(second.old.as_ref().unwrap().va, Va::new(0.5, -0.25));
    store.record(&change(bob.id, "u1", EventKind::Accept, Some(judgment(0.1, 0.2, Status::Accepted)))).unwrap();

    let undo = store.undo(alice.id, second.id).unwrap();
    assert_eq!((undo.kind, undo.target), (EventKind::Undo, Some(second.id)));
    assert_eq!(store.judgments().unwrap()[&alice.id][&("u1".to_owned(), Modality::Vision)].va, Va::new(0.5, -0.25));
    let undo_first = store.undo(alice.id, first.id).unwrap();
    assert_eq!(undo_first.new, None);
    let judgments = store.judgments().unwrap();
    assert!(!judgments.get(&alice.id).is_some_and(|j| j.contains_key(&("u1".to_owned(), Modality::Vision))));
    store.redo(alice.id, first.id).unwrap();
    assert!(store.undo(bob.id, first.id).is_err(), "one annotator cannot undo another's edit");
    // Values survive a reopen; the log holds every edit, undo and redo.
    drop(store);
    let store = Store::open(&path, "demo").unwrap();
    let judgments = store.judgments().unwrap();
    assert_eq!(judgments[&alice.id][&("u1".to_owned(), Modality::Vision)].va, Va::new(0.5, -0.25));
    assert_eq!(judgments[&bob.id][&("u1".to_owned(), Modality::Vision)].status, Status::Accepted);
    let kinds: Vec<EventKind> = store.events().unwrap().iter().map(|e| e.kind).collect();
    let expected =
        [EventKind::Correct, EventKind::Correct, EventKind::Accept, EventKind::Undo, EventKind::Undo, EventKind::Redo];
    assert_eq!(kinds, expected);
    let event = &store.events().unwrap()[0];
    assert_eq!(
        (event.reason.as_str(), event.source_model.as_str(), event.utterance.as_str()),
        ("looks sad", "fer@1", "u1")
    );
    assert!(event.time_utc.ends_with('Z') && event.time_utc.len() == 24, "{}", event.time_utc);
    let csv = String::from_utf8(events_csv(&store).unwrap()).unwrap();
    assert_eq!(csv.lines().count(), 7);
    assert!(
        csv.lines().nth(1).unwrap().contains(",alice,u1,vision,correct,,,,,0.5,-0.25,corrected,0,looks sad,fer@1,"),
        "{csv}"
    );
}

#[test]
fn values_outside_the_plane_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("s.sqlite"), "demo").unwrap();
    let a = store.create_annotator("a", "").unwrap();
    for bad in [1.5, f32::NAN] {
        let result = store.record(&change(a.id, "u1", EventKind::Correct, Some(judgment(bad, 0.0, Status::Corrected))));
        assert!(matches!(result, Err(StoreError::Invalid { .. })), "{result:?}");
    }
    assert!(store.events().unwrap().is_empty());
}

#[test]
fn an_old_store_is_migrated_keeping_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    {
        // A store as the first schema left it.
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("INSERT INTO meta (key, value) VALUES ('dataset', 'demo')", []).unwrap();
        conn.execute("INSERT INTO annotators (name, note, created_utc) VALUES ('old', '', 'x')", []).unwrap();
    }
    let store = Store::open(&path, "demo").unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.annotators().unwrap()[0].name, "old");
    let index: i64 = store
        .conn()
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = 'events_by_utterance'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(index, 1);
}

#[test]
fn a_store_from_a_newer_version_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(Store::open(&path, "demo").unwrap());
    Connection::open(&path).unwrap().pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    let error = Store::open(&path, "demo").unwrap_err();
    assert!(matches!(error, StoreError::Newer { found, .. } if found == SCHEMA_VERSION + 1));
    let message = error.to_string();
    assert!(message.contains("s.sqlite") && message.contains("newer UniVA Studio"), "{message}");
}

#[test]
fn another_datasets_store_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    drop(Store::open(&path, "demo").unwrap());
    let error = Store::open(&path, "other").unwrap_err();
    assert!(error.to_string().contains("belongs to dataset \"demo\""), "{error}");
}

#[test]
fn a_corrupt_file_is_reported_and_left_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    // Not a database at all.
    let garbage = dir.path().join("garbage.sqlite");
    let bytes: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::File::create(&garbage).and_then(|mut f| std::io::Write::write_all(&mut f, &bytes)).unwrap();
    let error = Store::open(&garbage, "demo").unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("left untouched"), "{error}");
    assert_eq!(std::fs::read(&garbage).unwrap(), bytes);

    // A real store with damaged pages.
    let damaged = dir.path().join("damaged.sqlite");
    {
        let mut store = Store::open(&damaged, "demo").unwrap();
        let a = store.create_annotator("a", "").unwrap();
        for i in 0..400 {
            let id = format!("utterance-{i:04}-with-a-long-name-to-fill-pages");
            store.record(&change(a.id, &id, EventKind::Correct, Some(judgment(0.1, 0.2, Status::Corrected)))).unwrap();
        }
        store.conn().pragma_update(None, "wal_checkpoint", "TRUNCATE").ok();
    }
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 8 * 4096, "{}", bytes.len());
    // Overwrite the middle of the file (past the header and schema page) with junk.
    for (i, b) in bytes.iter_mut().enumerate().skip(4096 * 3).take(4096 * 3) {
        *b = (i % 251) as u8;
    }
    std::fs::File::create(&damaged).and_then(|mut f| std::io::Write::write_all(&mut f, &bytes)).unwrap();
    let error = Store::open(&damaged, "demo").unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert_eq!(std::fs::read(&damaged).unwrap(), bytes);
}

#[test]
fn the_store_sits_beside_the_dataset_or_falls_back_when_the_folder_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("my-data");
    std::fs::create_dir(&dataset).unwrap();
    let data_dir = dir.path().join("user-data");
    let beside = StoreLocation::resolve_with(&dataset, None, Some(&data_dir), |_| true).unwrap();
    assert_eq!(beside, StoreLocation { path: dataset.join(STORE_FILE), fallback: false, read_only: false });
    let fallback = StoreLocation::resolve_with(&dataset, None, Some(&data_dir), |_| false).unwrap();
    assert!(fallback.fallback);
    assert!(fallback.path.starts_with(data_dir.join("stores")), "{fallback:?}");
    let name = fallback.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("my-data-") && name.ends_with(".sqlite"), "{name}");
    // The same folder always gets the same fallback store, another folder another one.
    assert_eq!(StoreLocation::resolve_with(&dataset, None, Some(&data_dir), |_| false).unwrap(), fallback);
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    assert_ne!(StoreLocation::resolve_with(&other, None, Some(&data_dir), |_| false).unwrap().path, fallback.path);
    // The fallback store opens, creating its folder.
    Store::open(&fallback.path, "demo").unwrap();
    // A path the user picks wins; no data folder and no write access is an error, not a guess.
    let picked = dir.path().join("picked.sqlite");
    assert_eq!(StoreLocation::resolve_with(&dataset, Some(&picked), None, |_| false).unwrap().path, picked);
    assert!(StoreLocation::resolve_with(&dataset, None, None, |_| false).is_err());
    assert!(is_writable_dir(&dataset));
    assert!(!is_writable_dir(&dataset.join("missing")));
}

#[test]
fn overlays_of_one_annotator_or_the_mean_and_median_of_all() {
    use crate::dataset::synth::{SynthConfig, write_synthetic};
    use crate::modality::PerModality;
    let dir = tempfile::tempdir().unwrap();
    let config = SynthConfig {
        utterances: 12,
        shapes: PerModality { text: (2, 2), vision: (2, 2), audio: (2, 2) },
        ..SynthConfig::default()
    };
    write_synthetic(&dir.path().join("data"), &config).unwrap();
    let dataset = crate::dataset::Dataset::open(dir.path().join("data")).unwrap();
    let (first, second) = (dataset.utterances[0].id.clone(), dataset.utterances[1].id.clone());
    let mut store = Store::open(&dir.path().join("s.sqlite"), &dataset.manifest.name).unwrap();
    let ids: Vec<AnnotatorId> = ["a", "b", "c"].iter().map(|n| store.create_annotator(n, "").unwrap().id).collect();
    for (&id, v) in ids.iter().zip([0.1f32, 0.2, 0.6]) {
        store.record(&change(id, &first, EventKind::Correct, Some(judgment(v, -v, Status::Corrected)))).unwrap();
    }
    store.record(&change(ids[0], &second, EventKind::Accept, Some(judgment(0.5, 0.5, Status::Accepted)))).unwrap();
    let out = dir.path().join("o.csv");
    let mean = overlay_of(&store, &dataset, &OverlaySource::Consensus(Consensus::Mean), &out).unwrap();
    // Rows in table order, one per judged utterance; only the judged modality is given.
    assert_eq!(mean.rows.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [first.as_str(), second.as_str()]);
    let va = mean.rows[0].va.vision.unwrap();
    assert!((va.valence - 0.3).abs() < 1e-6 && (va.arousal + 0.3).abs() < 1e-6, "{va:?}");
    assert_eq!((mean.rows[0].va.text, mean.rows[0].provenance.as_str()), (None, "audit:consensus"));
    let median = overlay_of(&store, &dataset, &OverlaySource::Consensus(Consensus::Median), &out).unwrap();
    assert_eq!(median.rows[0].va.vision, Some(Va::new(0.2, -0.2)));
    let b = overlay_of(&store, &dataset, &OverlaySource::Annotator("b".to_owned()), &out).unwrap();
    assert_eq!(
        (b.rows.len(), b.rows[0].va.vision, b.rows[0].provenance.as_str()),
        (1, Some(Va::new(0.2, -0.2)), "audit:b")
    );
    // The CSV reads back as it was written.
    let path = dir.path().join("mean.csv");
    std::fs::File::create(&path).and_then(|mut f| std::io::Write::write_all(&mut f, &mean.to_csv().unwrap())).unwrap();
    assert_eq!(VaOverlay::read(&path).unwrap().rows, mean.rows);
    // Judgments of an utterance the dataset does not have are an error, not dropped.
    store.record(&change(ids[0], "gone", EventKind::Correct, Some(judgment(0.0, 0.0, Status::Corrected)))).unwrap();
    let error = overlay_of(&store, &dataset, &OverlaySource::Annotator("a".to_owned()), &out).unwrap_err();
    assert!(error.to_string().contains("\"gone\""), "{error}");
}

// Issue 32 item 18: a read-only dataset folder that holds its store: the store beside it is
// read (read-only), not an empty one in the user's data folder.
#[test]
fn a_store_beside_a_read_only_dataset_is_read_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("shared-data");
    std::fs::create_dir(&dataset).unwrap();
    let path = dataset.join(STORE_FILE);
    {
        let mut store = Store::open(&path, "demo").unwrap();
        let alice = store.create_annotator("alice", "").unwrap();
        store
            .record(&Change {
                annotator: alice.id,
                utterance: "u1",
                modality: Modality::Text,
                kind: EventKind::Correct,
                new: Some(Judgment {
                    va: Va::new(0.5, -0.25),
                    status: Status::Corrected,
                    unsure: false,
                    reason: String::new(),
                }),
                reason: "",
                source_model: "m",
                model: None,
            })
            .unwrap();
    }
    let data_dir = dir.path().join("user-data");
    let location = StoreLocation::resolve_with(&dataset, None, Some(&data_dir), |_| false).unwrap();
    assert_eq!(location, StoreLocation { path: path.clone(), fallback: false, read_only: true });
    let bytes = std::fs::read(&path).unwrap();
    let mut store = Store::open_read_only(&path, "demo").unwrap();
    assert!(store.is_read_only());
    assert_eq!(store.events().unwrap().len(), 1);
    assert_eq!(store.judgments().unwrap().values().next().unwrap().len(), 1);
    let err = store.create_annotator("bob", "").unwrap_err().to_string();
    assert!(err.contains("is read-only") && err.contains("Copy it"), "{err}");
    let alice = store.annotators().unwrap()[0].id;
    let err = store.undo(alice, 1).unwrap_err();
    assert!(matches!(err, StoreError::ReadOnly { .. }), "{err}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "a read-only store was written");
    assert!(matches!(Store::open_read_only(&path, "other"), Err(StoreError::OtherDataset { .. })));
}

#[test]
fn a_read_only_store_is_copied_whole_to_go_on_editing_and_no_copy_overwrites_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let mut store = Store::open(&path, "demo").unwrap();
    let alice = store.create_annotator("alice", "").unwrap();
    store.record(&change(alice.id, "u1", EventKind::Correct, Some(judgment(0.5, -0.25, Status::Corrected)))).unwrap();
    drop(store);
    let shared = Store::open_read_only(&path, "demo").unwrap();
    assert!(shared.is_read_only());
    let copy = dir.path().join("mine").join("copy.sqlite");
    shared.copy_to(&copy).unwrap();
    let mut mine = Store::open(&copy, "demo").unwrap();
    assert!(!mine.is_read_only());
    assert_eq!(mine.events().unwrap(), Store::open(&path, "demo").unwrap().events().unwrap());
    // The copy can be edited; the shared store cannot.
    mine.record(&change(alice.id, "u2", EventKind::Correct, Some(judgment(0.1, 0.1, Status::Corrected)))).unwrap();
    assert!(matches!(
        Store::open_read_only(&path, "demo").unwrap().record(&change(alice.id, "u2", EventKind::Correct, None)),
        Err(StoreError::ReadOnly { .. })
    ));
    let err = shared.copy_to(&copy).unwrap_err().to_string();
    assert!(err.contains("already exists"), "{err}");
    assert!(
        !dir.path().join("mine").read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains("partial"))
    );
}

#[test]
fn changes_since_a_mark_tell_another_writers_edits_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite");
    let mut writer = Store::open(&path, "demo").unwrap();
    let reader = Store::open(&path, "demo").unwrap();
    let mark = reader.change_mark().unwrap();
    let quiet = reader.changes_since(mark).unwrap();
    assert!(quiet.is_empty() && quiet.mark == mark);
    let alice = writer.create_annotator("alice", "").unwrap();
    let first = writer.record(&change(alice.id, "u1", EventKind::Correct, Some(judgment(0.5, 0.5, Status::Corrected))));
    let first = first.unwrap();
    writer.record(&change(alice.id, "u2", EventKind::Correct, Some(judgment(0.1, 0.1, Status::Corrected)))).unwrap();
    writer.undo(alice.id, first.id).unwrap();
    let changes = reader.changes_since(mark).unwrap();
    assert_eq!(changes.events.len(), 3);
    assert_eq!(changes.annotators.as_deref(), Some(std::slice::from_ref(&alice)));
    assert_eq!(
        changes.judgments,
        [
            (alice.id, "u1".to_owned(), Modality::Vision, None),
            (alice.id, "u2".to_owned(), Modality::Vision, Some(judgment(0.1, 0.1, Status::Corrected)))
        ]
    );
    let again = reader.changes_since(changes.mark).unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(writer.sync_status(), SyncStatus { online: true, pending: 0, problem: None });
}
