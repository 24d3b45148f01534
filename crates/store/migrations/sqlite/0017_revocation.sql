-- Revocation by the built-in CA. A revocation outlives its inventory record (a deleted
-- certificate stays on the CRL until it expires), so it keeps its own serial and expiry and
-- no foreign key. Rows are never deleted: the CRL records how many there were when it was
-- built, and a higher count means it is stale.

CREATE TABLE revocations (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    certificate_id INTEGER NOT NULL UNIQUE,
    container_id   INTEGER NOT NULL,
    serial_number  TEXT    NOT NULL UNIQUE,
    reason_code    INTEGER NOT NULL,
    revoked_at_ms  INTEGER NOT NULL,
    not_after_ms   INTEGER NOT NULL
);
CREATE INDEX revocations_not_after ON revocations (not_after_ms);

-- The current CRL, signed once and served from here (one row: one issuing CA).
CREATE TABLE crls (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    crl_number       INTEGER NOT NULL,
    built_through    INTEGER NOT NULL,
    this_update_ms   INTEGER NOT NULL,
    next_update_ms   INTEGER NOT NULL,
    der              BLOB    NOT NULL
);
