-- Issuance: a created certificate exists before it is issued, so the columns read from the
-- X.509 certificate become nullable (SQLite needs a table rebuild for that), and orders with
-- their status history appear.

CREATE TABLE certificates_v3 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    ssl_certificate_id  TEXT    NOT NULL UNIQUE,
    container_id        INTEGER NOT NULL REFERENCES projects (container_id),
    scope               INTEGER NOT NULL,
    certificate_type    TEXT    NOT NULL,
    domain_name         TEXT    NOT NULL,
    additional_names    TEXT    NOT NULL,
    public_key_info     TEXT    NULL,
    signature_algorithm TEXT    NULL,
    issuer              TEXT    NULL,
    subject             TEXT    NULL,
    serial_number       TEXT    NULL,
    fingerprint_sha256  TEXT    NULL,
    not_before_ms       INTEGER NULL,
    not_after_ms        INTEGER NULL,
    certificate_der     BLOB    NULL,
    chain_pem           TEXT    NOT NULL,
    private_key_sealed  BLOB    NULL,
    created_at_ms       INTEGER NOT NULL,
    last_modified_ms    INTEGER NOT NULL,
    UNIQUE (container_id, fingerprint_sha256)
);
INSERT INTO certificates_v3 SELECT * FROM certificates;
DROP TABLE certificates;
ALTER TABLE certificates_v3 RENAME TO certificates;
CREATE INDEX certificates_organization ON certificates (id) WHERE scope = 1;
CREATE INDEX certificates_container ON certificates (container_id, id);
CREATE INDEX certificates_listing ON certificates (id, container_id, scope);

CREATE TABLE orders (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id       INTEGER NOT NULL UNIQUE,
    container_id         INTEGER NOT NULL REFERENCES projects (container_id),
    status               TEXT    NOT NULL,
    issuer               TEXT    NOT NULL,
    challenges           TEXT    NOT NULL,
    problem              TEXT    NULL,
    claimed_until_ms     INTEGER NULL,
    expires_at_ms        INTEGER NOT NULL,
    created_at_ms        INTEGER NOT NULL,
    status_changed_at_ms INTEGER NOT NULL
);

CREATE TABLE order_status_changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    status   TEXT    NOT NULL,
    at_ms    INTEGER NOT NULL
);
CREATE INDEX order_status_changes_at ON order_status_changes (at_ms);
CREATE INDEX order_status_changes_order ON order_status_changes (order_id, at_ms);
