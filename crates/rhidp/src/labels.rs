//! The rhidp label set (spec §2, I4–I11): declarations, the effective label set of a
//! cluster and its effective status.
//!
//! The dotted settings (`.status`, `.name`, `.issuer`, `.group-filter-regex`) are
//! declared with `srecap-labels` so the CLI and the reconciler validate with the same
//! declarations. The deprecated bare key `sre-capabilities.rhidp` cannot be declared
//! there (a label set's keys all start with `sre-capabilities.<capability>.`), so it
//! is handled here by name. The framework's value kinds have no enumeration, so the
//! status values, the auth-name pattern and the regex limits are checked by
//! [`validate`] on top of the declaration.

use std::collections::BTreeMap;

use serde::Serialize;
use srecap_labels::{CapabilityDecl, LabelDecl, LabelError, LabelKind, LabelScope, LabelSetDecl};

/// The deprecated bare switch key, and the namespace of every rhidp key (I4).
pub const NAMESPACE: &str = "sre-capabilities.rhidp";
pub const STATUS: &str = "status";
pub const NAME: &str = "name";
pub const ISSUER: &str = "issuer";
pub const GROUP_FILTER_REGEX: &str = "group-filter-regex";
/// Identity providers an `enforced` cluster keeps (W9 PROPOSAL).
pub const KEEP_IDPS: &str = "keep-idps";

/// Longest accepted group-filter regex (I10 PROPOSAL).
pub const MAX_REGEX_LEN: usize = 255;
/// Longest accepted auth name (I8 PROPOSAL).
pub const MAX_AUTH_NAME_LEN: usize = 63;

/// The dotted rhidp labels, on a subscription or an organization (I4).
pub const LABELS: LabelSetDecl = LabelSetDecl {
    capability: "rhidp",
    labels: &[
        LabelDecl {
            setting: STATUS,
            kind: LabelKind::Text,
            required: false,
            summary: "`enabled`, `enforced` (also removes every other IdP), `sso-client-only` or `disabled` (default)",
        },
        LabelDecl {
            setting: NAME,
            kind: LabelKind::Text,
            required: false,
            summary: "name of the identity provider (login button); spaces become `-`; letters, digits, `_`, `-`, at most 63",
        },
        LabelDecl {
            setting: ISSUER,
            kind: LabelKind::Text,
            required: false,
            summary: "OIDC issuer URL; must be one of the configured Keycloak instances",
        },
        LabelDecl {
            setting: GROUP_FILTER_REGEX,
            kind: LabelKind::Text,
            required: false,
            summary: "emit the user's Red Hat groups matching this regex as OpenShift groups",
        },
        LabelDecl {
            setting: KEEP_IDPS,
            kind: LabelKind::Text,
            required: false,
            summary: "comma-separated identity-provider names `enforced` keeps (break-glass htpasswd, …); names as for `.name`",
        },
    ],
};

/// The capability as `srecap capabilities` lists it. Every dotted label may be set
/// on a cluster's subscription or on its organization (I4, I5: the subscription's
/// value wins per key), so both scopes carry the same set.
pub const CAPABILITY: CapabilityDecl = CapabilityDecl {
    name: "rhidp",
    summary: "logs people in to OpenShift clusters with Red Hat SSO: one Keycloak client and one OIDC identity provider per opted-in cluster",
    label_sets: &[
        (LabelScope::Cluster, &LABELS),
        (LabelScope::Organization, &LABELS),
    ],
};

/// The full key of a dotted setting: `sre-capabilities.rhidp.<setting>`.
pub fn key(setting: &str) -> String {
    LABELS.key(setting)
}

/// Where a label value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Subscription,
    Organization,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Subscription => "subscription",
            Source::Organization => "organization",
        }
    }
}

/// One label of the effective set, with its origin so messages can say where to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Label {
    pub key: String,
    pub value: String,
    pub source: Source,
}

/// Whether `key` belongs to the rhidp namespace. `sre-capabilities.rhidpx` does not
/// (the reference's label search fetches it, then ignores it, I13).
pub fn in_namespace(key: &str) -> bool {
    key == NAMESPACE
        || key
            .strip_prefix(NAMESPACE)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The effective label set of a cluster (I5): organization labels of the namespace,
/// overlaid key by key with the subscription's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EffectiveLabels {
    labels: BTreeMap<String, Label>,
}

impl EffectiveLabels {
    pub fn merge(
        organization: &BTreeMap<String, String>,
        subscription: &BTreeMap<String, String>,
    ) -> EffectiveLabels {
        let mut labels = BTreeMap::new();
        for (source, map) in [
            (Source::Organization, organization),
            (Source::Subscription, subscription),
        ] {
            for (key, value) in map.iter().filter(|(k, _)| in_namespace(k)) {
                labels.insert(
                    key.clone(),
                    Label {
                        key: key.clone(),
                        value: value.clone(),
                        source,
                    },
                );
            }
        }
        EffectiveLabels { labels }
    }

    /// The label of a dotted setting when its value is not blank. Values are trimmed:
    /// a stray space in a label is a typing accident, not a different value.
    pub fn setting(&self, setting: &str) -> Option<Label> {
        self.non_blank(&key(setting))
    }

    fn non_blank(&self, key: &str) -> Option<Label> {
        let label = self.labels.get(key)?;
        let value = label.value.trim();
        (!value.is_empty()).then(|| Label {
            value: value.to_owned(),
            ..label.clone()
        })
    }

    /// Keys under the namespace that no declaration knows (I11), e.g. `.statsu`.
    pub fn unknown_keys(&self) -> impl Iterator<Item = &Label> {
        self.labels
            .values()
            .filter(|l| l.key != NAMESPACE && LABELS.lookup(&l.key).is_none())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.labels.values()
    }
}

/// The accepted status values (I4, I7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Enabled,
    Enforced,
    SsoClientOnly,
    Disabled,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Enabled,
        Status::Enforced,
        Status::SsoClientOnly,
        Status::Disabled,
    ];

    /// Case-sensitive, as the reference compares (I7).
    pub fn parse(value: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == value)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Enabled => "enabled",
            Status::Enforced => "enforced",
            Status::SsoClientOnly => "sso-client-only",
            Status::Disabled => "disabled",
        }
    }

    /// The derived switches of I7.
    pub fn switches(self) -> Switches {
        match self {
            Status::Enabled => Switches {
                sso_client: true,
                idp: true,
                enforced: false,
            },
            Status::Enforced => Switches {
                sso_client: true,
                idp: true,
                enforced: true,
            },
            Status::SsoClientOnly => Switches {
                sso_client: true,
                idp: false,
                enforced: false,
            },
            Status::Disabled => Switches::default(),
        }
    }
}

/// What a status switches on (I7): `rhidp_enabled`, `oidc_enabled`, `enforced`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Switches {
    pub sso_client: bool,
    pub idp: bool,
    pub enforced: bool,
}

/// The effective status of a cluster (I6 with the W4 fix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EffectiveStatus {
    /// A known value, and the label it came from (`None`: no label, so `disabled`).
    Known(Status, Option<Label>),
    /// A value that is not one of the four (W1): a configuration error.
    Unknown(Label),
}

impl EffectiveStatus {
    /// I6, resolved per source first (W4 fix): within one source the non-blank bare
    /// key beats `.status`; a subscription's value beats any organization value, so a
    /// subscription `.status=disabled` can opt a cluster out of an organization-wide
    /// bare `sre-capabilities.rhidp=enabled`.
    pub fn resolve(
        organization: &BTreeMap<String, String>,
        subscription: &BTreeMap<String, String>,
    ) -> EffectiveStatus {
        let per_source = |map: &BTreeMap<String, String>, source: Source| {
            let status_key = key(STATUS);
            [NAMESPACE, status_key.as_str()].into_iter().find_map(|k| {
                let value = map.get(k)?.trim();
                (!value.is_empty()).then(|| Label {
                    key: k.to_owned(),
                    value: value.to_owned(),
                    source,
                })
            })
        };
        let label = per_source(subscription, Source::Subscription)
            .or_else(|| per_source(organization, Source::Organization));
        match label {
            None => EffectiveStatus::Known(Status::Disabled, None),
            Some(label) => match Status::parse(&label.value) {
                Some(status) => EffectiveStatus::Known(status, Some(label)),
                None => EffectiveStatus::Unknown(label),
            },
        }
    }
}

/// Rewrite and check an auth name (I8): spaces become `-`, then
/// `^[A-Za-z0-9_-]{1,63}$`.
pub fn auth_name(raw: &str) -> Result<String, String> {
    let name = raw.replace(' ', "-");
    if name.is_empty() || name.chars().count() > MAX_AUTH_NAME_LEN {
        return Err(format!(
            "must be 1 to {MAX_AUTH_NAME_LEN} characters long, got {}",
            name.chars().count()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "may contain only letters, digits, `_` and `-` (spaces become `-`), found {bad:?}"
        ));
    }
    Ok(name)
}

/// Check a group-filter regex (I10 PROPOSAL). The dialect is the realm's (Java), so
/// it is not compiled here: only the length and control characters are checked.
pub fn group_filter(raw: &str) -> Result<(), String> {
    if raw.chars().count() > MAX_REGEX_LEN {
        return Err(format!(
            "must be at most {MAX_REGEX_LEN} characters long, got {}",
            raw.chars().count()
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

/// Parse the `enforced` allow-list (W9 PROPOSAL): comma-separated provider
/// names, each trimmed and checked as an auth name (I8: spaces become `-`),
/// since a provider OCM accepted has such a name; sorted, without duplicates.
/// An empty item (`a,,b`, a trailing comma) is an error rather than ignored:
/// the label guards providers against deletion, so a value that may not say
/// what its author meant is refused whole.
pub fn keep_idps(raw: &str) -> Result<Vec<String>, String> {
    let mut names = std::collections::BTreeSet::new();
    for item in raw.split(',') {
        let item = item.trim();
        if item.is_empty() {
            return Err(
                "has an empty name; list identity-provider names separated by commas, such as htpasswd,break-glass"
                    .to_owned(),
            );
        }
        let name = auth_name(item).map_err(|reason| format!("name {item:?} {reason}"))?;
        names.insert(name);
    }
    Ok(names.into_iter().collect())
}

/// Check an issuer against the configured instances (I9 PROPOSAL).
pub fn issuer<'a>(raw: &str, configured: impl IntoIterator<Item = &'a str>) -> Result<(), String> {
    let configured: Vec<&str> = configured.into_iter().collect();
    if !raw.starts_with("https://") {
        return Err("must start with https://".to_owned());
    }
    if !configured.contains(&raw) {
        return Err(format!(
            "is not a configured Keycloak instance; use one of: {}",
            configured.join(", ")
        ));
    }
    Ok(())
}

/// Validate one label before the CLI writes it, with the same checks the planner
/// applies. `issuers` are the configured Keycloak instances; an empty value is
/// always accepted (it means "absent").
pub fn validate<'a>(
    key: &str,
    value: &str,
    issuers: impl IntoIterator<Item = &'a str>,
) -> Result<(), LabelError> {
    let err = |reason: String| LabelError {
        key: key.to_owned(),
        reason,
    };
    let value = value.trim();
    if key == NAMESPACE {
        return check_status(value).map_err(err);
    }
    LABELS.validate(key, value)?;
    if value.is_empty() {
        return Ok(());
    }
    match key.strip_prefix(&LABELS.prefix()) {
        Some(STATUS) => check_status(value),
        Some(NAME) => auth_name(value).map(drop),
        Some(ISSUER) => issuer(value, issuers),
        Some(GROUP_FILTER_REGEX) => group_filter(value),
        Some(KEEP_IDPS) => keep_idps(value).map(drop),
        _ => Ok(()),
    }
    .map_err(err)
}

fn check_status(value: &str) -> Result<(), String> {
    if value.is_empty() || Status::parse(value).is_some() {
        Ok(())
    } else {
        Err(unknown_status_reason())
    }
}

pub(crate) fn unknown_status_reason() -> String {
    "unknown status; use one of enabled, enforced, sso-client-only, disabled (case-sensitive)"
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn status(org: &[(&str, &str)], sub: &[(&str, &str)]) -> Result<Status, String> {
        match EffectiveStatus::resolve(&map(org), &map(sub)) {
            EffectiveStatus::Known(s, _) => Ok(s),
            EffectiveStatus::Unknown(l) => Err(l.value),
        }
    }

    #[test]
    fn i5_subscription_overlays_organization_key_by_key() {
        let eff = EffectiveLabels::merge(
            &map(&[
                ("sre-capabilities.rhidp.status", "enabled"),
                ("sre-capabilities.rhidp.name", "org-name"),
                ("sre-capabilities.aus.soak-days", "1"),
            ]),
            &map(&[
                ("sre-capabilities.rhidp.name", "sub-name"),
                ("sre-capabilities.rhidpx", "ignored"),
            ]),
        );
        assert_eq!(eff.setting(STATUS).unwrap().value, "enabled");
        assert_eq!(eff.setting(STATUS).unwrap().source, Source::Organization);
        assert_eq!(eff.setting(NAME).unwrap().value, "sub-name");
        assert_eq!(eff.iter().count(), 2);
    }

    #[test]
    fn i6_bare_key_wins_and_empty_is_absent() {
        let bare = "sre-capabilities.rhidp";
        let dotted = "sre-capabilities.rhidp.status";
        assert_eq!(status(&[], &[]), Ok(Status::Disabled));
        assert_eq!(
            status(&[], &[(bare, "enabled"), (dotted, "disabled")]),
            Ok(Status::Enabled)
        );
        assert_eq!(
            status(&[], &[(bare, ""), (dotted, "enforced")]),
            Ok(Status::Enforced)
        );
        assert_eq!(status(&[], &[(dotted, "")]), Ok(Status::Disabled));
        assert_eq!(status(&[(dotted, "enabled")], &[]), Ok(Status::Enabled));
    }

    #[test]
    fn w4_subscription_status_beats_organization_bare_key() {
        assert_eq!(
            status(
                &[("sre-capabilities.rhidp", "enabled")],
                &[("sre-capabilities.rhidp.status", "disabled")]
            ),
            Ok(Status::Disabled)
        );
    }

    #[test]
    fn i7_every_row_of_the_switch_table() {
        let row = |s: bool, i: bool, e: bool| Switches {
            sso_client: s,
            idp: i,
            enforced: e,
        };
        assert_eq!(Status::Enabled.switches(), row(true, true, false));
        assert_eq!(Status::Enforced.switches(), row(true, true, true));
        assert_eq!(Status::SsoClientOnly.switches(), row(true, false, false));
        assert_eq!(Status::Disabled.switches(), row(false, false, false));
        // Last row: any other string is a configuration error in srecap (W1).
        for other in ["Enabled", "disable", "true", "off"] {
            assert_eq!(
                status(&[], &[("sre-capabilities.rhidp.status", other)]),
                Err(other.to_owned())
            );
        }
    }

    #[test]
    fn i8_auth_name_rewrites_spaces_and_checks_the_pattern() {
        assert_eq!(auth_name("my sso").unwrap(), "my-sso");
        assert_eq!(auth_name("a_b-C9").unwrap(), "a_b-C9");
        assert!(auth_name("a/b").is_err());
        assert!(auth_name("é").is_err());
        assert!(auth_name(&"a".repeat(63)).is_ok());
        assert!(auth_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn i10_group_filter_limits() {
        assert!(group_filter("^ai-.*").is_ok());
        assert!(group_filter(&"a".repeat(255)).is_ok());
        assert!(group_filter(&"a".repeat(256)).is_err());
        assert!(group_filter("a\nb").is_err());
    }

    #[test]
    fn w9_keep_idps_is_a_list_of_provider_names() {
        assert_eq!(
            keep_idps(" htpasswd, break glass ,htpasswd").unwrap(),
            ["break-glass", "htpasswd"]
        );
        assert_eq!(keep_idps("cluster-admin").unwrap(), ["cluster-admin"]);
        assert!(keep_idps("a,,b").unwrap_err().contains("empty name"));
        assert!(keep_idps("a,").is_err());
        assert!(keep_idps("a/b").unwrap_err().contains("\"a/b\""));
        assert!(validate("sre-capabilities.rhidp.keep-idps", "htpasswd,ldap", []).is_ok());
        assert!(validate("sre-capabilities.rhidp.keep-idps", "a;b", []).is_err());
    }

    #[test]
    fn i11_unknown_keys_are_listed() {
        let eff = EffectiveLabels::merge(
            &map(&[]),
            &map(&[
                ("sre-capabilities.rhidp.statsu", "enabled"),
                ("sre-capabilities.rhidp", "enabled"),
                ("sre-capabilities.rhidp.name", "x"),
            ]),
        );
        let unknown: Vec<_> = eff.unknown_keys().map(|l| l.key.as_str()).collect();
        assert_eq!(unknown, ["sre-capabilities.rhidp.statsu"]);
    }

    /// The README's rhidp label table is generated from [`LABELS`]; keep it in
    /// sync (regenerate with the table this test prints on failure).
    #[test]
    fn readme_label_table_matches_the_declarations() {
        let readme = include_str!("../../../README.md");
        let table = LABELS.markdown_table();
        assert!(
            readme.contains(&table),
            "README.md lacks the rhidp label table:\n{table}"
        );
    }

    #[test]
    fn cli_validation_uses_the_planner_checks() {
        let issuers = ["https://auth.example.com/auth/realms/X"];
        assert!(validate("sre-capabilities.rhidp.status", "enforced", issuers).is_ok());
        assert!(validate("sre-capabilities.rhidp", "Enabled", issuers).is_err());
        assert!(validate("sre-capabilities.rhidp.name", "a b", issuers).is_ok());
        assert!(validate("sre-capabilities.rhidp.name", "a/b", issuers).is_err());
        assert!(
            validate(
                "sre-capabilities.rhidp.issuer",
                "https://auth.example.com/auth/realms/X",
                issuers
            )
            .is_ok()
        );
        let e = validate("sre-capabilities.rhidp.issuer", "http://x", issuers).unwrap_err();
        assert_eq!(
            e.to_string(),
            "label sre-capabilities.rhidp.issuer: must start with https://"
        );
        assert!(validate("sre-capabilities.rhidp.nope", "x", issuers).is_err());
    }
}
