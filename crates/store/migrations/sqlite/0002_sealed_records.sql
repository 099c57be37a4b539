-- Sealed records: what a capability keeps secret between passes (the Red Hat
-- IdP capability's SSO client records), encrypted by srecap before they reach
-- the database (AES-256-GCM, see `secret.rs`): `sealed` is the format marker,
-- the nonce and the ciphertext. The database never sees a plaintext secret.
CREATE TABLE IF NOT EXISTS sealed_record (
    namespace  TEXT NOT NULL,
    name       TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (namespace, name)
) STRICT;
