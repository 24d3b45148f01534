-- The web dashboard: browsing the inventory by days left at any size, a certificate's audit
-- trail, the failed-orders tile, and server-side sign-in sessions.

-- Days left is notAfter; a certificate not issued yet sorts after every issued one. The
-- expression is the one the browse query orders by, so the planner walks these indexes.
CREATE INDEX certificates_days_left ON certificates (COALESCE(not_after_ms, 9223372036854775807), id);
CREATE INDEX certificates_container_days_left
    ON certificates (container_id, COALESCE(not_after_ms, 9223372036854775807), id);
CREATE INDEX certificates_organization_days_left
    ON certificates (COALESCE(not_after_ms, 9223372036854775807), id) WHERE scope = 1;

CREATE INDEX audit_log_target ON audit_log (target, id);
-- Failed orders and revoked certificates are few: counted and listed through these.
CREATE INDEX orders_rejected ON orders (container_id) WHERE status = 'rejected';
CREATE INDEX orders_revoked ON orders (certificate_id, container_id) WHERE status = 'revoked';

-- One row per signed-in browser. The cookie holds a random secret; only its SHA-256 is kept,
-- so a copy of the database signs no one in. The API key is named by its lookup prefix and
-- checked again on every request: revoking the key ends its sessions.
CREATE TABLE web_sessions (
    id_hash        TEXT    PRIMARY KEY,
    key_prefix     TEXT    NOT NULL,
    csrf_token     TEXT    NOT NULL,
    created_at_ms  BIGINT    NOT NULL,
    last_seen_ms   BIGINT    NOT NULL
);
CREATE INDEX web_sessions_last_seen ON web_sessions (last_seen_ms);
