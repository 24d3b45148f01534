-- Notifications: rules per project, the once-only marks of what was sent (or skipped), the
-- deliveries with their outcome, and the outbox of lifecycle events the rules are matched
-- against. Keyfactor's DuplicationField on collections (ignore renewed certificates).

CREATE TABLE notification_rules (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    container_id    INTEGER NOT NULL REFERENCES projects (container_id),
    name            TEXT    NOT NULL,
    -- JSON arrays: event names, and expiring thresholds in days (descending).
    events          TEXT    NOT NULL,
    expiring_days   TEXT    NOT NULL,
    collection_id   INTEGER NULL,
    -- The channel without its secret (what is shown), and whole, sealed by the core.
    channel_public  TEXT    NOT NULL,
    channel_sealed  BLOB    NOT NULL,
    -- JSON {threshold: ms}: for each threshold, certificates expiring up to that instant were
    -- already considered.
    watermarks      TEXT    NOT NULL,
    disabled_reason TEXT    NULL,
    created_at_ms   INTEGER NOT NULL,
    updated_at_ms   INTEGER NOT NULL,
    UNIQUE (container_id, name)
);

-- One row per (rule, certificate, event or threshold) ever handled: the primary key is what
-- makes a delivery happen once, across nodes and restarts. `delivery_id` is null for a
-- threshold marked without sending (passed while nobody was looking).
CREATE TABLE notification_marks (
    rule_id        INTEGER NOT NULL,
    certificate_id INTEGER NOT NULL,
    mark           TEXT    NOT NULL,
    delivery_id    INTEGER NULL,
    at_ms          INTEGER NOT NULL,
    PRIMARY KEY (rule_id, certificate_id, mark)
);

CREATE TABLE notification_deliveries (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id       INTEGER NOT NULL,
    -- `webhook-id`: the same on every attempt.
    message_id    TEXT    NOT NULL UNIQUE,
    event         TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    -- pending, delivered, failed (given up), or disabled (the receiver answered 410)
    state         TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_status   INTEGER NULL,
    last_error    TEXT    NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE INDEX notification_deliveries_rule ON notification_deliveries (rule_id, id);

-- Outbox: written in the transaction of the change itself, matched to rules by a job.
CREATE TABLE lifecycle_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    container_id   INTEGER NOT NULL,
    certificate_id INTEGER NOT NULL,
    event          TEXT    NOT NULL,
    detail         TEXT    NULL,
    at_ms          INTEGER NOT NULL
);

ALTER TABLE collections ADD COLUMN duplication_field INTEGER NOT NULL DEFAULT 0;
