-- Verifier self-tests (security.md V15; arcade-compat §8.4 validate_custom_verifier): a
-- test-only flow bound to a user id, with no Discord step and no tokens. Its flow_id (only its
-- hash is kept) goes to the admin who asked; confirm_user decides it like a real flow, and it
-- can never become a grant.
CREATE TABLE verifier_tests (
    tenant_id          TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                 TEXT    NOT NULL,          -- auth_… (a test authorization id)
    user_id            TEXT    NOT NULL,
    verifier_url       TEXT    NOT NULL,
    flow_id_hash       BLOB   NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    decision           TEXT,
    decided_user_hash  BLOB,
    created_at         BIGINT  NOT NULL,
    expires_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX verifier_tests_flow_id ON verifier_tests (flow_id_hash);
CREATE INDEX verifier_tests_expiry ON verifier_tests (expires_at);
