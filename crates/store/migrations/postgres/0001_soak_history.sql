-- One row per AUS soak-history document (spec R62, R63), as in the SQLite schema.
--
-- The document is TEXT, not JSONB: it is read and written whole once per pass,
-- never queried by field, and TEXT gives back the exact bytes written, so soak
-- days read back bit for bit without relying on JSONB's number normalisation.
CREATE TABLE soak_history (
    key         TEXT PRIMARY KEY,
    environment TEXT NOT NULL,
    org_id      TEXT NOT NULL,
    document    TEXT NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (environment, org_id),
    CHECK (key = environment || '/' || org_id)
);
