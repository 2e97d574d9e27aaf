-- PostgreSQL's migration 0012 drops audit_events' foreign key to tenants (its per-row trigger
-- was a third of a batch's cost). SQLite keeps it: its check is one look-up in the tenants
-- table's index, and dropping it would mean rebuilding the table. Nothing changes here; the
-- version keeps both stores' migrations in step.
SELECT 1;
