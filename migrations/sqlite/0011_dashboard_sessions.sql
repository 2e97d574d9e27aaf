-- Dashboard sessions (issue 8): an admin key signed in to the dashboard, held by the browser as
-- an HttpOnly cookie whose secret is stored only as its SHA-256. Looked up by that hash alone
-- (the browser carries no key), so the look-up is cross-tenant by design.
CREATE TABLE dashboard_sessions (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id_hash     BLOB   NOT NULL,
    key_id      TEXT    NOT NULL,
    created_at  INTEGER  NOT NULL,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id_hash)
);
CREATE UNIQUE INDEX dashboard_sessions_secret ON dashboard_sessions (id_hash);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);
