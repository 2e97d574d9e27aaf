-- A tenant's session-verification settings (specs/arcade-compat.md §10.3): the verifier URL,
-- the development-only skip flag, and the next_uri origin allow-list (JSON array of origins).
CREATE TABLE tenant_settings (
    tenant_id                 TEXT     NOT NULL PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    verifier_url              TEXT,
    unsafe_skip_verification  BOOLEAN  NOT NULL DEFAULT FALSE,
    allowed_next_uri_origins  TEXT     NOT NULL DEFAULT '[]',
    updated_at                BIGINT   NOT NULL
);
