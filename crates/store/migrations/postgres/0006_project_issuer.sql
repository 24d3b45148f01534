-- A project may override the server's default issuer (builtin, acme); NULL: the default.
ALTER TABLE projects ADD COLUMN issuer TEXT NULL;
