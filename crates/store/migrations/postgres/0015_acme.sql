-- The ACME server: accounts per project, orders, authorizations (their challenges as JSON:
-- one row moves as one state), and the nonces already used (kept until they expire).

CREATE TABLE acme_accounts (
    id            TEXT    PRIMARY KEY,
    container_id  BIGINT NOT NULL REFERENCES projects (container_id),
    thumbprint    TEXT    NOT NULL,
    jwk           TEXT    NOT NULL,
    contacts      TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    eab_kid       TEXT    NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (container_id, thumbprint)
);

CREATE TABLE acme_orders (
    id             TEXT    PRIMARY KEY,
    container_id   BIGINT NOT NULL,
    account_id     TEXT    NOT NULL REFERENCES acme_accounts (id),
    -- pending, processing, valid, invalid; `ready` is derived from the authorizations.
    status         TEXT    NOT NULL,
    identifiers    TEXT    NOT NULL,
    authorizations TEXT    NOT NULL,
    not_before_ms  BIGINT NULL,
    not_after_ms   BIGINT NULL,
    expires_at_ms  BIGINT NOT NULL,
    error          TEXT    NULL,
    certificate_id BIGINT NULL,
    replaces       TEXT    NULL,
    created_at_ms  BIGINT NOT NULL
);
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at_ms);

CREATE TABLE acme_authorizations (
    id            TEXT    PRIMARY KEY,
    container_id  BIGINT NOT NULL,
    account_id    TEXT    NOT NULL REFERENCES acme_accounts (id),
    identifier    TEXT    NOT NULL,
    wildcard      BIGINT NOT NULL,
    status        TEXT    NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    challenges    TEXT    NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE INDEX acme_authorizations_reuse
    ON acme_authorizations (account_id, identifier, wildcard, status, expires_at_ms);

CREATE TABLE acme_used_nonces (
    nonce         TEXT    PRIMARY KEY,
    expires_at_ms BIGINT NOT NULL
);
CREATE INDEX acme_used_nonces_expiry ON acme_used_nonces (expires_at_ms);
