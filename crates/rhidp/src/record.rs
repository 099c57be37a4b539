//! Client records (spec I30, I71) and the [`Secret`] type (I72).

use std::collections::BTreeMap;
use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::{Digest, Sha256};

use crate::client::{DesiredClient, registration_client_uri};
use crate::labels::GROUP_FILTER_REGEX;

/// The srecap record schema version (I71).
pub const SCHEMA: u32 = 1;

/// A secret value: client secret, registration access token or initial access token.
///
/// `Debug` and `Display` print `<redacted>` so a secret cannot leak through a log
/// line, an error or a plan (I72); serde round-trips the value because records
/// must store it.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (a request body).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// SHA-256 of the value, lower-case hex (I71).
    pub fn fingerprint(&self) -> String {
        use fmt::Write as _;
        let digest = Sha256::digest(self.0.as_bytes());
        digest.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Whether registration completed (I41).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecordState {
    /// Written before registering: the outcome of the registration is unknown.
    Pending,
    /// Reference records carry no state and are registered.
    #[default]
    Registered,
}

/// One stored SSO client. The first eight fields are the reference's (I30) so a
/// reference store can be adopted; the rest are srecap's (I71) and optional when
/// reading. Unknown fields (legacy RFC 7591 records) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    pub client_id: String,
    #[serde(default)]
    pub client_name: String,
    /// Absent in a pending record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_access_token: Option<Secret>,
    #[serde(default)]
    pub registration_client_uri: String,
    pub issuer: String,
    /// What Keycloak echoed (`null` is accepted and read as empty).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub attributes: BTreeMap<String, String>,

    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ocm_environment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idp_name: Option<String>,
    #[serde(default)]
    pub state: RecordState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(Option::<BTreeMap<String, String>>::deserialize(d)?.unwrap_or_default())
}

/// Why a stored record cannot be used (I48: such a record is "unresolved, routine").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not JSON of the record's shape. Carries the error class and position only:
    /// serde's messages may quote a value, and a value may be a secret (I72).
    #[error("not a client record: {0}")]
    Malformed(String),
    /// A registered record without its client secret or registration access token.
    #[error("registered client record {0:?} lacks its client secret or registration access token")]
    Incomplete(String),
}

/// What Keycloak answered to a registration (I27), as the executor passes it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    pub secret: Secret,
    pub redirect_uris: Vec<String>,
    pub registration_access_token: Secret,
    pub attributes: BTreeMap<String, String>,
}

impl ClientRecord {
    /// Parse a stored record and check it is usable.
    pub fn from_json(json: &str) -> Result<ClientRecord, RecordError> {
        let record: ClientRecord = serde_json::from_str(json).map_err(|e| {
            RecordError::Malformed(format!(
                "{:?} error at line {}, column {}",
                e.classify(),
                e.line(),
                e.column()
            ))
        })?;
        record.check()?;
        Ok(record)
    }

    fn check(&self) -> Result<(), RecordError> {
        let missing = |s: &Option<Secret>| s.as_ref().is_none_or(Secret::is_empty);
        if self.state == RecordState::Registered
            && (missing(&self.client_secret) || missing(&self.registration_access_token))
        {
            return Err(RecordError::Incomplete(self.client_id.clone()));
        }
        Ok(())
    }

    /// The pending record written before registering (I41).
    pub fn pending(client: &DesiredClient, ocm_environment: &str, now: Timestamp) -> ClientRecord {
        ClientRecord {
            client_id: client.key.clone(),
            client_name: client.key.clone(),
            client_secret: None,
            redirect_uris: vec![client.redirect_uri.clone()],
            registration_access_token: None,
            registration_client_uri: client.registration_client_uri(),
            issuer: client.issuer.clone(),
            attributes: BTreeMap::new(),
            schema: Some(SCHEMA),
            cluster_id: Some(client.cluster_id.clone()),
            cluster_uuid: Some(client.cluster_uuid.clone()),
            organization_id: Some(client.organization_id.clone()),
            ocm_environment: Some(ocm_environment.to_owned()),
            idp_name: Some(client.auth_name.clone()),
            state: RecordState::Pending,
            secret_fingerprint: None,
            created_at: Some(now),
        }
    }

    /// The full record after a successful registration (I30, I71). When Keycloak
    /// echoes no attributes, the requested group filter is stored instead: the identity provider's
    /// groups claim follows the record (I22), and a record that never shows the
    /// requested filter would make the planner update the client every pass.
    pub fn registered(
        client: &DesiredClient,
        registration: Registration,
        ocm_environment: &str,
        now: Timestamp,
    ) -> ClientRecord {
        let mut attributes = registration.attributes;
        if attributes.is_empty()
            && let Some(regex) = &client.group_filter
        {
            attributes.insert(GROUP_FILTER_REGEX.to_owned(), regex.clone());
        }
        ClientRecord {
            registration_client_uri: registration_client_uri(
                &client.issuer,
                &registration.client_id,
            ),
            secret_fingerprint: Some(registration.secret.fingerprint()),
            client_name: client.key.clone(),
            client_id: registration.client_id,
            client_secret: Some(registration.secret),
            redirect_uris: registration.redirect_uris,
            registration_access_token: Some(registration.registration_access_token),
            attributes,
            state: RecordState::Registered,
            ..ClientRecord::pending(client, ocm_environment, now)
        }
    }

    /// The fingerprint of the client secret: stored, or computed for reference
    /// records that have none. `None` for a pending record.
    pub fn fingerprint(&self) -> Option<String> {
        self.secret_fingerprint.clone().or_else(|| {
            self.client_secret
                .as_ref()
                .filter(|s| !s.is_empty())
                .map(Secret::fingerprint)
        })
    }

    /// The group filter Keycloak holds for this client (I22 reads it from here).
    pub fn group_filter(&self) -> Option<&str> {
        self.attributes
            .get(GROUP_FILTER_REGEX)
            .map(String::as_str)
            .filter(|r| !r.is_empty())
    }
}

/// A secret-store entry as listed (I35): a record or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredRecord {
    Record(Box<ClientRecord>),
    Unreadable(RecordError),
}

impl StoredRecord {
    pub fn parse(json: &str) -> StoredRecord {
        match ClientRecord::from_json(json) {
            Ok(r) => StoredRecord::Record(Box::new(r)),
            Err(e) => StoredRecord::Unreadable(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = r#"{
      "client_id": "my-cluster-org-1-redhat-sso-auth.redhat.com",
      "client_name": "my-cluster-org-1-redhat-sso-auth.redhat.com",
      "client_secret": "s3cr3t",
      "redirect_uris": ["https://oauth-openshift.apps.my-cluster.abcd.p1.openshiftapps.com/oauth2callback/redhat-sso"],
      "registration_access_token": "eyJhbGciOi",
      "registration_client_uri": "https://auth.redhat.com/auth/realms/EmployeeIDP/clients-registrations/default/my-cluster-org-1-redhat-sso-auth.redhat.com",
      "issuer": "https://auth.redhat.com/auth/realms/EmployeeIDP",
      "attributes": {"group-filter-regex": "^ai-.*"},
      "client_id_issued_at": 1700000000,
      "grant_types": ["authorization_code"]
    }"#;

    #[test]
    fn i71_reads_reference_records_without_srecap_fields() {
        let r = ClientRecord::from_json(REFERENCE).unwrap();
        assert_eq!(r.state, RecordState::Registered);
        assert_eq!(r.cluster_id, None);
        assert_eq!(r.group_filter(), Some("^ai-.*"));
        assert_eq!(r.fingerprint(), Some(Secret::new("s3cr3t").fingerprint()));
    }

    #[test]
    fn i27_null_attributes_are_empty() {
        let json = REFERENCE.replace(r#"{"group-filter-regex": "^ai-.*"}"#, "null");
        assert!(
            ClientRecord::from_json(&json)
                .unwrap()
                .attributes
                .is_empty()
        );
    }

    #[test]
    fn e18_record_with_only_client_id_is_unreadable() {
        assert!(matches!(
            StoredRecord::parse(r#"{"client_id": "x"}"#),
            StoredRecord::Unreadable(RecordError::Malformed(_))
        ));
        assert!(matches!(
            StoredRecord::parse(r#"{"client_id": "x", "issuer": "https://i"}"#),
            StoredRecord::Unreadable(RecordError::Incomplete(_))
        ));
    }

    #[test]
    fn i72_secrets_are_redacted_but_round_trip() {
        let r = ClientRecord::from_json(REFERENCE).unwrap();
        let debug = format!("{r:?}");
        assert!(
            !debug.contains("s3cr3t") && !debug.contains("eyJhbGciOi"),
            "{debug}"
        );
        assert!(debug.contains("<redacted>"));
        assert_eq!(Secret::new("x").to_string(), "<redacted>");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(ClientRecord::from_json(&json).unwrap(), r);
        assert!(json.contains("s3cr3t"));
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        assert_eq!(
            Secret::new("abc").fingerprint(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn i41_pending_then_registered_record() {
        let client = DesiredClient {
            key: "c-o-redhat-sso-i.com".into(),
            cluster_id: "cid".into(),
            cluster_uuid: "uuid".into(),
            cluster_name: "c".into(),
            organization_id: "o".into(),
            auth_name: "redhat-sso".into(),
            issuer: "https://i.com".into(),
            redirect_uri: "https://oauth/cb".into(),
            group_filter: Some("^a".into()),
        };
        let now = Timestamp::UNIX_EPOCH;
        let pending = ClientRecord::pending(&client, "production", now);
        let json = serde_json::to_string(&pending).unwrap();
        assert_eq!(
            StoredRecord::parse(&json),
            StoredRecord::Record(Box::new(pending))
        );
        let r = ClientRecord::registered(
            &client,
            Registration {
                client_id: client.key.clone(),
                secret: Secret::new("s"),
                redirect_uris: vec!["https://oauth/cb".into()],
                registration_access_token: Secret::new("rat"),
                attributes: BTreeMap::new(),
            },
            "production",
            now,
        );
        assert_eq!(r.state, RecordState::Registered);
        assert_eq!(r.group_filter(), Some("^a"));
        assert_eq!(r.idp_name.as_deref(), Some("redhat-sso"));
        assert_eq!(
            r.registration_client_uri,
            "https://i.com/clients-registrations/default/c-o-redhat-sso-i.com"
        );
        assert_eq!(r.fingerprint(), Some(Secret::new("s").fingerprint()));
    }
}
