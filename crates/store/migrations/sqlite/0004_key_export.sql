-- API keys may be granted the export of private keys (GET .../private-key); off by default.
ALTER TABLE api_keys ADD COLUMN allow_key_export INTEGER NOT NULL DEFAULT 0;
