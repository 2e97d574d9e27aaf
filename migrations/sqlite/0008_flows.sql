-- Authorization flows (issue 5). A reused pending authorization answers with the same start
-- link, so the start token is kept as a sealed copy beside its hash (lookups use the hash).
-- confirm_user records its decision and a hash of the user id it was given, so that an
-- identical retry gets the recorded answer (security.md V5). A grant remembers the
-- authorization that made it (the id a 'completed' answer carries), which is therefore kept
-- past the retention period while the grant is active.
ALTER TABLE flows ADD COLUMN start_token BLOB;
ALTER TABLE flows ADD COLUMN decision TEXT;
ALTER TABLE flows ADD COLUMN decided_user_hash BLOB;
ALTER TABLE grants ADD COLUMN authorization_id TEXT;
CREATE INDEX flows_due ON flows (expires_at);
-- Ended authorizations are purged after the retention period (arcade-compat §6.5).
CREATE INDEX authorizations_ended ON authorizations (updated_at) WHERE status IN ('completed', 'failed');
-- The keep-alive refreshes active grants before their access tokens expire.
CREATE INDEX grants_expiring ON grants (expires_at) WHERE status = 'active';
