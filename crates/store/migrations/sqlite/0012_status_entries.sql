-- The status-change list on SQLite, packed as on PostgreSQL (migration 0009 there): each
-- order's list entry is 25 bytes (order id, certificate id, change time as big-endian
-- 64-bit integers, one status byte) and a page leaves the database as one value, the
-- entries concatenated. Before, SQLite built the page as JSON text: turning 90,000 orders'
-- integers into text and serde parsing them back was over a third of the 7-day list at 10M
-- certificates (`perf`, docs/benchmarks.md); concatenating packed entries costs a copy.
--
-- A virtual generated column (SQLite cannot add a stored one to an existing table): its
-- value is computed when an index entry is written, and the two indexes below hold it, so
-- the list still reads the index alone. The status bytes are the ones
-- `reports::decode_status_entries` knows; an unknown status packs as 0xff, which the store
-- reports as corruption rather than dropping the order.
ALTER TABLE orders ADD COLUMN status_entry BLOB GENERATED ALWAYS AS (
    unhex(printf('%016x%016x%016x%02x', id, certificate_id, status_changed_at_ms,
        CASE status
            WHEN 'pending'  THEN 0
            WHEN 'issued'   THEN 1
            WHEN 'rejected' THEN 2
            WHEN 'canceled' THEN 3
            WHEN 'revoked'  THEN 4
            ELSE 255
        END))
) VIRTUAL;

DROP INDEX orders_status_changed;
DROP INDEX orders_container_status_changed;
CREATE INDEX orders_status_changed ON orders (status_changed_at_ms, id, container_id, status_entry);
CREATE INDEX orders_container_status_changed ON orders (container_id, status_changed_at_ms, id, status_entry);
