-- Audit events from the audit pipeline, a batch to a row (issue 10). Each token release writes
-- one event; as a row of audit_events each cost the backend a heap tuple, a B-tree entry and
-- their WAL, about a ninth of the host's CPU under the warm token fetch (docs/benchmarks.md).
-- The pipeline now writes each flush's events of one tenant, up to 1,000 of them, as one JSON
-- text: `[[id, at, actor, action, target, outcome, request_id], ...]` (never a secret, as every
-- audit value), kept out of line uncompressed (STORAGE EXTERNAL: compressing it cost more CPU
-- than writing it). first_at and last_at bound the events' times, so that a listing by time
-- unpacks only the batches it needs. Events written with the change they record (settings,
-- keys, grants: one at a time, in its transaction) stay in audit_events.
--
-- audit_log is the one view of both: what the listing and the daily usage read, and what an
-- operator queries by hand (`SELECT * FROM audit_log WHERE tenant_id = ...`). Its columns
-- batch_first and batch_last are the event's batch's bounds (its own time for a row of
-- audit_events): a condition on them prunes batches before they are unpacked. in_batch is 1
-- for an event of audit_batches, 0 for a row of audit_events.
--
-- Additive: replicas of the previous release keep writing audit_events, which audit_log reads
-- as well. Like audit_events, no foreign key to tenants: the writer locks the batch's tenants
-- (`FOR KEY SHARE`) and delete_tenant deletes the batches itself (migration 0012).
CREATE TABLE audit_batches (
    tenant_id  TEXT    NOT NULL,
    id         TEXT    NOT NULL,                 -- the batch's first event's id
    first_at   BIGINT  NOT NULL,
    last_at    BIGINT  NOT NULL,
    events     TEXT    NOT NULL,                 -- JSON, as above; never a secret
    -- How many of the events are of each action the daily usage counts: a batch within one
    -- day is counted from these without being unpacked.
    starts       BIGINT  NOT NULL DEFAULT 0,     -- authorization.start
    completions  BIGINT  NOT NULL DEFAULT 0,     -- authorization.completed
    releases     BIGINT  NOT NULL DEFAULT 0,     -- token.release
    PRIMARY KEY (tenant_id, first_at, id)
);
ALTER TABLE audit_batches ALTER COLUMN events SET STORAGE EXTERNAL;

CREATE VIEW audit_log AS
    SELECT tenant_id, id, at, actor, action, target, outcome, request_id,
           at AS batch_first, at AS batch_last, 0 AS in_batch
      FROM audit_events
    UNION ALL
    SELECT b.tenant_id, e ->> 0, (e ->> 1)::bigint, e ->> 2, e ->> 3, e ->> 4, e ->> 5, e ->> 6,
           b.first_at, b.last_at, 1
      FROM audit_batches b CROSS JOIN LATERAL jsonb_array_elements(b.events::jsonb) AS e;
