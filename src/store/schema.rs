//! The store's schema as numbered migrations. `PRAGMA user_version` holds the number of the last
//! migration applied; a store is brought up to [`LATEST`] in one transaction when it is opened.

/// Migration `i + 1` is `MIGRATIONS[i]`. Never edit a released migration; append a new one.
pub(super) const MIGRATIONS: [&str; 4] = [
    // 1: annotators, the append-only event log, each annotator's current judgment per
    // utterance and modality, and facts about the store (which dataset it belongs to).
    "CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE annotators (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        note TEXT NOT NULL DEFAULT '',
        created_utc TEXT NOT NULL
    );
    CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        annotator_id INTEGER NOT NULL REFERENCES annotators(id),
        time_utc TEXT NOT NULL,
        utterance_id TEXT NOT NULL,
        modality TEXT NOT NULL,
        kind TEXT NOT NULL,
        old_valence REAL,
        old_arousal REAL,
        old_status TEXT,
        old_unsure INTEGER,
        old_reason TEXT,
        new_valence REAL,
        new_arousal REAL,
        new_status TEXT,
        new_unsure INTEGER,
        new_reason TEXT,
        reason TEXT NOT NULL DEFAULT '',
        source_model TEXT NOT NULL DEFAULT '',
        target_event INTEGER REFERENCES events(id)
    );
    CREATE TABLE judgments (
        annotator_id INTEGER NOT NULL REFERENCES annotators(id),
        utterance_id TEXT NOT NULL,
        modality TEXT NOT NULL,
        valence REAL NOT NULL,
        arousal REAL NOT NULL,
        status TEXT NOT NULL,
        unsure INTEGER NOT NULL,
        reason TEXT NOT NULL,
        event_id INTEGER NOT NULL REFERENCES events(id),
        PRIMARY KEY (annotator_id, utterance_id, modality)
    );",
    // 2: the history of one utterance (review, export by utterance) without a scan of the log.
    "CREATE INDEX events_by_utterance ON events (utterance_id, modality, id);",
    // 3: the model's value of the point when the edit was made, so that a first correction
    // records what it replaced (events before this migration have none).
    "ALTER TABLE events ADD COLUMN model_valence REAL;
    ALTER TABLE events ADD COLUMN model_arousal REAL;",
    // 4: stores can be merged (`store::merge`). The store gets a random id; every event a random
    // id (`uid`), the id of the store that wrote it (`origin`) and its number there
    // (`origin_seq`); every annotator a random id, kept with the annotator through merges (one
    // annotator may hold several when the user said two stores' names are the same person).
    // Events and annotators written before get theirs here.
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));
    ALTER TABLE events ADD COLUMN uid TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN origin TEXT NOT NULL DEFAULT '';
    ALTER TABLE events ADD COLUMN origin_seq INTEGER NOT NULL DEFAULT 0;
    UPDATE events SET uid = lower(hex(randomblob(16))),
        origin = (SELECT value FROM meta WHERE key = 'store_id'), origin_seq = id;
    CREATE UNIQUE INDEX events_by_uid ON events (uid);
    CREATE INDEX events_by_annotator ON events (annotator_id, utterance_id, modality);
    CREATE TABLE annotator_uids (
        uid TEXT PRIMARY KEY,
        annotator_id INTEGER NOT NULL REFERENCES annotators(id),
        origin TEXT NOT NULL
    );
    INSERT INTO annotator_uids (uid, annotator_id, origin)
        SELECT lower(hex(randomblob(16))), id, (SELECT value FROM meta WHERE key = 'store_id') FROM annotators;",
];

/// The schema version this build writes and reads.
pub const LATEST: i64 = MIGRATIONS.len() as i64;
