//! Sealed records: what a capability must keep secret between passes (the
//! Red Hat `IdP` capability's SSO client records, with their client secrets and
//! registration access tokens), encrypted at rest in the same database as the
//! soak histories.
//!
//! A record lives at (`namespace`, `name`), for example
//! (`rhidp/production`, `my-cluster-org-1-redhat-sso-auth.redhat.com`). The
//! operations are the ones the capability needs (spec rhidp I69): list the
//! names of a namespace, get, put (atomic replace), put-if-absent (the
//! pending-record protocol that makes registration crash-safe, I41) and an
//! idempotent delete.
//!
//! Design decisions:
//! * Encryption is not optional: a [`SecretStore`] exists only with a
//!   [`SealingKey`], so there is no silent plaintext fallback. A missing key is
//!   the caller's start-up error.
//! * AES-256-GCM (`RustCrypto`'s `aes-gcm`) with a random 96-bit nonce per write:
//!   a record is written a few times in its life, far below the 2^32 messages
//!   per key where random nonces start to risk a collision. The record's
//!   namespace and name are the associated data, so a sealed value copied to
//!   another row (another cluster's record) does not open there.
//! * The stored form is `s1` (format version), the nonce, then the ciphertext
//!   with its tag: one column, one row per record, so every write is a single
//!   atomic statement and a crash leaves the old or the new record, never a
//!   torn one.
//! * The key is 32 random bytes given in base64, from a file
//!   (`--secret-key-file`, as Kubernetes mounts a Secret) or an environment
//!   variable (`SRECAP_SECRET_KEY`); never on the command line, where `ps`
//!   shows it. Key bytes and opened plaintexts are zeroed when dropped, and
//!   `Debug` never prints them.
//! * A record that does not open (wrong key, tampering, a foreign row) is an
//!   error naming the namespace and name; it is never deleted or overwritten
//!   silently.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::{Store, StoreError};

/// The environment variable that may hold the sealing key (base64).
pub const KEY_ENV: &str = "SRECAP_SECRET_KEY";

/// Format marker of a sealed value, first in every stored record.
const FORMAT: &[u8; 2] = b"s1";
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// Why a sealing key or a sealed record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file cannot be read.
    #[error("cannot read the secret key file {path}")]
    ReadKey {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The key text is not base64 of 32 bytes. `origin` names the file or
    /// variable; the text itself is never repeated.
    #[error(
        "the secret key in {origin} is not usable: {reason}; generate one with `head -c 32 /dev/urandom | base64`"
    )]
    BadKey { origin: String, reason: String },
    /// A stored record does not open with this key.
    #[error(
        "sealed record {namespace}/{name} does not open with this secret key (a different key, or the row was altered or copied); it is left as it is"
    )]
    Unseal { namespace: String, name: String },
    /// A namespace or name that cannot address a record.
    #[error("invalid sealed record address {namespace:?}/{name:?}: {reason}")]
    BadAddress {
        namespace: String,
        name: String,
        reason: &'static str,
    },
    /// A record that is not the JSON its reader expects.
    #[error("sealed record {namespace}/{name} is not a valid record")]
    Decode {
        namespace: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    /// A value that cannot be written as JSON.
    #[error("sealed record {namespace}/{name} cannot be encoded")]
    Encode {
        namespace: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The AES-256 key that seals records. Never printed.
#[derive(Clone)]
pub struct SealingKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// A key from its base64 text (surrounding whitespace ignored); `origin`
    /// names where it came from, for errors.
    pub fn from_base64(text: &str, origin: &str) -> Result<Self, SecretError> {
        let bad = |reason: String| SecretError::BadKey {
            origin: origin.to_owned(),
            reason,
        };
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| bad("it is not base64".to_owned()))?,
        );
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            bad(format!(
                "it holds {} bytes, an AES-256 key has {KEY_LEN}",
                decoded.len()
            ))
        })?;
        Ok(Self {
            bytes: Zeroizing::new(bytes),
        })
    }

    /// The key in `path` (base64 text, as a mounted Kubernetes Secret holds it).
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            SecretError::ReadKey {
                path: path.to_path_buf(),
                source,
            }
        })?);
        Self::from_base64(&text, &path.display().to_string())
    }

    /// The key in environment variable `var`, if it is set and not empty.
    pub fn from_env(var: &str) -> Result<Option<Self>, SecretError> {
        match std::env::var(var) {
            Ok(text) if !text.trim().is_empty() => {
                let text = Zeroizing::new(text);
                Self::from_base64(&text, &format!("${var}")).map(Some)
            }
            Ok(_) | Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(SecretError::BadKey {
                origin: format!("${var}"),
                reason: "it is not UTF-8 text".to_owned(),
            }),
        }
    }

    /// A new random key (tests, and `srecap` printing one for an operator).
    pub fn generate() -> Self {
        let mut bytes = Zeroizing::new([0_u8; KEY_LEN]);
        rand::rng().fill_bytes(bytes.as_mut());
        Self { bytes }
    }

    /// This key as base64 text (to hand a generated key to an operator).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(self.bytes.as_ref()))
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(self.bytes.as_ref().into())
    }

    /// Seal `plaintext` for (`namespace`, `name`).
    pub fn seal(&self, namespace: &str, name: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0_u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = associated_data(namespace, name);
        let sealed = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // AES-GCM encryption fails only for messages over 64 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(FORMAT.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Open what [`SealingKey::seal`] sealed for (`namespace`, `name`).
    pub fn open(
        &self,
        namespace: &str,
        name: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let unseal = || SecretError::Unseal {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        let rest = sealed.strip_prefix(FORMAT.as_slice()).ok_or_else(unseal)?;
        if rest.len() < NONCE_LEN {
            return Err(unseal());
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| unseal())?;
        let aad = associated_data(namespace, name);
        self.cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| unseal())
    }
}

/// The associated data of a record: its address, NUL-separated (neither part
/// may contain NUL, see [`check_address`]).
fn associated_data(namespace: &str, name: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(namespace.len() + name.len() + 1);
    aad.extend_from_slice(namespace.as_bytes());
    aad.push(0);
    aad.extend_from_slice(name.as_bytes());
    aad
}

/// Refuse addresses that could alias another record or that a database column
/// cannot hold faithfully.
pub fn check_address(namespace: &str, name: &str) -> Result<(), SecretError> {
    let bad = |reason| SecretError::BadAddress {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        reason,
    };
    if namespace.is_empty() || name.is_empty() {
        return Err(bad("neither part may be empty"));
    }
    if name.contains('/') {
        return Err(bad("a name may not contain `/`"));
    }
    if namespace.chars().chain(name.chars()).any(char::is_control) {
        return Err(bad("control characters are not allowed"));
    }
    if namespace.len() > 255 || name.len() > 255 {
        return Err(bad("each part is at most 255 bytes"));
    }
    Ok(())
}

/// Sealed records in a [`Store`], opened with one [`SealingKey`].
#[derive(Debug, Clone)]
pub struct SecretStore {
    store: Store,
    key: SealingKey,
}

impl SecretStore {
    pub fn new(store: Store, key: SealingKey) -> Self {
        Self { store, key }
    }

    /// The names of the records in `namespace`, sorted.
    pub async fn list(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        check_address(namespace, "-")?;
        match &self.store {
            Store::Sqlite(s) => s.secret_list(namespace).await,
            Store::Postgres(s) => s.secret_list(namespace).await,
            Store::Memory(s) => Ok(s.secret_list(namespace)),
        }
    }

    /// The opened record at (`namespace`, `name`), if any.
    pub async fn get(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, StoreError> {
        check_address(namespace, name)?;
        let sealed = match &self.store {
            Store::Sqlite(s) => s.secret_get(namespace, name).await?,
            Store::Postgres(s) => s.secret_get(namespace, name).await?,
            Store::Memory(s) => s.secret_get(namespace, name),
        };
        sealed
            .map(|sealed| self.key.open(namespace, name, &sealed))
            .transpose()
            .map_err(StoreError::from)
    }

    /// Replace (or create) the record at (`namespace`, `name`).
    pub async fn put(
        &self,
        namespace: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<(), StoreError> {
        self.write(namespace, name, plaintext, false)
            .await
            .map(drop)
    }

    /// Create the record at (`namespace`, `name`) unless one exists; `true`
    /// when this call created it.
    pub async fn put_if_absent(
        &self,
        namespace: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<bool, StoreError> {
        self.write(namespace, name, plaintext, true).await
    }

    async fn write(
        &self,
        namespace: &str,
        name: &str,
        plaintext: &[u8],
        only_if_absent: bool,
    ) -> Result<bool, StoreError> {
        check_address(namespace, name)?;
        let sealed = self.key.seal(namespace, name, plaintext);
        match &self.store {
            Store::Sqlite(s) => s.secret_put(namespace, name, &sealed, only_if_absent).await,
            Store::Postgres(s) => s.secret_put(namespace, name, &sealed, only_if_absent).await,
            Store::Memory(s) => s.secret_put(namespace, name, sealed, only_if_absent),
        }
    }

    /// Delete the record at (`namespace`, `name`); `false` if there was none.
    pub async fn delete(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        check_address(namespace, name)?;
        match &self.store {
            Store::Sqlite(s) => s.secret_delete(namespace, name).await,
            Store::Postgres(s) => s.secret_delete(namespace, name).await,
            Store::Memory(s) => Ok(s.secret_delete(namespace, name)),
        }
    }

    /// The record at (`namespace`, `name`) read as JSON of type `T`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<T>, StoreError> {
        let Some(plain) = self.get(namespace, name).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&plain).map(Some).map_err(|source| {
            SecretError::Decode {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                source,
            }
            .into()
        })
    }

    /// [`SecretStore::put`] of `value` as JSON.
    pub async fn put_json<T: serde::Serialize>(
        &self,
        namespace: &str,
        name: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let plain = Self::encode(namespace, name, value)?;
        self.put(namespace, name, &plain).await
    }

    /// [`SecretStore::put_if_absent`] of `value` as JSON.
    pub async fn put_json_if_absent<T: serde::Serialize>(
        &self,
        namespace: &str,
        name: &str,
        value: &T,
    ) -> Result<bool, StoreError> {
        let plain = Self::encode(namespace, name, value)?;
        self.put_if_absent(namespace, name, &plain).await
    }

    fn encode<T: serde::Serialize>(
        namespace: &str,
        name: &str,
        value: &T,
    ) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        serde_json::to_vec(value)
            .map(Zeroizing::new)
            .map_err(|source| {
                SecretError::Encode {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    source,
                }
                .into()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_only_at_its_own_address_and_with_its_key() {
        let key = SealingKey::generate();
        let sealed = key.seal("rhidp/production", "c1", b"s3cr3t");
        assert!(!sealed.windows(6).any(|w| w == b"s3cr3t"));
        assert_eq!(
            key.open("rhidp/production", "c1", &sealed)
                .unwrap()
                .as_slice(),
            b"s3cr3t"
        );
        assert!(key.open("rhidp/production", "c2", &sealed).is_err());
        assert!(key.open("rhidp/stage", "c1", &sealed).is_err());
        assert!(
            SealingKey::generate()
                .open("rhidp/production", "c1", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open("rhidp/production", "c1", &tampered).is_err());
        assert!(key.open("rhidp/production", "c1", b"s1short").is_err());
    }

    #[test]
    fn two_seals_of_one_value_differ() {
        let key = SealingKey::generate();
        assert_ne!(key.seal("n", "a", b"x"), key.seal("n", "a", b"x"));
    }

    #[test]
    fn keys_are_read_from_base64_and_never_printed() {
        let key = SealingKey::generate();
        let text = key.to_base64();
        let again = SealingKey::from_base64(&format!("  {}\n", text.as_str()), "test").unwrap();
        assert_eq!(
            again
                .open("n", "a", &key.seal("n", "a", b"x"))
                .unwrap()
                .as_slice(),
            b"x"
        );
        assert_eq!(format!("{key:?}"), "SealingKey(<redacted>)");
        let short = SealingKey::from_base64("c2hvcnQ=", "/etc/key").unwrap_err();
        assert!(short.to_string().contains("/etc/key"), "{short}");
        assert!(short.to_string().contains("5 bytes"), "{short}");
        let not_b64 = SealingKey::from_base64("not base64!", "$SRECAP_SECRET_KEY").unwrap_err();
        assert!(!not_b64.to_string().contains("not base64!"), "{not_b64}");
    }

    #[test]
    fn addresses_that_could_alias_are_refused() {
        assert!(check_address("rhidp/production", "c1").is_ok());
        assert!(check_address("", "c1").is_err());
        assert!(check_address("ns", "").is_err());
        assert!(check_address("ns", "a/b").is_err());
        assert!(check_address("ns\0", "a").is_err());
    }
}
