-- Listing pages are chosen from this index alone (index-only scan): skipping OFFSET rows
-- never touches the heap.
CREATE INDEX certificates_listing ON certificates (id) INCLUDE (container_id, scope);
