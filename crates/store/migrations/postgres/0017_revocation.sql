-- Revocation by the built-in CA. A revocation outlives its inventory record (a deleted
-- certificate stays on the CRL until it expires), so it keeps its own serial and expiry and
-- no foreign key. Rows are never deleted: the CRL records how many there were when it was
-- built, and a higher count means it is stale.

CREATE TABLE revocations (
    id             BIGSERIAL PRIMARY KEY,
    certificate_id BIGINT NOT NULL UNIQUE,
    container_id   BIGINT NOT NULL,
    serial_number  TEXT   NOT NULL UNIQUE,
    reason_code    BIGINT NOT NULL,
    revoked_at_ms  BIGINT NOT NULL,
    not_after_ms   BIGINT NOT NULL
);
CREATE INDEX revocations_not_after ON revocations (not_after_ms);

-- The current CRL, signed once and served from here (one row: one issuing CA).
CREATE TABLE crls (
    id               BIGINT PRIMARY KEY CHECK (id = 1),
    crl_number       BIGINT NOT NULL,
    built_through    BIGINT NOT NULL,
    this_update_ms   BIGINT NOT NULL,
    next_update_ms   BIGINT NOT NULL,
    der              BYTEA  NOT NULL
);
