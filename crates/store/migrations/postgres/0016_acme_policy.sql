-- External account binding for the ACME server: keys handed out per project (the HMAC key
-- sealed under the master key), each bound to the one account it created; and whether a
-- project requires one, with the rest of its ACME policy.

CREATE TABLE acme_eab_keys (
    kid           TEXT    PRIMARY KEY,
    container_id  BIGINT NOT NULL REFERENCES projects (container_id),
    hmac_sealed   BYTEA    NOT NULL,
    bound_account TEXT    NULL,
    created_at_ms BIGINT NOT NULL
);

CREATE TABLE acme_project_settings (
    container_id  BIGINT PRIMARY KEY REFERENCES projects (container_id),
    eab_required  BIGINT NOT NULL,
    -- JSON: allowed name suffixes, maximum lifetime, allowed key types (null: no limits).
    policy        TEXT    NULL
);
