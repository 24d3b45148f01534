-- Lifecycle automation: background jobs with leases, per-project validation and renewal
-- settings, validated names for reuse, and the link between a certificate and its renewal.

CREATE TABLE jobs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    kind           TEXT    NOT NULL,
    subject        TEXT    NOT NULL,
    state          TEXT    NOT NULL,
    -- On the application's clock (so tests move it); leases are on the database's.
    due_at_ms      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT    NULL,
    lease_owner    TEXT    NULL,
    lease_until_ms INTEGER NULL,
    -- Bumped by every claim: a result is applied only with the token of the claim it came
    -- from (fencing).
    lease_token    INTEGER NOT NULL DEFAULT 0,
    created_at_ms  INTEGER NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    UNIQUE (kind, subject)
);
-- The scheduler's two searches: due work, and leases that lapsed.
CREATE INDEX jobs_due ON jobs (due_at_ms) WHERE state <> 'running';
CREATE INDEX jobs_lease ON jobs (lease_until_ms) WHERE state = 'running';

CREATE TABLE project_lifecycle (
    container_id      INTEGER PRIMARY KEY REFERENCES projects (container_id),
    -- The validation settings without secrets (what GET answers), and with them, sealed.
    validation_public TEXT    NULL,
    validation_sealed BLOB    NULL,
    renewal           TEXT    NULL,
    updated_at_ms     INTEGER NOT NULL
);

-- Names proved by DNS-01 in a project, for validation reuse.
CREATE TABLE validated_names (
    container_id    INTEGER NOT NULL,
    name            TEXT    NOT NULL,
    validated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (container_id, name)
) WITHOUT ROWID;

ALTER TABLE certificates ADD COLUMN renewed_from_id INTEGER NULL;
ALTER TABLE certificates ADD COLUMN renewed_by_id INTEGER NULL;
CREATE INDEX certificates_renewed_from ON certificates (renewed_from_id)
    WHERE renewed_from_id IS NOT NULL;
