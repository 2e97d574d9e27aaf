-- Provider fields for the admin API: the tenant's external reference, the operator-allow-listed
-- endpoint origin (the simulator or an egress proxy), and one registration per Discord client id
-- across all tenants (security.md P6: a tenant must not ride another app's user consents).
ALTER TABLE providers ADD COLUMN external_id TEXT;
ALTER TABLE providers ADD COLUMN endpoint_origin TEXT;
CREATE UNIQUE INDEX providers_client_id_unique ON providers (client_id);
