-- Sealed records, as in the SQLite schema: encrypted by srecap before they
-- reach the database (AES-256-GCM, see `secret.rs`).
CREATE TABLE sealed_record (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (namespace, name)
);
