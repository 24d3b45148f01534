-- Reports: searchable certificate columns for collection queries, saved collections with
-- per-key grants, and hourly aggregates so that report windows never scan the inventory.

-- IssuedCN in its certificate's case; NOCASE so that = and LIKE 'prefix%' compare
-- case-insensitively *and* use the index (SQLite's LIKE optimization).
ALTER TABLE certificates ADD COLUMN issued_cn TEXT NULL COLLATE NOCASE;
-- Upper-case hex SHA-1 of the DER: Keyfactor's Thumbprint.
ALTER TABLE certificates ADD COLUMN thumbprint TEXT NULL;
-- RSA, ECDSA, Ed25519, Ed448 and the size in bits (ECDSA: the curve's).
ALTER TABLE certificates ADD COLUMN key_type TEXT NULL;
ALTER TABLE certificates ADD COLUMN key_size INTEGER NULL;
-- Existing rows: the CN is the subject's; thumbprints are filled by the background backfill.
UPDATE certificates SET key_type = CASE
        WHEN public_key_info LIKE 'RSA %' THEN 'RSA'
        WHEN public_key_info LIKE 'ECDSA %' THEN 'ECDSA'
        ELSE public_key_info END,
    key_size = CASE
        WHEN public_key_info LIKE 'RSA %' THEN CAST(substr(public_key_info, 5) AS INTEGER)
        WHEN public_key_info LIKE 'ECDSA P-%' THEN CAST(substr(public_key_info, 9) AS INTEGER)
        WHEN public_key_info = 'Ed25519' THEN 256
        WHEN public_key_info = 'Ed448' THEN 456
        ELSE NULL END
    WHERE public_key_info IS NOT NULL;

CREATE INDEX certificates_issued_cn ON certificates (issued_cn);
CREATE INDEX certificates_not_before ON certificates (not_before_ms);
CREATE INDEX certificates_not_after ON certificates (not_after_ms);
CREATE INDEX certificates_serial ON certificates (serial_number);
CREATE INDEX certificates_thumbprint ON certificates (thumbprint);

-- Saved certificate queries (Keyfactor's certificate collections). Id 0, "All Certificates",
-- is built in and never stored.
CREATE TABLE collections (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    name             TEXT    NOT NULL UNIQUE,
    description      TEXT    NOT NULL,
    query            TEXT    NOT NULL,
    created_at_ms    INTEGER NOT NULL,
    last_modified_ms INTEGER NOT NULL
);

-- Collection-level Read grants: a key with rows here reads those collections and nothing else.
CREATE TABLE api_key_collections (
    api_key_id    INTEGER NOT NULL REFERENCES api_keys (id),
    collection_id INTEGER NOT NULL REFERENCES collections (id),
    PRIMARY KEY (api_key_id, collection_id)
);

-- Certificates by the UTC hour of notBefore (issued_hourly) and of notAfter (expiring_hourly),
-- per project and for all projects (container_id 0). Kept in the transaction of every write
-- that adds or removes an issued certificate. Expiring counts hold issued certificates only
-- (imported or ordered-and-issued), not revoked ones.
CREATE TABLE issued_hourly (
    container_id INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (container_id, hour)
);
CREATE TABLE expiring_hourly (
    container_id INTEGER NOT NULL,
    hour         INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (container_id, hour)
);
INSERT INTO issued_hourly (container_id, hour, n)
    SELECT container_id, (not_before_ms - (((not_before_ms % 3600000) + 3600000) % 3600000)) / 3600000, COUNT(*)
    FROM certificates WHERE not_before_ms IS NOT NULL GROUP BY 1, 2;
INSERT INTO issued_hourly (container_id, hour, n)
    SELECT 0, hour, SUM(n) FROM issued_hourly GROUP BY hour;
INSERT INTO expiring_hourly (container_id, hour, n)
    SELECT container_id, (not_after_ms - (((not_after_ms % 3600000) + 3600000) % 3600000)) / 3600000, COUNT(*)
    FROM certificates WHERE not_after_ms IS NOT NULL GROUP BY 1, 2;
INSERT INTO expiring_hourly (container_id, hour, n)
    SELECT 0, hour, SUM(n) FROM expiring_hourly GROUP BY hour;

-- The status-change list reads orders by when their status last changed.
-- Covering: the status-change list reads the index alone, never the orders themselves.
CREATE INDEX orders_status_changed ON orders (status_changed_at_ms, id, container_id, certificate_id, status);
CREATE INDEX orders_container_status_changed ON orders (container_id, status_changed_at_ms, id, certificate_id, status);
