-- The platform operator's audit log: tenant creation and deletion, by whom, with which
-- request. Not tenant-owned, so it outlives the tenants it names; ids only, never a secret.
CREATE TABLE platform_audit_events (
    id          TEXT    NOT NULL PRIMARY KEY,
    at          BIGINT  NOT NULL,
    actor       TEXT    NOT NULL,
    action      TEXT    NOT NULL,
    target      TEXT,
    outcome     TEXT    NOT NULL,
    request_id  TEXT
);
CREATE INDEX platform_audit_events_at ON platform_audit_events (at);
