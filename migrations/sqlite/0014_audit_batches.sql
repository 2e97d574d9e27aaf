-- Audit events from the audit pipeline, a batch to a row (issue 10; PostgreSQL's migration 0014
-- says why). Each flush's events of one tenant, up to 1,000, go in as one JSON text,
-- `[[id, at, actor, action, target, outcome, request_id], ...]` (never a secret), instead of a
-- B-tree entry each: SQLite's worker threads and the flusher's spent about 2.5 µs of CPU a
-- token release writing them (docs/benchmarks.md).
-- A table with a rowid, not WITHOUT ROWID: SQLite advises that form for small rows only, and
-- these are large. first_at and last_at bound the events' times.
--
-- audit_log is the one view of both tables, as on PostgreSQL; batch_first and batch_last prune
-- batches by time before they are unpacked; in_batch tells the two tables' events apart.
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

CREATE VIEW audit_log AS
    SELECT tenant_id, id, at, actor, action, target, outcome, request_id,
           at AS batch_first, at AS batch_last, 0 AS in_batch
      FROM audit_events
    UNION ALL
    SELECT b.tenant_id, j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4,
           j.value ->> 5, j.value ->> 6, b.first_at, b.last_at, 1
      FROM audit_batches b, json_each(b.events) AS j;
