-- Audit events keyed by (tenant, time, id) (issue 10): the primary key now serves the listing
-- (`WHERE tenant_id = $1 AND at >= $2 AND at < $3 ORDER BY at, id`) and the daily usage, so
-- the separate (tenant_id, at) index goes. Each token release writes one event, and the two
-- indexes' inserts were most of the backend's work under the warm token fetch
-- (docs/benchmarks.md). Ids are fresh UUID v7s, unique on their own; a retried batch repeats
-- its events' times as well as their ids, so it still meets the key (services/store:
-- insert_audit_rows, `ON CONFLICT DO NOTHING`, which names no columns so that a change of key
-- like this one does not break it).
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
ALTER TABLE audit_events ADD PRIMARY KEY (tenant_id, at, id);
DROP INDEX audit_events_at;
