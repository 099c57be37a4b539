//! Scenario files (`spec/scenario.md`): loading, defaults, strict validation.
//!
//! Reading happens in two steps. [`document`] deserializes the text into private
//! structs that mirror the file (unknown keys and malformed scalars fail there,
//! with line and field path). The builder here then applies the documented
//! defaults and checks what needs the whole document: unique organization ids,
//! unique cluster names per organization, references to organizations, node
//! pools only on ROSA HCP clusters, version-data keys. The first problem found
//! is reported; a scenario is fixed and re-read, not partially used.

mod document;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use jiff::Timestamp;

use crate::history::{Stats, VersionData, VersionHistory, WorkloadHistory};
use crate::identity::{
    ClusterAuth, IDP_TYPES, IdentityProvider, InitialAccessToken, MAPPING_METHODS, OPENID,
    OpenIdSettings, Secrets, Sso, SsoClient, SsoRealm, default_console_url, initial_access_token,
    realm_name,
};
use crate::model::{
    AddonInstallation, Addons, Cluster, Fleet, NodePool, Organization, PolicyState, Product,
    Release, UpgradePolicy, VersionGate, default_channel, derive_available_upgrades,
};
use document::{
    ClusterDoc, ConsoleUrlDoc, Document, Entries, IdentityProviderDoc, LabelValue, OrganizationDoc,
    Problem, RealmDoc, UpgradePolicyDoc, VersionDataDoc, key_segment, line_of,
};

/// Why a scenario could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read scenario file {}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The text is not a valid scenario: bad syntax, an unknown or missing key, a
    /// malformed value, or an inconsistency between sections. Displays as
    /// `file:line: field.path: reason` (line and path when known).
    #[error("{}: {reason}", Location { file, line: *line, path })]
    Invalid {
        /// The name the scenario was given (file path or `source`).
        file: String,
        /// 1-based line of the offending value, when known.
        line: Option<u64>,
        /// Field path such as `clusters[3].version`; empty for the whole document.
        path: String,
        /// What is wrong, in words.
        reason: String,
    },
}

/// The `file:line: path` prefix of [`LoadError::Invalid`].
struct Location<'a> {
    file: &'a str,
    line: Option<u64>,
    path: &'a str,
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if !self.path.is_empty() {
            write!(f, ": {}", self.path)?;
        }
        Ok(())
    }
}

/// Text formats a scenario may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Yaml,
    Json,
}

/// Load a scenario file; `wall_clock` is the default for `now`.
///
/// A `.json` file is read as JSON, anything else as YAML.
pub fn load_scenario(path: &Path, wall_clock: Timestamp) -> Result<Fleet, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        file: path.to_owned(),
        source,
    })?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let format = if is_json { Format::Json } else { Format::Yaml };
    parse(&text, &path.display().to_string(), format, wall_clock)
}

/// Parse scenario text; `source` names it in errors; `wall_clock` is the default
/// for `now`. Text whose first non-blank character is `{` is read as JSON (for
/// exact line numbers), anything else as YAML.
pub fn parse_scenario(text: &str, source: &str, wall_clock: Timestamp) -> Result<Fleet, LoadError> {
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    parse(text, source, format, wall_clock)
}

fn parse(
    text: &str,
    source: &str,
    format: Format,
    wall_clock: Timestamp,
) -> Result<Fleet, LoadError> {
    if text.trim().is_empty() {
        // The parsers' word for this is "unexpected end of input", which sends the
        // reader looking for a truncated file rather than an empty one.
        return Err(LoadError::Invalid {
            file: source.to_owned(),
            line: None,
            path: String::new(),
            reason: "the scenario is empty (expected at least organizations and clusters)"
                .to_owned(),
        });
    }
    let document = match format {
        Format::Yaml => document::from_yaml(text),
        Format::Json => document::from_json(text),
    };
    let version_data_key_line = |key: &str| match format {
        Format::Yaml => document::version_data_key_line(text, key),
        Format::Json => None,
    };
    document
        .and_then(|document| build(document, wall_clock, &version_data_key_line))
        .map_err(|problem| LoadError::Invalid {
            file: source.to_owned(),
            line: problem.line,
            path: problem.path,
            reason: problem.reason,
        })
}

/// Apply defaults and cross-section checks.
///
/// `version_data_key_line` finds the line of a `version_data` key, which the
/// document does not keep (YAML only; JSON has no way to ask).
fn build(
    document: Document,
    wall_clock: Timestamp,
    version_data_key_line: &dyn Fn(&str) -> Option<u64>,
) -> Result<Fleet, Problem> {
    let now = document.now.map_or(wall_clock, |n| n.0);
    let organizations = build_organizations(document.organizations)?;
    let org_ids: HashSet<&str> = organizations.iter().map(|o| o.id.as_str()).collect();

    let version_gates = build_version_gates(document.version_gates.unwrap_or_default())?;
    let releases: Vec<Release> = document
        .releases
        .unwrap_or_default()
        .into_iter()
        .map(|r| Release {
            version: r.version.0,
            channel_groups: r.channel_groups,
            published: r.published.0,
        })
        .collect();

    let catalog: BTreeMap<String, semver::Version> = document
        .addon_catalog
        .map(|e| e.0)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, version)| (id, version.0))
        .collect();
    let mut installations = Vec::new();
    let mut clusters = Vec::with_capacity(document.clusters.len());
    let mut names: HashSet<(String, String)> = HashSet::new();
    for (index, mut doc) in document.clusters.into_iter().enumerate() {
        let addon_docs = doc.addons.take().unwrap_or_default();
        let key = (doc.organization.value.clone(), doc.name.value.clone());
        if !names.insert(key) {
            return Err(Problem {
                line: line_of(&doc.name),
                path: cluster_path(index, &doc.name.value),
                reason: format!(
                    "duplicate cluster name {:?} in organization {:?}",
                    doc.name.value, doc.organization.value
                ),
            });
        }
        let name = doc.name.value.clone();
        let cluster = build_cluster(index, doc, &org_ids, &releases, now)?;
        let mut seen: HashSet<String> = HashSet::new();
        for (addon_index, addon) in addon_docs.into_iter().enumerate() {
            let path = format!("{}.addons[{addon_index}].id", cluster_path(index, &name));
            let reason = if !catalog.contains_key(&addon.id.value) {
                Some(format!(
                    "add-on {:?} is not in addon_catalog",
                    addon.id.value
                ))
            } else if !seen.insert(addon.id.value.clone()) {
                Some(format!("add-on {:?} is installed twice", addon.id.value))
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(Problem {
                    line: line_of(&addon.id),
                    path,
                    reason,
                });
            }
            installations.push(AddonInstallation {
                cluster_id: cluster.id.clone(),
                addon_id: addon.id.value,
                version: addon.version.0,
                state: addon.state.unwrap_or_else(|| "ready".to_owned()),
                upgrade_policies: policies(addon.upgrade_policies),
            });
        }
        clusters.push(cluster);
    }

    let version_data = match document.version_data {
        Some(entries) => build_version_data(entries, &org_ids, version_data_key_line)?,
        None => BTreeMap::new(),
    };
    let sso = build_sso(document.sso.and_then(|s| s.realms).unwrap_or_default(), now)?;
    let secrets = build_secrets(document.secrets)?;

    Ok(Fleet {
        now,
        environment: document
            .environment
            .unwrap_or_else(|| "production".to_owned()),
        organizations,
        clusters,
        version_gates,
        releases,
        version_data,
        addons: Addons {
            catalog,
            installations,
        },
        sso,
        secrets,
    })
}

fn build_organizations(docs: Vec<OrganizationDoc>) -> Result<Vec<Organization>, Problem> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut organizations = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        let id = doc.id.value.clone();
        if !seen.insert(id.clone()) {
            return Err(Problem {
                line: line_of(&doc.id),
                path: format!("organizations[{index}].id"),
                reason: format!("duplicate organization id {id:?}"),
            });
        }
        organizations.push(Organization {
            name: doc.name.unwrap_or_else(|| id.clone()),
            id,
            labels: labels(doc.labels),
        });
    }
    Ok(organizations)
}

fn build_version_gates(docs: Vec<document::VersionGateDoc>) -> Result<Vec<VersionGate>, Problem> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut gates = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        if !seen.insert(doc.id.value.clone()) {
            return Err(Problem {
                line: line_of(&doc.id),
                path: format!("version_gates[{index}].id"),
                reason: format!("duplicate version gate id {:?}", doc.id.value),
            });
        }
        gates.push(VersionGate {
            id: doc.id.value,
            version_raw_id_prefix: doc.version_raw_id_prefix.0,
            label: doc.label,
            sts_only: doc.sts_only.unwrap_or(false),
        });
    }
    Ok(gates)
}

/// `clusters[3] (name "prod-1")`: the index finds it in the file, the name in OCM.
fn cluster_path(index: usize, name: &str) -> String {
    format!("clusters[{index}] (name {name:?})")
}

fn build_cluster(
    index: usize,
    doc: ClusterDoc,
    org_ids: &HashSet<&str>,
    releases: &[Release],
    now: Timestamp,
) -> Result<Cluster, Problem> {
    let name = doc.name.value;
    if !org_ids.contains(doc.organization.value.as_str()) {
        return Err(Problem {
            line: line_of(&doc.organization),
            path: cluster_path(index, &name),
            reason: format!(
                "organization {:?} is not defined under organizations",
                doc.organization.value
            ),
        });
    }
    let product = doc.product.map_or(Product::Osd, |p| p.0);
    let hypershift = doc.hypershift.unwrap_or(false);

    let pools = doc.node_pools.unwrap_or_default();
    if let Some(first) = pools.first()
        && !(product == Product::Rosa && hypershift)
    {
        return Err(Problem {
            line: line_of(&first.id),
            path: cluster_path(index, &name),
            reason: "node_pools are only allowed on ROSA hosted control plane clusters \
                     (product: rosa and hypershift: true)"
                .to_owned(),
        });
    }
    let mut node_pools = Vec::with_capacity(pools.len());
    let mut pool_ids: HashSet<String> = HashSet::new();
    for (pool_index, pool) in pools.into_iter().enumerate() {
        if !pool_ids.insert(pool.id.value.clone()) {
            return Err(Problem {
                line: line_of(&pool.id),
                path: format!("{}.node_pools[{pool_index}].id", cluster_path(index, &name)),
                reason: format!("duplicate node pool id {:?}", pool.id.value),
            });
        }
        node_pools.push(NodePool {
            id: pool.id.value,
            version: pool.version.0,
            upgrade_policies: policies(pool.upgrade_policies),
        });
    }

    let auth = ClusterAuth {
        console_url: match doc.console_url {
            ConsoleUrlDoc::Derived => Some(default_console_url(&name)),
            ConsoleUrlDoc::None => None,
            ConsoleUrlDoc::Given(url) => Some(url),
        },
        external_auth: doc.external_auth.unwrap_or(false),
        identity_providers: build_identity_providers(
            &cluster_path(index, &name),
            doc.identity_providers.unwrap_or_default(),
        )?,
    };
    let version = doc.version.0;
    let channel_group = doc.channel_group.unwrap_or_else(|| "stable".to_owned());
    let channel = doc
        .channel
        .unwrap_or_else(|| default_channel(&channel_group, &version));
    let available_upgrades_explicit = doc.available_upgrades.is_some();
    let available_upgrades = match doc.available_upgrades {
        Some(given) => given.into_iter().map(|v| v.0).collect(),
        None => derive_available_upgrades(releases, &version, &channel_group, now),
    };

    Ok(Cluster {
        id: doc.id.unwrap_or_else(|| format!("{name}-id")),
        external_id: doc.external_id.unwrap_or_else(|| format!("{name}-uuid")),
        organization: doc.organization.value,
        name,
        version,
        channel_group,
        channel,
        available_upgrades: available_upgrades.into(),
        available_upgrades_explicit,
        available_channels: doc.available_channels.unwrap_or_default(),
        product,
        hypershift,
        sts: doc.sts.unwrap_or(false),
        state: doc.state.unwrap_or_else(|| "ready".to_owned()),
        healthy: doc.healthy.unwrap_or(true),
        labels: labels(doc.labels).into(),
        node_pools,
        upgrade_policies: policies(doc.upgrade_policies),
        gate_agreements: doc.gate_agreements.unwrap_or_default(),
        auth,
    })
}

/// Whether `name` is a valid identity-provider name (OCM console's rule, I75).
fn valid_idp_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A cluster's existing identity providers (I80): OCM's types and mapping
/// methods, ids and names unique on the cluster, OpenID settings exactly on
/// OpenID providers.
fn build_identity_providers(
    cluster: &str,
    docs: Vec<IdentityProviderDoc>,
) -> Result<Vec<IdentityProvider>, Problem> {
    let mut ids: HashSet<String> = HashSet::new();
    let mut names: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(docs.len());
    for (index, doc) in docs.into_iter().enumerate() {
        let at = |field: &str| format!("{cluster}.identity_providers[{index}].{field}");
        let fail = |line, field: &str, reason: String| Problem {
            line,
            path: at(field),
            reason,
        };
        if !ids.insert(doc.id.value.clone()) {
            return Err(fail(
                line_of(&doc.id),
                "id",
                format!("duplicate identity provider id {:?}", doc.id.value),
            ));
        }
        if !valid_idp_name(&doc.name.value) {
            return Err(fail(
                line_of(&doc.name),
                "name",
                format!(
                    "{:?} is not an identity provider name (letters, digits, '_' and '-')",
                    doc.name.value
                ),
            ));
        }
        if !names.insert(doc.name.value.clone()) {
            return Err(fail(
                line_of(&doc.name),
                "name",
                format!(
                    "duplicate identity provider name {:?} on the cluster",
                    doc.name.value
                ),
            ));
        }
        if !IDP_TYPES.contains(&doc.idp_type.value.as_str()) {
            return Err(fail(
                line_of(&doc.idp_type),
                "type",
                format!(
                    "{:?} is not an identity provider type (expected one of {})",
                    doc.idp_type.value,
                    IDP_TYPES.join(", ")
                ),
            ));
        }
        let mapping_method = match doc.mapping_method {
            None => "claim".to_owned(),
            Some(m) if MAPPING_METHODS.contains(&m.value.as_str()) => m.value,
            Some(m) => {
                return Err(fail(
                    line_of(&m),
                    "mapping_method",
                    format!(
                        "{:?} is not a mapping method (expected one of {})",
                        m.value,
                        MAPPING_METHODS.join(", ")
                    ),
                ));
            }
        };
        let open_id = if doc.idp_type.value == OPENID {
            let (Some(client_id), Some(issuer)) = (doc.client_id, doc.issuer) else {
                return Err(fail(
                    line_of(&doc.idp_type),
                    "type",
                    "an OpenIDIdentityProvider needs client_id and issuer".to_owned(),
                ));
            };
            Some(OpenIdSettings {
                client_id,
                client_secret: doc.client_secret,
                issuer,
                claims: OpenIdSettings::standard_claims(doc.groups_claim.unwrap_or_default()),
            })
        } else {
            let openid_only = [
                ("client_id", doc.client_id.is_some()),
                ("client_secret", doc.client_secret.is_some()),
                ("issuer", doc.issuer.is_some()),
                ("groups_claim", doc.groups_claim.is_some()),
            ];
            if let Some((field, _)) = openid_only.iter().find(|(_, given)| *given) {
                return Err(fail(
                    line_of(&doc.idp_type),
                    field,
                    format!("only an {OPENID} takes {field}"),
                ));
            }
            None
        };
        out.push(IdentityProvider {
            id: doc.id.value,
            idp_type: doc.idp_type.value,
            name: doc.name.value,
            mapping_method,
            open_id,
        });
    }
    Ok(out)
}

/// Client scopes a realm allows when the scenario does not say (rule I21 plus
/// the group scope of I10).
const DEFAULT_ALLOWED_SCOPES: &[&str] = &[
    "web-origins",
    "acr",
    "profile",
    "roles",
    "email",
    "regex-filtered-groups",
];

/// SSO realms (I77, I80): realm names taken from the issuers, unique; client
/// ids unique per realm; an IAT without a token gets a JWT-shaped one.
fn build_sso(docs: Vec<RealmDoc>, now: Timestamp) -> Result<Sso, Problem> {
    let mut realms = Vec::with_capacity(docs.len());
    let mut seen: HashSet<String> = HashSet::new();
    for (index, doc) in docs.into_iter().enumerate() {
        let path = format!("sso.realms[{index}]");
        let issuer = doc.issuer.value.clone();
        let Some(name) = realm_name(&issuer).map(str::to_owned) else {
            return Err(Problem {
                line: line_of(&doc.issuer),
                path: format!("{path}.issuer"),
                reason: format!(
                    "{issuer:?} is not a realm URL (expected <base>/auth/realms/<realm>)"
                ),
            });
        };
        if !seen.insert(name.clone()) {
            return Err(Problem {
                line: line_of(&doc.issuer),
                path: format!("{path}.issuer"),
                reason: format!("duplicate realm {name:?}"),
            });
        }
        let unknown_client_status = doc.unknown_client_status.unwrap_or(401);
        if !matches!(unknown_client_status, 401 | 404) {
            return Err(Problem {
                line: line_of(&doc.issuer),
                path: format!("{path}.unknown_client_status"),
                reason: format!("{unknown_client_status} is not 401 or 404"),
            });
        }
        let mut clients: Vec<SsoClient> = Vec::new();
        for (client_index, client) in doc.clients.unwrap_or_default().into_iter().enumerate() {
            if clients
                .iter()
                .any(|c| c.client_id == client.client_id.value)
            {
                return Err(Problem {
                    line: line_of(&client.client_id),
                    path: format!("{path}.clients[{client_index}].client_id"),
                    reason: format!("duplicate client {:?}", client.client_id.value),
                });
            }
            clients.push(SsoClient {
                client_id: client.client_id.value,
                secret: client.secret,
                redirect_uris: client.redirect_uris.unwrap_or_default(),
                default_client_scopes: client.default_client_scopes.unwrap_or_default(),
                attributes: labels(client.attributes),
                rat: client.rat,
            });
        }
        let initial_access_tokens = doc
            .iat
            .map(|iat| InitialAccessToken {
                token: iat.token.unwrap_or_else(|| {
                    initial_access_token(
                        &issuer,
                        &format!("{name}-scenario-iat"),
                        now,
                        iat.expires.0,
                    )
                }),
                expires: iat.expires.0,
                count: iat.count,
            })
            .into_iter()
            .collect();
        realms.push(SsoRealm {
            issuer,
            allowed_scopes: doc.allowed_scopes.unwrap_or_else(|| {
                DEFAULT_ALLOWED_SCOPES
                    .iter()
                    .map(|s| (*s).to_owned())
                    .collect()
            }),
            initial_access_tokens,
            clients,
            echo_attributes: doc.echo_attributes.unwrap_or(true),
            unknown_client_status,
        });
    }
    Ok(Sso { realms })
}

/// Pre-existing client records (I80): every record is a JSON object.
fn build_secrets(
    docs: Option<Entries<Option<Entries<serde_json::Value>>>>,
) -> Result<Secrets, Problem> {
    let mut out = Secrets::new();
    for (namespace, entries) in docs.map(|e| e.0).unwrap_or_default() {
        let records = out.entry(namespace.clone()).or_default();
        for (name, record) in entries.map(|e| e.0).unwrap_or_default() {
            if !record.is_object() {
                return Err(Problem {
                    line: None,
                    path: format!(
                        "secrets{}{}",
                        key_segment(&namespace, false),
                        key_segment(&name, false)
                    ),
                    reason: "a client record is a mapping (rule I30)".to_owned(),
                });
            }
            records.insert(name, record);
        }
    }
    Ok(out)
}

fn labels(entries: Option<Entries<LabelValue>>) -> BTreeMap<String, String> {
    entries
        .map(|e| e.0)
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| (key, value.0))
        .collect()
}

fn policies(docs: Option<Vec<UpgradePolicyDoc>>) -> Vec<UpgradePolicy> {
    docs.unwrap_or_default()
        .into_iter()
        .map(|doc| UpgradePolicy {
            id: doc.id,
            version: doc.version.map(|v| v.0),
            next_run: doc.next_run.map(|t| t.0),
            state: doc
                .state
                .map_or(PolicyState::Scheduled, |s| PolicyState::parse(&s)),
            schedule_type: doc.schedule_type.map(|s| s.0).unwrap_or_default(),
            schedule: doc.schedule,
        })
        .collect()
}

/// History keyed by an organization that is not in the scenario is refused: AUS
/// only keeps history for organizations it plans, so such a key is a typo (or a
/// leftover) that would otherwise silently turn into "no history".
fn build_version_data(
    entries: Entries<VersionDataDoc>,
    org_ids: &HashSet<&str>,
    key_line: &dyn Fn(&str) -> Option<u64>,
) -> Result<BTreeMap<String, VersionData>, Problem> {
    let mut out = BTreeMap::new();
    for (org, doc) in entries.0 {
        if !org_ids.contains(org.as_str()) {
            return Err(Problem {
                line: key_line(&org),
                path: format!("version_data{}", key_segment(&org, false)),
                reason: format!("organization {org:?} is not defined under organizations"),
            });
        }
        let versions = doc
            .versions
            .map(|e| e.0)
            .unwrap_or_default()
            .into_iter()
            .map(|(version, history)| {
                let workloads = history
                    .workloads
                    .map(|e| e.0)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(workload, w)| {
                        let history = WorkloadHistory {
                            soak_days: w.soak_days.map_or(0.0, |d| d.0),
                            reporting: w.reporting.unwrap_or_default().into(),
                        };
                        (workload, history)
                    })
                    .collect();
                (version.0, std::sync::Arc::new(VersionHistory { workloads }))
            })
            .collect();
        let stats = doc.stats.map(|s| Stats {
            min_version: s.min_version.0.to_string(),
            min_version_per_workload: s
                .min_version_per_workload
                .map(|e| e.0)
                .unwrap_or_default()
                .into_iter()
                .map(|(workload, v)| (workload, v.0.to_string()))
                .collect(),
        });
        let data = VersionData {
            check_in: doc.check_in.map(|c| c.0),
            versions,
            stats,
        };
        out.insert(org, data);
    }
    Ok(out)
}
