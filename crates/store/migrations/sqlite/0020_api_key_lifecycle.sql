-- API key lifecycle: expiry, coarse last use, and rotation's link to the replacing key.
ALTER TABLE api_keys ADD COLUMN expires_at_ms INTEGER NULL;
ALTER TABLE api_keys ADD COLUMN last_used_at_ms INTEGER NULL;
ALTER TABLE api_keys ADD COLUMN replaced_by INTEGER NULL REFERENCES api_keys (id);
