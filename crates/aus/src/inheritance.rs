//! The version-data inheritance network between organizations (§4.4).

use std::collections::{BTreeMap, HashMap};

use crate::labels::{INHERIT, ORG_LABELS, PUBLISH};

/// Documentation linked from inheritance errors (reference wording, R45).
pub const AUS_DOCS_URL: &str =
    "https://source.redhat.com/groups/public/sre/wiki/advanced_upgrade_service_aus";

#[derive(Debug, Clone, Default)]
struct Links {
    environment: String,
    inherit: Vec<String>,
    publish: Vec<String>,
}

/// Who publishes soak history to whom, across environments (R42).
#[derive(Debug, Clone, Default)]
pub struct Network {
    orgs: HashMap<String, Links>,
}

/// An organization's inheritance, resolved (R43–R46).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resolution {
    /// Verified sources: (environment, org id), in label order.
    pub verified: Vec<(String, String)>,
    /// Organization errors: unverified sources, self-inheritance.
    pub errors: Vec<String>,
}

impl Network {
    /// Build from `(environment, org id, organization labels)` of every organization
    /// of every environment. An organization is known iff it has at least one
    /// `version-data.*` label (R42).
    pub fn build<'a>(
        orgs: impl IntoIterator<Item = (&'a str, &'a str, &'a BTreeMap<String, String>)>,
    ) -> Network {
        let inherit_key = ORG_LABELS.key(INHERIT);
        let publish_key = ORG_LABELS.key(PUBLISH);
        let mut network = Network::default();
        for (environment, org_id, labels) in orgs {
            if !labels.contains_key(&inherit_key) && !labels.contains_key(&publish_key) {
                continue;
            }
            // Invalid values are reported as the organization's own label errors;
            // here the valid part is used.
            let parsed = ORG_LABELS.parse(labels);
            network.orgs.insert(
                org_id.to_owned(),
                Links {
                    environment: environment.to_owned(),
                    inherit: parsed.list(INHERIT).to_vec(),
                    publish: parsed.list(PUBLISH).to_vec(),
                },
            );
        }
        network
    }

    /// Resolve the sources `org_id` inherits from.
    ///
    /// Deviation (spec R46, §18 G9): inheriting from oneself is an organization
    /// validation error here, not a failure of the pass.
    pub fn resolve(&self, org_id: &str) -> Resolution {
        let mut out = Resolution::default();
        let Some(links) = self.orgs.get(org_id) else {
            return out;
        };
        let mut unverified: Vec<&str> = Vec::new();
        for source in &links.inherit {
            if source == org_id {
                out.errors.push(format!(
                    "organization {org_id} inherits version data from itself: remove {org_id} from its sre-capabilities.aus.version-data.inherit label"
                ));
                continue;
            }
            match self.orgs.get(source) {
                Some(src) if src.publish.iter().any(|p| p == org_id) => {
                    out.verified.push((src.environment.clone(), source.clone()));
                }
                _ => unverified.push(source),
            }
        }
        if !unverified.is_empty() {
            unverified.sort_unstable();
            out.errors.push(format!(
                "Version data inheritance from organizations {} are unverified. Ask the owner of these organizations to publish version data to the organization ID {org_id}. See {AUS_DOCS_URL}",
                unverified.join(", ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    format!("sre-capabilities.aus.version-data.{k}"),
                    (*v).to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn w26_r43_verified_and_unverified_sources() {
        let l1 = labels(&[("inherit", "org-id-2,org-id-3,unknown_org")]);
        let l2 = labels(&[("publish", "org-id-1")]);
        let l3 = labels(&[("publish", "org-id-2")]);
        let n = Network::build([
            ("ocm-prod", "org-id-1", &l1),
            ("ocm-stage", "org-id-2", &l2),
            ("ocm-stage", "org-id-3", &l3),
        ]);
        let r = n.resolve("org-id-1");
        assert_eq!(
            r.verified,
            [("ocm-stage".to_owned(), "org-id-2".to_owned())]
        );
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].starts_with(
            "Version data inheritance from organizations org-id-3, unknown_org are unverified."
        ));
        assert_eq!(n.resolve("org-id-2"), Resolution::default());
    }

    #[test]
    fn r46_self_inheritance_is_a_validation_error() {
        let l = labels(&[("inherit", "o"), ("publish", "o")]);
        let n = Network::build([("prod", "o", &l)]);
        let r = n.resolve("o");
        assert!(r.verified.is_empty());
        assert_eq!(r.errors.len(), 1);
        assert!(r.errors[0].contains("inherits version data from itself"));
    }
}
