//! `srecap rhidp enable|enforce|disable --cluster C`: one cluster's rhidp
//! subscription labels, written like `aus policy apply` writes AUS labels
//! (read, edit a copy, print the label diff, write unless `--dry-run`).
//!
//! Every value is checked with `srecap_rhidp::labels::validate`, the checks the
//! planner applies, before OCM is contacted: a value the reconciler would
//! freeze the cluster for is refused (exit 2) naming the flag, the label and
//! the reason.

use clap::Args;
use srecap_rhidp::labels::{
    self, GROUP_FILTER_REGEX, ISSUER, KEEP_IDPS, NAME, NAMESPACE, STATUS, Status,
};

use super::RealmArgs;
use crate::Failure;
use crate::configuration::{self, Common};

#[derive(Debug, Args)]
pub struct SwitchOffArgs {
    #[command(flatten)]
    pub common: Common,
    /// Cluster name, cluster id, external id (UUID) or subscription id.
    #[arg(long, value_name = "NAME")]
    pub cluster: String,
    /// Show the label diff and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SwitchOnArgs {
    #[command(flatten)]
    pub target: SwitchOffArgs,
    /// Identity-provider name: the login button and the callback path (letters,
    /// digits, `_`, `-`; spaces become `-`). Default: the operator's default.
    #[arg(long, value_name = "N")]
    pub name: Option<String>,
    /// OIDC issuer URL: one of the configured Keycloak realms (--keycloak).
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Emit the user's Red Hat groups matching this regular expression as
    /// OpenShift groups.
    #[arg(long, value_name = "RE")]
    pub group_filter: Option<String>,
    #[command(flatten)]
    pub realms: RealmArgs,
}

#[derive(Debug, Args)]
pub struct EnforceArgs {
    #[command(flatten)]
    pub on: SwitchOnArgs,
    /// Identity providers to keep besides the Red Hat IdP, comma-separated
    /// (break-glass htpasswd, …): label `.keep-idps`. Default: the label
    /// stays as it is.
    #[arg(long, value_name = "NAME,NAME")]
    pub keep_idps: Option<String>,
}

/// The labels to set, each checked (no I/O). Errors name flag, label and reason.
fn labels_to_set(
    status: Status,
    settings: &[(&str, &str, Option<&String>)],
    issuers: &[String],
) -> Result<Vec<(String, String)>, Failure> {
    let mut out = vec![(labels::key(STATUS), status.as_str().to_owned())];
    let mut errors = Vec::new();
    for (flag, setting, value) in settings {
        let Some(value) = value else { continue };
        let key = labels::key(setting);
        match labels::validate(&key, value, issuers.iter().map(String::as_str)) {
            Ok(()) if value.trim().is_empty() => {
                errors.push(format!("{flag}: label {key}: must not be empty"));
            }
            Ok(()) => out.push((key, value.trim().to_owned())),
            Err(e) => errors.push(format!("{flag}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Failure::input(anyhow::anyhow!(
            "invalid Red Hat IdP settings:\n  {}\nnothing was written",
            errors.join("\n  ")
        )))
    }
}

pub fn switch_on(args: &SwitchOnArgs, status: Status) -> Result<(), Failure> {
    switch_on_with(args, status, &[])
}

pub fn enforce(args: &EnforceArgs) -> Result<(), Failure> {
    switch_on_with(
        &args.on,
        Status::Enforced,
        &[("--keep-idps", KEEP_IDPS, args.keep_idps.as_ref())],
    )
}

fn switch_on_with(
    args: &SwitchOnArgs,
    status: Status,
    extra: &[(&str, &str, Option<&String>)],
) -> Result<(), Failure> {
    let issuers = args.realms.issuers(&[]);
    let mut settings = vec![
        ("--name", NAME, args.name.as_ref()),
        ("--issuer", ISSUER, args.issuer.as_ref()),
        (
            "--group-filter",
            GROUP_FILTER_REGEX,
            args.group_filter.as_ref(),
        ),
    ];
    settings.extend_from_slice(extra);
    let set = labels_to_set(status, &settings, &issuers)?;
    write(&args.target, &set)
}

pub fn switch_off(args: &SwitchOffArgs) -> Result<(), Failure> {
    let set = labels_to_set(Status::Disabled, &[], &[])?;
    write(args, &set)
}

/// Set `set` on the cluster's subscription. The deprecated bare key
/// `sre-capabilities.rhidp` goes: on the same subscription it would win over
/// the `.status` written here (I6), so the command would not do what it says.
fn write(target: &SwitchOffArgs, set: &[(String, String)]) -> Result<(), Failure> {
    let common = &target.common;
    configuration::with_client(common, async |client| {
        let org = configuration::org_id(client, common.org.as_deref()).await?;
        let before = configuration::load_cluster(client, &org, &target.cluster).await?;
        let i = before
            .find_cluster(&target.cluster)
            .map_err(|e| Failure::input(anyhow::anyhow!(e)))?;
        let mut after = before.clone();
        let cluster_labels = &mut after.clusters[i].labels;
        cluster_labels.remove(NAMESPACE);
        for (key, value) in set {
            cluster_labels.insert(key.clone(), value.clone());
        }
        configuration::commit(client, &before, &after, target.dry_run, common.output()).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked_before_any_request() {
        let issuers = vec!["https://sso.example.com/auth/realms/R".to_owned()];
        let name = "a/b".to_owned();
        let err = labels_to_set(Status::Enabled, &[("--name", NAME, Some(&name))], &issuers)
            .err()
            .unwrap();
        assert_eq!(err.code, 2);
        let text = err.error.to_string();
        assert!(
            text.contains("--name: label sre-capabilities.rhidp.name"),
            "{text}"
        );
        let keep = "htpasswd,,x".to_owned();
        let err = labels_to_set(
            Status::Enforced,
            &[("--keep-idps", KEEP_IDPS, Some(&keep))],
            &issuers,
        )
        .err()
        .unwrap();
        assert!(
            err.error
                .to_string()
                .contains("--keep-idps: label sre-capabilities.rhidp.keep-idps"),
            "{}",
            err.error
        );
        let ok = "my sso".to_owned();
        let set = labels_to_set(Status::Enforced, &[("--name", NAME, Some(&ok))], &issuers)
            .ok()
            .unwrap();
        assert_eq!(
            set,
            [
                (
                    "sre-capabilities.rhidp.status".to_owned(),
                    "enforced".to_owned()
                ),
                (
                    "sre-capabilities.rhidp.name".to_owned(),
                    "my sso".to_owned()
                ),
            ]
        );
    }
}
