-- One-time platform steps, each recorded once (the primary key makes the first writer win):
-- 'operator_key' marks that the first platform operator key was created, so two replicas
-- starting together on an empty database cannot both create (and print) one.
CREATE TABLE platform_bootstrap (
    name        TEXT    NOT NULL PRIMARY KEY,
    created_at  BIGINT  NOT NULL
);
