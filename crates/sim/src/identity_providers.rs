//! Cluster identity providers (`CS/clusters/{id}/identity_providers`, spec
//! `ocm-api.md` E16 and `rhidp.md` I75): creating, patching and deleting them
//! with OCM's validations, and their JSON.
//!
//! Each provider keeps its type block (`open_id`, `github`, ...) as the client
//! sent it, minus the OpenID `client_secret`: OCM treats that secret as
//! write-only, so it is kept beside the block and never rendered. Tests read it
//! through [`crate::Simulator::identity_provider_secret`] to check that the
//! cluster holds the secret of the current SSO client (W5).

use serde_json::{Map, Value, json};
use srecap_fleet::identity::{IDP_TYPES, MAPPING_METHODS, OPENID};
use srecap_fleet::{IdentityProvider, OpenIdSettings};

use crate::render::CS;
use crate::world::{Rejection, World};

/// Orderable attributes of an identity provider.
pub const IDP_FIELDS: &[&str] = &["id", "name", "type", "mapping_method"];

/// One identity provider of one cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct IdpRecord {
    pub cluster_id: String,
    pub id: String,
    pub idp_type: String,
    pub name: String,
    pub mapping_method: String,
    /// The type block as served (never holds `client_secret`).
    pub settings: Map<String, Value>,
    /// The OpenID client secret, write-only on the API.
    pub secret: Option<String>,
}

/// The JSON key of a type's settings block.
fn block_key(idp_type: &str) -> &'static str {
    match idp_type {
        "LDAPIdentityProvider" => "ldap",
        "GithubIdentityProvider" => "github",
        "GitlabIdentityProvider" => "gitlab",
        "GoogleIdentityProvider" => "google",
        "HTPasswdIdentityProvider" => "htpasswd",
        _ => "open_id",
    }
}

/// OCM console's rule for names: letters, digits, `_` and `-`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl IdpRecord {
    /// A provider the scenario lists.
    pub fn seed(cluster_id: &str, idp: IdentityProvider) -> IdpRecord {
        let (settings, secret) = match idp.open_id {
            Some(open_id) => {
                let mut block = Map::new();
                block.insert("client_id".into(), json!(open_id.client_id));
                block.insert("issuer".into(), json!(open_id.issuer));
                block.insert("claims".into(), json!(open_id.claims));
                (block, open_id.client_secret)
            }
            None => (Map::new(), None),
        };
        IdpRecord {
            cluster_id: cluster_id.to_owned(),
            id: idp.id,
            idp_type: idp.idp_type,
            name: idp.name,
            mapping_method: idp.mapping_method,
            settings,
            secret,
        }
    }

    /// Back to the fleet's model (the secret included: it is the simulator's
    /// own view, not the API's).
    pub fn to_fleet(&self) -> IdentityProvider {
        let text = |key: &str| {
            self.settings
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let open_id = (self.idp_type == OPENID).then(|| OpenIdSettings {
            client_id: text("client_id"),
            client_secret: self.secret.clone(),
            issuer: text("issuer"),
            claims: self
                .settings
                .get("claims")
                .cloned()
                .and_then(|c| serde_json::from_value(c).ok())
                .unwrap_or_default(),
        });
        IdentityProvider {
            id: self.id.clone(),
            idp_type: self.idp_type.clone(),
            name: self.name.clone(),
            mapping_method: self.mapping_method.clone(),
            open_id,
        }
    }

    pub fn href(&self) -> String {
        format!(
            "{CS}/clusters/{}/identity_providers/{}",
            self.cluster_id, self.id
        )
    }

    /// The JSON OCM serves: no `client_secret`, ever. A provider the scenario
    /// seeds with an empty `id` is served without `id` and `href`, the
    /// malformed listing the reference's tests feed (rhidp E20: such a
    /// provider cannot be deleted or updated).
    pub fn render(&self) -> Value {
        let mut v = json!({
            "kind": "IdentityProvider",
            "type": self.idp_type,
            "name": self.name,
            "mapping_method": self.mapping_method,
        });
        if !self.id.is_empty() {
            v["id"] = json!(self.id);
            v["href"] = json!(self.href());
        }
        v[block_key(&self.idp_type)] = Value::Object(self.settings.clone());
        v
    }
}

/// The fields of a create or patch body, checked one by one.
fn string_field<'a>(
    body: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, Rejection> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Rejection::invalid(format!(
            "Field '{field}' must be a string, got {other}"
        ))),
    }
}

fn check_mapping_method(method: &str) -> Result<(), Rejection> {
    if MAPPING_METHODS.contains(&method) {
        Ok(())
    } else {
        Err(Rejection::invalid(format!(
            "Mapping method '{method}' is not valid: expected one of {}",
            MAPPING_METHODS.join(", ")
        )))
    }
}

/// A type block from a request: the settings to serve and the secret to keep.
#[derive(Debug, Default)]
struct TypeBlock {
    /// `None` when the request has no block.
    settings: Option<Map<String, Value>>,
    secret: Option<String>,
}

/// Split the type block of `body` into settings and the client secret; a block
/// that is present must be an object.
fn take_block(body: &Map<String, Value>, key: &str) -> Result<TypeBlock, Rejection> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(TypeBlock::default()),
        Some(Value::Object(block)) => {
            let mut block = block.clone();
            let secret = match block.remove("client_secret") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s),
                Some(other) => {
                    return Err(Rejection::invalid(format!(
                        "Field '{key}.client_secret' must be a string, got {other}"
                    )));
                }
            };
            Ok(TypeBlock {
                settings: Some(block),
                secret,
            })
        }
        Some(other) => Err(Rejection::invalid(format!(
            "Field '{key}' must be an object, got {other}"
        ))),
    }
}

/// What an OpenID provider needs (I75): a client id, a secret, an `https` issuer.
fn check_open_id(settings: &Map<String, Value>, secret: Option<&str>) -> Result<(), Rejection> {
    let nonempty = |key: &str| {
        settings
            .get(key)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    if !nonempty("client_id") {
        return Err(Rejection::invalid(
            "Field 'open_id.client_id' is required for an OpenID identity provider",
        ));
    }
    if secret.is_none_or(str::is_empty) {
        return Err(Rejection::invalid(
            "Field 'open_id.client_secret' is required for an OpenID identity provider",
        ));
    }
    match settings.get("issuer").and_then(Value::as_str) {
        Some(issuer) if issuer.starts_with("https://") && issuer.len() > "https://".len() => Ok(()),
        Some(issuer) => Err(Rejection::invalid(format!(
            "Field 'open_id.issuer' must be an https URL, got '{issuer}'"
        ))),
        None => Err(Rejection::invalid(
            "Field 'open_id.issuer' is required for an OpenID identity provider",
        )),
    }
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, Rejection> {
    body.as_object()
        .ok_or_else(|| Rejection::invalid("The request body must be a JSON object"))
}

impl World {
    /// The identity providers of a cluster, in creation order.
    pub fn identity_providers_of(&self, cluster_id: &str) -> Result<Vec<&IdpRecord>, Rejection> {
        let cluster_id = &self.cluster(cluster_id)?.cluster.id;
        Ok(self
            .identity_providers
            .iter()
            .filter(|i| i.cluster_id == *cluster_id)
            .collect())
    }

    fn idp_index(&self, cluster_id: &str, idp_id: &str) -> Result<usize, Rejection> {
        self.cluster(cluster_id)?;
        self.identity_providers
            .iter()
            .position(|i| i.cluster_id == cluster_id && i.id == idp_id)
            .ok_or_else(|| {
                Rejection::NotFound(format!(
                    "Identity provider '{idp_id}' not found on cluster '{cluster_id}'"
                ))
            })
    }

    pub fn identity_provider(
        &self,
        cluster_id: &str,
        idp_id: &str,
    ) -> Result<&IdpRecord, Rejection> {
        self.idp_index(cluster_id, idp_id)
            .map(|i| &self.identity_providers[i])
    }

    /// `POST` (I75): validate and store a new provider.
    pub fn create_identity_provider(
        &mut self,
        cluster_id: &str,
        body: &Value,
    ) -> Result<&IdpRecord, Rejection> {
        let body = as_object(body)?;
        let rec = self.cluster(cluster_id)?;
        let cluster_id = rec.cluster.id.clone();
        let external_auth = rec.cluster.auth.external_auth;
        let has_console = rec.cluster.auth.console_url.is_some();

        let name = string_field(body, "name")?
            .ok_or_else(|| Rejection::invalid("Field 'name' is required"))?;
        if !valid_name(name) {
            return Err(Rejection::invalid(format!(
                "Identity provider name '{name}' is not valid: use letters, digits, '_' and '-'"
            )));
        }
        let idp_type = string_field(body, "type")?
            .ok_or_else(|| Rejection::invalid("Field 'type' is required"))?;
        if !IDP_TYPES.contains(&idp_type) {
            return Err(Rejection::invalid(format!(
                "Identity provider type '{idp_type}' is not valid: expected one of {}",
                IDP_TYPES.join(", ")
            )));
        }
        let mapping_method = string_field(body, "mapping_method")?.unwrap_or("claim");
        check_mapping_method(mapping_method)?;
        if external_auth {
            // UNCERTAIN (spec §17 item 1): the console refuses it; assumed the API does.
            return Err(Rejection::invalid(format!(
                "Cluster '{cluster_id}' uses external authentication and cannot have identity providers"
            )));
        }
        let TypeBlock { settings, secret } = take_block(body, block_key(idp_type))?;
        let settings = settings.unwrap_or_default();
        if idp_type == OPENID {
            if !has_console {
                return Err(Rejection::invalid(format!(
                    "Cluster '{cluster_id}' has no console URL and cannot have an OpenID identity provider"
                )));
            }
            check_open_id(&settings, secret.as_deref())?;
        }
        if self
            .identity_providers
            .iter()
            .any(|i| i.cluster_id == cluster_id && i.name == name)
        {
            // UNCERTAIN 400 vs 409 (I75): the console's check answers 400.
            return Err(Rejection::invalid(format!(
                "Identity provider name '{name}' is already used on cluster '{cluster_id}'"
            )));
        }
        let record = IdpRecord {
            cluster_id,
            id: self.fresh_idp_id(),
            idp_type: idp_type.to_owned(),
            name: name.to_owned(),
            mapping_method: mapping_method.to_owned(),
            settings,
            secret,
        };
        self.identity_providers.push(record);
        Ok(&self.identity_providers[self.identity_providers.len() - 1])
    }

    /// An id no provider has (scenario ids are free text).
    fn fresh_idp_id(&mut self) -> String {
        loop {
            let id = self.next_id("idp");
            if !self.identity_providers.iter().any(|i| i.id == id) {
                return id;
            }
        }
    }

    /// `PATCH` (I75): merge the given fields; name and type cannot change; a
    /// given `client_secret` replaces the stored one.
    pub fn patch_identity_provider(
        &mut self,
        cluster_id: &str,
        idp_id: &str,
        body: &Value,
    ) -> Result<&IdpRecord, Rejection> {
        let body = as_object(body)?;
        let index = self.idp_index(cluster_id, idp_id)?;
        let current = &self.identity_providers[index];
        if let Some(name) = string_field(body, "name")?
            && name != current.name
        {
            return Err(Rejection::invalid(format!(
                "The name of identity provider '{idp_id}' cannot change ('{}' to '{name}')",
                current.name
            )));
        }
        if let Some(idp_type) = string_field(body, "type")?
            && idp_type != current.idp_type
        {
            return Err(Rejection::invalid(format!(
                "The type of identity provider '{idp_id}' cannot change ('{}' to '{idp_type}')",
                current.idp_type
            )));
        }
        let mut updated = current.clone();
        if let Some(method) = string_field(body, "mapping_method")? {
            check_mapping_method(method)?;
            method.clone_into(&mut updated.mapping_method);
        }
        let TypeBlock { settings, secret } = take_block(body, block_key(&current.idp_type))?;
        if let Some(settings) = settings {
            updated.settings.extend(settings);
        }
        if secret.is_some() {
            updated.secret = secret;
        }
        if updated.idp_type == OPENID {
            check_open_id(&updated.settings, updated.secret.as_deref())?;
        }
        self.identity_providers[index] = updated;
        Ok(&self.identity_providers[index])
    }

    /// `DELETE` (I75).
    pub fn delete_identity_provider(
        &mut self,
        cluster_id: &str,
        idp_id: &str,
    ) -> Result<(), Rejection> {
        let index = self.idp_index(cluster_id, idp_id)?;
        self.identity_providers.remove(index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_console_rule() {
        assert!(valid_name("redhat-sso"));
        assert!(valid_name("A_b-9"));
        assert!(!valid_name(""));
        assert!(!valid_name("red hat"));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn the_secret_is_kept_out_of_the_served_block() {
        let body =
            json!({"open_id": {"client_id": "c", "client_secret": "s", "issuer": "https://i"}});
        let block = take_block(as_object(&body).unwrap(), "open_id").unwrap();
        assert_eq!(block.secret.as_deref(), Some("s"));
        assert!(!block.settings.unwrap().contains_key("client_secret"));
    }
}
