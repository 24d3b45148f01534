-- certkeeper foundation schema (SQLite). Instants are unix milliseconds (INTEGER), booleans
-- 0/1, so that one SQL text serves SQLite and PostgreSQL through sqlx's Any driver.

CREATE TABLE settings (
    name  TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE projects (
    container_id  INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL UNIQUE,
    created_at_ms INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT    NOT NULL,
    lookup_prefix TEXT    NOT NULL UNIQUE,
    key_hash      BLOB    NOT NULL,
    role          TEXT    NOT NULL,
    container_id  INTEGER NULL REFERENCES projects (container_id),
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER NULL
);

CREATE TABLE certificates (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    ssl_certificate_id  TEXT    NOT NULL UNIQUE,
    container_id        INTEGER NOT NULL REFERENCES projects (container_id),
    scope               INTEGER NOT NULL,
    certificate_type    TEXT    NOT NULL,
    domain_name         TEXT    NOT NULL,
    additional_names    TEXT    NOT NULL,
    public_key_info     TEXT    NOT NULL,
    signature_algorithm TEXT    NOT NULL,
    issuer              TEXT    NOT NULL,
    subject             TEXT    NOT NULL,
    serial_number       TEXT    NOT NULL,
    fingerprint_sha256  TEXT    NOT NULL,
    not_before_ms       INTEGER NOT NULL,
    not_after_ms        INTEGER NOT NULL,
    certificate_der     BLOB    NOT NULL,
    chain_pem           TEXT    NOT NULL,
    private_key_sealed  BLOB    NULL,
    created_at_ms       INTEGER NOT NULL,
    last_modified_ms    INTEGER NOT NULL,
    UNIQUE (container_id, fingerprint_sha256)
);

-- Organization-scoped certificates are listed in every project.
CREATE INDEX certificates_organization ON certificates (id) WHERE scope = 1;
CREATE INDEX certificates_container ON certificates (container_id, id);

-- Certificate counts per project, spread over shards so that concurrent imports into one
-- project do not queue on one row (PostgreSQL row locks). Listing sums them instead of
-- counting the certificates table.
CREATE TABLE certificate_counts (
    container_id INTEGER NOT NULL REFERENCES projects (container_id),
    shard        INTEGER NOT NULL,
    total        INTEGER NOT NULL,
    organization INTEGER NOT NULL,
    PRIMARY KEY (container_id, shard)
);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms        INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    project_id   TEXT    NULL,
    target       TEXT    NOT NULL,
    detail       TEXT    NOT NULL
);
