/**
 * The hub database's schema as an ordered list of steps. Step i takes a database from user_version i
 * to i + 1 and runs in one transaction with the version bump (db.ts), so a crash mid-migration
 * leaves the previous version intact. Never edit a released step: append a new one.
 *
 * Tables are STRICT (SQLite ≥ 3.37), so a column always reads back as its declared type and only the
 * JSON columns need checking when read. Small rows keyed by their natural key are WITHOUT ROWID;
 * tables whose rows carry a JSON document of unbounded size keep a rowid (SQLite's advice for
 * WITHOUT ROWID is rows well under a twentieth of a page).
 */

export const MIGRATIONS: readonly string[] = [
  // 1 — the first schema.
  `
  -- Operator actions. Append-only: the outcome of an action is a second row with the same ref.
  CREATE TABLE audit (
    id         INTEGER PRIMARY KEY,
    time       INTEGER NOT NULL,
    operator   TEXT NOT NULL,
    operation  TEXT NOT NULL,
    parameters TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    ref        TEXT
  ) STRICT;
  CREATE INDEX audit_time ON audit (time);
  CREATE INDEX audit_operator_time ON audit (operator, time);
  CREATE INDEX audit_operation_time ON audit (operation, time);
  CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
  CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;

  -- Refused connections and other security events. Append-only for the same reason as the audit.
  CREATE TABLE security_events (
    id             INTEGER PRIMARY KEY,
    time           INTEGER NOT NULL,
    code           TEXT NOT NULL,
    remote_address TEXT NOT NULL,
    detail         TEXT NOT NULL,
    gateway_id     TEXT,
    subject        TEXT,
    serial         TEXT,
    issuer         TEXT
  ) STRICT;
  CREATE INDEX security_events_time ON security_events (time);
  CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;
  CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events BEGIN SELECT RAISE(ABORT, 'security events are append-only'); END;

  -- One row per link session.
  CREATE TABLE connections (
    session_id      TEXT PRIMARY KEY,
    gateway_id      TEXT NOT NULL,
    remote_address  TEXT NOT NULL,
    connected_at    INTEGER NOT NULL,
    disconnected_at INTEGER,
    reason          TEXT
  ) WITHOUT ROWID, STRICT;
  CREATE INDEX connections_connected ON connections (connected_at);
  CREATE INDEX connections_gateway ON connections (gateway_id, connected_at);
  CREATE INDEX connections_open ON connections (connected_at) WHERE disconnected_at IS NULL;

  -- The fleet registry: every gateway ever seen. hello is the last hello as JSON (up to 64 KiB).
  CREATE TABLE gateways (
    gateway_id             TEXT PRIMARY KEY,
    site_name              TEXT,
    labels                 TEXT NOT NULL,
    first_seen             INTEGER NOT NULL,
    last_seen              INTEGER NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('connected', 'offline')),
    since                  INTEGER NOT NULL,
    agent_version          TEXT,
    cert_serial            TEXT,
    cert_subject           TEXT,
    cert_not_after         INTEGER,
    hello                  TEXT,
    via_proxy              INTEGER NOT NULL CHECK (via_proxy IN (0, 1)),
    interception_suspected INTEGER NOT NULL CHECK (interception_suspected IN (0, 1)),
    remote_address         TEXT,
    target_kw              REAL
  ) STRICT;

  -- Commands: the whole record as JSON plus the columns the queries use.
  CREATE TABLE commands (
    id           TEXT NOT NULL UNIQUE,
    gateway_id   TEXT NOT NULL,
    event_id     TEXT,
    state        TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    record       TEXT NOT NULL
  ) STRICT;
  CREATE INDEX commands_requested ON commands (requested_at);
  CREATE INDEX commands_gateway ON commands (gateway_id, requested_at);
  CREATE INDEX commands_event ON commands (event_id, requested_at) WHERE event_id IS NOT NULL;
  CREATE INDEX commands_unfinished ON commands (requested_at) WHERE state IN ('requested', 'sent');

  CREATE TABLE shed_events (
    id         TEXT NOT NULL UNIQUE,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    record     TEXT NOT NULL
  ) STRICT;
  CREATE INDEX shed_events_created ON shed_events (created_at);
  CREATE INDEX shed_events_active ON shed_events (created_at) WHERE state = 'active';

  -- is_open: not (cleared and acknowledged).
  CREATE TABLE alarms (
    id        TEXT NOT NULL UNIQUE,
    is_open   INTEGER NOT NULL CHECK (is_open IN (0, 1)),
    raised_at INTEGER NOT NULL,
    record    TEXT NOT NULL
  ) STRICT;
  CREATE INDEX alarms_raised ON alarms (raised_at);
  CREATE INDEX alarms_open ON alarms (raised_at) WHERE is_open = 1;

  CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID, STRICT;

  -- Telemetry sequence numbers stored, as ranges [from_seq, to_seq] per gateway: exactly-once for
  -- ever in a few rows per gateway (seqs arrive almost always in order, so ranges merge).
  CREATE TABLE telemetry_seqs (
    gateway_id TEXT NOT NULL,
    from_seq   INTEGER NOT NULL,
    to_seq     INTEGER NOT NULL,
    PRIMARY KEY (gateway_id, from_seq)
  ) WITHOUT ROWID, STRICT;

  -- Raw samples (kept 48 h). relays: [[channel, 0|1], …]; channel_kw: [[channel, kW], …] or NULL.
  -- No index on time alone, here or on the roll-ups: every read names the gateway, fleet curves
  -- come from the fleet_ tables, and pruning goes gateway by gateway — one B-tree less to update
  -- for every sample.
  CREATE TABLE telemetry_raw (
    gateway_id TEXT NOT NULL,
    time       INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    kw         REAL NOT NULL,
    kwh        REAL,
    relays     TEXT NOT NULL,
    channel_kw TEXT,
    PRIMARY KEY (gateway_id, time, seq, idx)
  ) WITHOUT ROWID, STRICT;

  -- Per-gateway roll-ups; bucket = start of the minute / quarter-hour (UTC-aligned, which is the
  -- local quarter-hour in every time zone whose offset is a multiple of 15 minutes).
  -- last_kwh is the meter reading of the latest sample in the bucket (last_kwh_time), so samples
  -- arriving late or out of order still leave the right one.
  CREATE TABLE telemetry_1m (
    gateway_id    TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    sum_kw        REAL NOT NULL,
    min_kw        REAL NOT NULL,
    max_kw        REAL NOT NULL,
    last_kwh      REAL,
    last_kwh_time INTEGER,
    PRIMARY KEY (gateway_id, bucket)
  ) WITHOUT ROWID, STRICT;
  CREATE TABLE telemetry_15m (
    gateway_id    TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    sum_kw        REAL NOT NULL,
    min_kw        REAL NOT NULL,
    max_kw        REAL NOT NULL,
    last_kwh      REAL,
    last_kwh_time INTEGER,
    PRIMARY KEY (gateway_id, bucket)
  ) WITHOUT ROWID, STRICT;

  -- Fleet roll-ups: per bucket the sum over gateways of each gateway's average in that bucket,
  -- kept up to date incrementally, so a fleet curve reads one row per point instead of one per
  -- gateway and point (a day at 1 min for 2,000 gateways would be 2.9 million rows).
  -- max_count: the most samples any one gateway has in the bucket (peakOf's minSamples).
  CREATE TABLE fleet_1s (
    bucket    INTEGER PRIMARY KEY,
    kw        REAL NOT NULL,
    max_count INTEGER NOT NULL
  ) WITHOUT ROWID, STRICT;
  CREATE TABLE fleet_1m (
    bucket    INTEGER PRIMARY KEY,
    kw        REAL NOT NULL,
    max_count INTEGER NOT NULL
  ) WITHOUT ROWID, STRICT;
  CREATE TABLE fleet_15m (
    bucket    INTEGER PRIMARY KEY,
    kw        REAL NOT NULL,
    max_count INTEGER NOT NULL
  ) WITHOUT ROWID, STRICT;
  `,
  // 2 — a shed event's outcomes as rows (one per event and gateway, updated in place) instead of
  // inside the event's JSON record, which was rewritten whole at every command change (O(N²) for a
  // fleet-wide event). The skipped loads move to their own column, written once.
  `
  CREATE TABLE shed_outcomes (
    event_id    TEXT NOT NULL,
    gateway_id  TEXT NOT NULL,
    command_id  TEXT NOT NULL,
    channels    TEXT NOT NULL,
    expected_kw REAL NOT NULL,
    state       TEXT NOT NULL,
    code        TEXT,
    message     TEXT,
    PRIMARY KEY (event_id, gateway_id)
  ) WITHOUT ROWID, STRICT;
  INSERT OR REPLACE INTO shed_outcomes (event_id, gateway_id, command_id, channels, expected_kw, state, code, message)
    SELECT e.id, json_extract(o.value, '$.gatewayId'), json_extract(o.value, '$.commandId'),
           json(json_extract(o.value, '$.channels')), json_extract(o.value, '$.expectedKw'), json_extract(o.value, '$.state'),
           json_extract(o.value, '$.code'), json_extract(o.value, '$.message')
    FROM shed_events e, json_each(e.record, '$.outcomes') o;
  ALTER TABLE shed_events ADD COLUMN skipped TEXT NOT NULL DEFAULT '[]';
  UPDATE shed_events SET skipped = json(json_extract(record, '$.skipped')), record = json_remove(record, '$.outcomes', '$.skipped');
  `,
  // 3 — telemetry written where a group commit touches few pages (issue 13: the per-gateway key
  // touched one random page per gateway and commit, ~40 pages of 4 KiB for a 20 ms group). Raw
  // samples are appended in arrival order (rowid), each page written once when full; where each
  // gateway's samples are is kept per minute of sample time in telemetry_index (the sample ids as
  // varint segments, see telemetry.ts; migrated rows one 8-byte segment per id), written once the
  // minute has closed, all gateways in one go, as are the
  // minute roll-ups — both keyed by the minute first, so that write appends too. The roll-ups of the
  // open minute and quarter-hour and the index of the open minutes live in memory (telemetry.ts).
  // The quarter-hours stay keyed by gateway: written once per quarter-hour, and per-gateway peaks
  // read them by the thousand at start. A gateway is a small number (telemetry_gateways).
  // Old raw rows are copied in time order and indexed (relays and channel_kw keep their JSON text;
  // the reader takes both). rolled_up_to: the roll-up and index tables hold every sample before it;
  // set past the newest old sample, on a quarter-hour, as the old schema rolled every sample up at once.
  // ahead: 1 for a sample stamped far ahead of the console's clock when it arrived, indexed and rolled
  // up at once (so it does not keep the open-bucket memory, nor the rebuild, waiting for its time).
  // telemetry_raw, telemetry_1m and telemetry_15m become views with the gateway id, for people (and
  // tests) looking at the file with sqlite3.
  `
  CREATE TABLE telemetry_gateways (
    num        INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL UNIQUE,
    last_id    INTEGER
  ) STRICT;
  INSERT INTO telemetry_gateways (gateway_id)
    SELECT gateway_id FROM telemetry_seqs UNION SELECT gateway_id FROM telemetry_raw
    UNION SELECT gateway_id FROM telemetry_1m UNION SELECT gateway_id FROM telemetry_15m ORDER BY 1;

  -- relays: INTEGER, 2 bits per channel 0..25 (1 = off, 2 = on), or the JSON [[channel, 0|1], …]
  -- when the channels do not fit; channel_kw: BLOB of (uint16 channel, float64 kW) little-endian,
  -- or JSON [[channel, kW], …].
  CREATE TABLE telemetry_samples (
    id         INTEGER PRIMARY KEY,
    gw         INTEGER NOT NULL,
    sec        INTEGER NOT NULL,
    ms         INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    idx        INTEGER NOT NULL,
    kw         REAL NOT NULL,
    kwh        REAL,
    relays     ANY NOT NULL,
    channel_kw ANY,
    ahead      INTEGER
  ) STRICT;
  INSERT INTO telemetry_samples (gw, sec, ms, seq, idx, kw, kwh, relays, channel_kw)
    SELECT g.num, r.time / 1000, r.time % 1000, r.seq, r.idx, r.kw, r.kwh, r.relays, r.channel_kw
    FROM telemetry_raw r JOIN telemetry_gateways g USING (gateway_id) ORDER BY r.time, g.num, r.seq, r.idx;
  UPDATE telemetry_gateways SET last_id = (
    SELECT id FROM telemetry_samples s WHERE s.gw = telemetry_gateways.num ORDER BY sec DESC, ms DESC, seq DESC, idx DESC LIMIT 1);

  CREATE TABLE telemetry_index (
    bucket INTEGER NOT NULL,
    gw     INTEGER NOT NULL,
    ids    BLOB NOT NULL,
    PRIMARY KEY (bucket, gw)
  ) WITHOUT ROWID, STRICT;
  INSERT INTO telemetry_index (bucket, gw, ids)
    SELECT sec / 60 * 60000, gw, unhex(group_concat(printf('00%02x%02x%02x%02x%02x%02x%02x',
        128 | ((id >> 42) & 127), 128 | ((id >> 35) & 127), 128 | ((id >> 28) & 127), 128 | ((id >> 21) & 127),
        128 | ((id >> 14) & 127), 128 | ((id >> 7) & 127), id & 127), '' ORDER BY id))
    FROM telemetry_samples GROUP BY 1, 2 ORDER BY 1, 2;

  CREATE TABLE rollup_1m (
    bucket        INTEGER NOT NULL,
    gw            INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    sum_kw        REAL NOT NULL,
    min_kw        REAL NOT NULL,
    max_kw        REAL NOT NULL,
    last_kwh      REAL,
    last_kwh_time INTEGER,
    PRIMARY KEY (bucket, gw)
  ) WITHOUT ROWID, STRICT;
  INSERT INTO rollup_1m SELECT r.bucket, g.num, r.count, r.sum_kw, r.min_kw, r.max_kw, r.last_kwh, r.last_kwh_time
    FROM telemetry_1m r JOIN telemetry_gateways g USING (gateway_id) ORDER BY 1, 2;
  CREATE TABLE rollup_15m (
    gw            INTEGER NOT NULL,
    bucket        INTEGER NOT NULL,
    count         INTEGER NOT NULL,
    sum_kw        REAL NOT NULL,
    min_kw        REAL NOT NULL,
    max_kw        REAL NOT NULL,
    last_kwh      REAL,
    last_kwh_time INTEGER,
    PRIMARY KEY (gw, bucket)
  ) WITHOUT ROWID, STRICT;
  INSERT INTO rollup_15m SELECT g.num, r.bucket, r.count, r.sum_kw, r.min_kw, r.max_kw, r.last_kwh, r.last_kwh_time
    FROM telemetry_15m r JOIN telemetry_gateways g USING (gateway_id) ORDER BY 1, 2;

  -- scan_from_id: the rebuild at open reads the samples from this id on (the oldest still only in memory).
  CREATE TABLE telemetry_state (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    rolled_up_to INTEGER NOT NULL,
    scan_from_id INTEGER NOT NULL
  ) STRICT;
  INSERT INTO telemetry_state (id, rolled_up_to, scan_from_id)
    SELECT 1, COALESCE(MAX(time) / 900000 * 900000 + 900000, 0), (SELECT COALESCE(MAX(id), 0) + 1 FROM telemetry_samples) FROM telemetry_raw;

  DROP TABLE telemetry_raw;
  DROP TABLE telemetry_1m;
  DROP TABLE telemetry_15m;
  CREATE VIEW telemetry_raw (gateway_id, time, seq, idx, kw, kwh, relays, channel_kw) AS
    SELECT g.gateway_id, s.sec * 1000 + s.ms, s.seq, s.idx, s.kw, s.kwh, s.relays, s.channel_kw
    FROM telemetry_samples s JOIN telemetry_gateways g ON g.num = s.gw;
  CREATE VIEW telemetry_1m (gateway_id, bucket, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) AS
    SELECT g.gateway_id, r.bucket, r.count, r.sum_kw, r.min_kw, r.max_kw, r.last_kwh, r.last_kwh_time
    FROM rollup_1m r JOIN telemetry_gateways g ON g.num = r.gw;
  CREATE VIEW telemetry_15m (gateway_id, bucket, count, sum_kw, min_kw, max_kw, last_kwh, last_kwh_time) AS
    SELECT g.gateway_id, r.bucket, r.count, r.sum_kw, r.min_kw, r.max_kw, r.last_kwh, r.last_kwh_time
    FROM rollup_15m r JOIN telemetry_gateways g ON g.num = r.gw;
  `,
];
