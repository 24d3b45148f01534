-- The external CA's handle on an order (the ACME order URL); NULL for the built-in CA.
ALTER TABLE orders ADD COLUMN external_ref TEXT NULL;
