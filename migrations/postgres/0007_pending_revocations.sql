-- Revocations at Discord still owed: a deleted connection (or every grant of a deleted
-- provider) is deleted at once, and its obligation to revoke is recorded in the same
-- transaction; a background task on every replica works the obligations off with backoff until
-- Discord confirms. The app's client secret and the token are sealed copies (AAD binds this
-- table, the row and the column), since the grant and the provider rows are gone.
CREATE TABLE pending_revocations (
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id               TEXT    NOT NULL,               -- rvk_…
    grant_id         TEXT    NOT NULL,               -- the deleted grant (for the audit log)
    client_id        TEXT    NOT NULL,
    client_secret    BYTEA   NOT NULL,               -- sealed
    endpoint_origin  TEXT,
    token            BYTEA   NOT NULL,               -- sealed
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    last_error       TEXT,                           -- never a secret
    created_at       BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX pending_revocations_due ON pending_revocations (next_attempt_at);
