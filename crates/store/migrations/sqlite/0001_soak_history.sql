-- One row per AUS soak-history document (spec R62, R63).
--
-- The document is stored whole, as JSON text, because AUS reads and writes it
-- whole once per pass: one row per key makes every save a single-row upsert, so
-- a save is atomic without any cross-row bookkeeping. `environment` and
-- `org_id` repeat the key's parts so that an operator can query by either; the
-- CHECK keeps them from drifting apart.
CREATE TABLE IF NOT EXISTS soak_history (
    key         TEXT PRIMARY KEY NOT NULL,
    environment TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    UNIQUE (environment, org_id),
    CHECK (key = environment || '/' || org_id)
) STRICT;
