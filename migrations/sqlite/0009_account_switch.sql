-- A tenant's account-switch policy (security.md V10): 'notify' (a re-authorization that yields
-- another Discord account replaces the old grant, audited `account_switched`) or 'require_ack'
-- (the new grant waits, status 'awaiting_ack', while the old one stays active, until an admin
-- acknowledges the switch).
ALTER TABLE tenant_settings ADD COLUMN account_switch TEXT NOT NULL DEFAULT 'notify'
    CHECK (account_switch IN ('notify', 'require_ack'));
-- SQLite cannot change a CHECK constraint: the grants table is rebuilt (no table references it).
CREATE TABLE grants_new (
    tenant_id         TEXT     NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                TEXT     NOT NULL,
    user_id           TEXT     NOT NULL,
    provider_ref      TEXT     NOT NULL,
    discord_user_id   TEXT     NOT NULL,
    user_info         BLOB     NOT NULL,
    scopes            TEXT     NOT NULL,
    access_token      BLOB     NOT NULL,
    refresh_token     BLOB,
    expires_at        BIGINT   NOT NULL,
    generation        BIGINT   NOT NULL DEFAULT 0,
    status            TEXT     NOT NULL CHECK (status IN ('active', 'reauth_required', 'revoked', 'awaiting_ack')),
    refresh_failures  BIGINT   NOT NULL DEFAULT 0,
    cooldown_until    BIGINT,
    created_at        BIGINT   NOT NULL,
    updated_at        BIGINT   NOT NULL,
    authorization_id  TEXT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_ref) REFERENCES providers (tenant_id, ref) ON DELETE CASCADE
);
INSERT INTO grants_new (tenant_id, id, user_id, provider_ref, discord_user_id, user_info, scopes,
    access_token, refresh_token, expires_at, generation, status, refresh_failures, cooldown_until,
    created_at, updated_at, authorization_id)
SELECT tenant_id, id, user_id, provider_ref, discord_user_id, user_info, scopes,
    access_token, refresh_token, expires_at, generation, status, refresh_failures, cooldown_until,
    created_at, updated_at, authorization_id
FROM grants;
DROP TABLE grants;
ALTER TABLE grants_new RENAME TO grants;
CREATE UNIQUE INDEX grants_active_unique ON grants (tenant_id, user_id, provider_ref) WHERE status = 'active';
CREATE INDEX grants_expiring ON grants (expires_at) WHERE status = 'active';
