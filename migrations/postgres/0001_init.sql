-- Latchkey schema, version 1 (PostgreSQL). Kept in step with ../sqlite/0001_init.sql: same
-- tables, columns and constraints; only the type names differ (BYTEA here, BLOB there).
-- Every tenant-owned table leads its primary key and unique constraints with tenant_id, and
-- references other tenant-owned rows through composite (tenant_id, …) foreign keys, so no row
-- can point at another tenant's row. Times are milliseconds since the Unix epoch. Columns that
-- hold secrets are sealed (AES-256-GCM, see services/core/src/crypto) or hashed; never plain.

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- Per-tenant data keys, wrapped by a master key (envelope encryption).
CREATE TABLE tenant_keys (
    tenant_id      TEXT     NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    version        BIGINT   NOT NULL CHECK (version > 0),
    master_key_id  TEXT     NOT NULL,
    wrapped_key    BYTEA     NOT NULL,
    created_at     BIGINT   NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

-- Platform operator keys (not tenant-owned). Only HMACs of keys are stored.
CREATE TABLE operator_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    pepper_id   TEXT    NOT NULL,
    key_hash    BYTEA    NOT NULL,
    created_at  BIGINT  NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE providers (
    tenant_id      TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id             TEXT    NOT NULL,              -- tenant-chosen slug
    ref            TEXT    NOT NULL,              -- globally unique internal id (prv_…), callback path
    provider_id    TEXT    NOT NULL DEFAULT 'discord',
    description    TEXT,
    client_id      TEXT    NOT NULL,
    client_secret  BYTEA    NOT NULL,              -- sealed
    scopes         TEXT    NOT NULL,              -- space-separated, in order
    policy         TEXT,                          -- JSON: required guild/role ids and message
    authorize_url  TEXT,
    token_url      TEXT,
    revoke_url     TEXT,
    api_base_url   TEXT,
    status         TEXT    NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, ref)
);
CREATE UNIQUE INDEX providers_ref_unique ON providers (ref);

CREATE TABLE tools (
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,
    name          TEXT    NOT NULL,               -- Toolkit.Tool
    version       TEXT    NOT NULL,
    description   TEXT,
    provider      TEXT    NOT NULL,               -- provider slug, or 'discord'
    scopes        TEXT    NOT NULL,               -- space-separated declared scopes
    policy        TEXT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, name)
);

CREATE TABLE api_keys (
    tenant_id     TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id            TEXT    NOT NULL,               -- key_…, the public part of lk_<id>_<secret>
    role          TEXT    NOT NULL CHECK (role IN ('admin', 'app', 'tool')),
    tool_id       TEXT,
    name          TEXT    NOT NULL,
    pepper_id     TEXT    NOT NULL,
    key_hash      BYTEA    NOT NULL,               -- HMAC-SHA256(pepper, whole key)
    created_at    BIGINT  NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, tool_id) REFERENCES tools (tenant_id, id) ON DELETE CASCADE,
    CHECK ((role = 'tool') = (tool_id IS NOT NULL))
);
-- Authentication looks a presented key up by id before the tenant is known.
CREATE UNIQUE INDEX api_keys_id_unique ON api_keys (id);

CREATE TABLE authorizations (
    tenant_id         TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                TEXT    NOT NULL,           -- auth_…
    user_id           TEXT    NOT NULL,
    provider_ref      TEXT    NOT NULL,
    requested_scopes  TEXT    NOT NULL,
    next_uri          TEXT,
    tool_id           TEXT,
    status            TEXT    NOT NULL CHECK (status IN ('not_started', 'pending', 'completed', 'failed')),
    failure_reason    TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    expires_at        BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_ref) REFERENCES providers (tenant_id, ref) ON DELETE CASCADE
);
CREATE INDEX authorizations_user ON authorizations (tenant_id, user_id, provider_ref);

-- The browser side of one authorization. Capabilities are stored only as hashes.
CREATE TABLE flows (
    tenant_id             TEXT    NOT NULL,
    authorization_id      TEXT    NOT NULL,
    phase                 TEXT    NOT NULL,
    start_token_hash      BYTEA    NOT NULL,
    csrf_hash             BYTEA,
    browser_binding_hash  BYTEA,
    state_hash            BYTEA,
    pkce_verifier         BYTEA,                   -- sealed
    flow_id_hash          BYTEA,
    quarantined_tokens    BYTEA,                   -- sealed
    discord_user_id       TEXT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL,
    expires_at            BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, authorization_id),
    FOREIGN KEY (tenant_id, authorization_id) REFERENCES authorizations (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX flows_start_token_unique ON flows (start_token_hash);
CREATE UNIQUE INDEX flows_state_unique ON flows (state_hash);
CREATE UNIQUE INDEX flows_flow_id_unique ON flows (flow_id_hash);

CREATE TABLE grants (
    tenant_id         TEXT     NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id                TEXT     NOT NULL,          -- grt_…
    user_id           TEXT     NOT NULL,
    provider_ref      TEXT     NOT NULL,
    discord_user_id   TEXT     NOT NULL,
    user_info         BYTEA     NOT NULL,          -- sealed JSON of the Discord user
    scopes            TEXT     NOT NULL,          -- as Discord returned them
    access_token      BYTEA     NOT NULL,          -- sealed
    refresh_token     BYTEA,                       -- sealed
    expires_at        BIGINT   NOT NULL,
    generation        BIGINT   NOT NULL DEFAULT 0,
    status            TEXT     NOT NULL CHECK (status IN ('active', 'reauth_required', 'revoked')),
    refresh_failures  BIGINT   NOT NULL DEFAULT 0,
    cooldown_until    BIGINT,
    created_at        BIGINT   NOT NULL,
    updated_at        BIGINT   NOT NULL,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, provider_ref) REFERENCES providers (tenant_id, ref) ON DELETE CASCADE
);
-- One active grant per (tenant, user, provider).
CREATE UNIQUE INDEX grants_active_unique ON grants (tenant_id, user_id, provider_ref) WHERE status = 'active';

CREATE TABLE audit_events (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    id          TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    outcome     TEXT    NOT NULL,
    request_id  TEXT,
    detail      TEXT,                             -- JSON; never a secret
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX audit_events_at ON audit_events (tenant_id, at);
