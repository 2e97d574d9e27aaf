-- A tool's requirement may pin one provider instance (arcade-tdk's `Discord(id="discord-prod")`).
-- `tools.provider` keeps the provider type ('discord'); this column holds the pinned instance's
-- tenant-chosen id, or NULL when the tenant's provider resolution picks the instance.
ALTER TABLE tools ADD COLUMN provider_instance TEXT;
