//! Identity providers on a cluster: what OCM lists (I47) and what srecap wants (I22),
//! their equality (I50) and the request bodies (I52, I53).

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::record::Secret;

/// The OCM type of the providers this capability manages.
pub const OPENID: &str = "OpenIDIdentityProvider";
/// Always `add` (I22): a user of another provider with the same name maps to the
/// same OpenShift user (W19).
pub const MAPPING_METHOD: &str = "add";
/// The claim the realm fills with the filtered groups (I22).
pub const GROUPS_CLAIM: &str = "filtered_groups";

/// The claims of an OIDC provider. Missing lists take the defaults of I22 (I47).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    #[serde(default = "email")]
    pub email: Vec<String>,
    #[serde(default = "name")]
    pub name: Vec<String>,
    #[serde(default = "preferred_username")]
    pub preferred_username: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

fn email() -> Vec<String> {
    vec!["email".to_owned()]
}
fn name() -> Vec<String> {
    vec!["name".to_owned()]
}
fn preferred_username() -> Vec<String> {
    vec!["preferred_username".to_owned()]
}

impl Claims {
    /// The claims srecap sets (I22): groups only with a group filter.
    pub fn desired(with_groups: bool) -> Claims {
        Claims {
            email: email(),
            name: name(),
            preferred_username: preferred_username(),
            groups: if with_groups {
                vec![GROUPS_CLAIM.to_owned()]
            } else {
                Vec::new()
            },
        }
    }
}

impl Default for Claims {
    fn default() -> Claims {
        Claims::desired(false)
    }
}

/// The `open_id` block of a listed provider (no secret: OCM does not return it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIdSettings {
    pub client_id: String,
    pub issuer: String,
    #[serde(default)]
    pub claims: Claims,
}

/// A provider as OCM lists it (I47). Providers of other types keep only type, name
/// and id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CurrentIdp {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    #[serde(default)]
    pub mapping_method: Option<String>,
    #[serde(default)]
    pub open_id: Option<OpenIdSettings>,
}

impl CurrentIdp {
    pub fn is_openid(&self) -> bool {
        self.kind == OPENID
    }

    /// The SSO client this provider logs in through, if it is an OIDC provider.
    pub fn client_id(&self) -> Option<&str> {
        self.open_id
            .as_ref()
            .filter(|_| self.is_openid())
            .map(|o| o.client_id.as_str())
    }
}

/// The provider srecap wants on a cluster (I22), without its secret: plans never
/// hold secrets (I72). The executor takes the secret from the client record
/// [`DesiredIdp::client_id`] names when it sends the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredIdp {
    pub name: String,
    pub client_id: String,
    pub issuer: String,
    pub claims: Claims,
}

/// How a current provider differs from the desired one (I50 plus the srecap checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difference {
    ClientId,
    Issuer,
    Claims,
    /// Not compared by the reference (W19).
    MappingMethod,
    /// The client secret changed since the provider was last written, or srecap
    /// never wrote it (W5).
    Secret,
}

impl DesiredIdp {
    /// The fields of I50 and the mapping method (W19); the secret is compared by the
    /// planner through fingerprints.
    pub fn differences(&self, current: &CurrentIdp) -> Vec<Difference> {
        let mut out = Vec::new();
        match current.open_id.as_ref().filter(|_| current.is_openid()) {
            None => {
                out.extend([Difference::ClientId, Difference::Issuer, Difference::Claims]);
            }
            Some(o) => {
                if o.client_id != self.client_id {
                    out.push(Difference::ClientId);
                }
                if o.issuer != self.issuer {
                    out.push(Difference::Issuer);
                }
                if o.claims != self.claims {
                    out.push(Difference::Claims);
                }
            }
        }
        // A listing without a mapping method says nothing about drift.
        if current
            .mapping_method
            .as_deref()
            .is_some_and(|m| m != MAPPING_METHOD)
        {
            out.push(Difference::MappingMethod);
        }
        out
    }

    /// The create body (I22, I52).
    pub fn create_body(&self, secret: &Secret) -> Value {
        json!({
            "type": OPENID,
            "name": self.name,
            "mapping_method": MAPPING_METHOD,
            "open_id": self.open_id(secret),
        })
    }

    /// The update body (I53): the create body without `name`, which OCM treats as
    /// immutable.
    pub fn patch_body(&self, secret: &Secret) -> Value {
        json!({
            "type": OPENID,
            "mapping_method": MAPPING_METHOD,
            "open_id": self.open_id(secret),
        })
    }

    fn open_id(&self, secret: &Secret) -> Value {
        json!({
            "client_id": self.client_id,
            "client_secret": secret.expose(),
            "issuer": self.issuer,
            "claims": self.claims,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(groups: bool) -> DesiredIdp {
        DesiredIdp {
            name: "redhat-sso".into(),
            client_id: "my-cluster-org-123-redhat-sso-auth.redhat.com".into(),
            issuer: "https://auth.redhat.com/auth/realms/EmployeeIDP".into(),
            claims: Claims::desired(groups),
        }
    }

    #[test]
    fn i22_create_body_shape() {
        let body = desired(false).create_body(&Secret::new("s"));
        assert_eq!(
            body,
            json!({
              "type": "OpenIDIdentityProvider",
              "name": "redhat-sso",
              "mapping_method": "add",
              "open_id": {
                "client_id": "my-cluster-org-123-redhat-sso-auth.redhat.com",
                "client_secret": "s",
                "issuer": "https://auth.redhat.com/auth/realms/EmployeeIDP",
                "claims": {
                  "email": ["email"],
                  "name": ["name"],
                  "preferred_username": ["preferred_username"],
                  "groups": []
                }
              }
            })
        );
        assert_eq!(
            desired(true).create_body(&Secret::new("s"))["open_id"]["claims"]["groups"],
            json!(["filtered_groups"])
        );
    }

    #[test]
    fn i53_patch_body_has_no_name() {
        let body = desired(false).patch_body(&Secret::new("s"));
        assert!(body.get("name").is_none());
        assert_eq!(body["open_id"]["client_secret"], "s");
    }

    #[test]
    fn i47_listing_defaults_missing_claims() {
        let idp: CurrentIdp = serde_json::from_value(json!({
            "id": "idp-1", "type": "OpenIDIdentityProvider", "name": "redhat-sso",
            "mapping_method": "add",
            "open_id": {"client_id": "my-cluster-org-123-redhat-sso-auth.redhat.com",
                        "issuer": "https://auth.redhat.com/auth/realms/EmployeeIDP",
                        "claims": {"groups": []}}
        }))
        .unwrap();
        assert_eq!(desired(false).differences(&idp), []);
        assert_eq!(desired(true).differences(&idp), [Difference::Claims]);
        let github: CurrentIdp = serde_json::from_value(
            json!({"id": "g", "type": "GithubIdentityProvider", "name": "github"}),
        )
        .unwrap();
        assert_eq!(github.client_id(), None);
    }

    #[test]
    fn w19_mapping_method_is_compared() {
        let idp = CurrentIdp {
            id: Some("i".into()),
            kind: OPENID.into(),
            name: "redhat-sso".into(),
            mapping_method: Some("claim".into()),
            open_id: Some(OpenIdSettings {
                client_id: desired(false).client_id,
                issuer: desired(false).issuer,
                claims: Claims::default(),
            }),
        };
        assert_eq!(
            desired(false).differences(&idp),
            [Difference::MappingMethod]
        );
    }
}
