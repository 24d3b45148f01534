-- Listing pages are chosen from this index alone (a covering index): skipping OFFSET rows
-- never touches the table.
CREATE INDEX certificates_listing ON certificates (id, container_id, scope);
