//! `srecap rhidp …` as a user runs it: real processes against the simulator
//! over HTTP (127.0.0.1, port 0) and a real SQLite state file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use serde_json::Value;
use srecap_sim::{RunningSim, SimConfig, Simulator};
use srecap_store::{SealingKey, Store};

const ISSUER: &str = "https://auth.redhat.com/auth/realms/EmployeeIDP";
const REALM: &str = "EmployeeIDP";
const IAT: &str = "iat-0f3c9d2e-known-initial-access-token";
const PRE_SECRET: &str = "pre-secret-7d41c2b9e8";
const PRE_RAT: &str = "pre-rat-5a90e1f3c7";
const PRE_KEY: &str = "pre-org-a-redhat-sso-auth.redhat.com";

const SCENARIO: &str = "\
now: 2026-11-21T10:00:00Z
organizations:
- id: org-a
clusters:
- name: en
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: enabled}
- name: enf
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: enforced, sre-capabilities.rhidp.group-filter-regex: '^team-.*$'}
  identity_providers:
  - {id: gh-1, type: GithubIdentityProvider, name: github, mapping_method: claim}
- name: pre
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: enabled}
- name: off
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: disabled}
- name: typo
  organization: org-a
  version: 4.14.5
  labels: {sre-capabilities.rhidp.status: Enabeld}
- name: plain
  organization: org-a
  version: 4.14.5
sso:
  realms:
  - issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
    iat: {token: iat-0f3c9d2e-known-initial-access-token, expires: 2027-01-01T00:00:00Z, count: 1000}
    clients:
    - client_id: pre-org-a-redhat-sso-auth.redhat.com
      secret: pre-secret-7d41c2b9e8
      rat: pre-rat-5a90e1f3c7
      redirect_uris: [https://oauth-openshift.apps.pre.x.p1.openshiftapps.com/oauth2callback/redhat-sso]
secrets:
  rhidp/production:
    pre-org-a-redhat-sso-auth.redhat.com:
      client_id: pre-org-a-redhat-sso-auth.redhat.com
      client_name: pre-org-a-redhat-sso-auth.redhat.com
      client_secret: pre-secret-7d41c2b9e8
      registration_access_token: pre-rat-5a90e1f3c7
      redirect_uris: [https://oauth-openshift.apps.pre.x.p1.openshiftapps.com/oauth2callback/redhat-sso]
      registration_client_uri: https://auth.redhat.com/auth/realms/EmployeeIDP/clients-registrations/default/pre-org-a-redhat-sso-auth.redhat.com
      issuer: https://auth.redhat.com/auth/realms/EmployeeIDP
      attributes: {}
";

struct World {
    runtime: tokio::runtime::Runtime,
    sim: RunningSim,
    dir: tempfile::TempDir,
    key: SealingKey,
}

impl World {
    fn new(scenario: &str, latency: Duration) -> World {
        let fleet =
            srecap_fleet::parse_scenario(scenario, "rhidp.yaml", Timestamp::UNIX_EPOCH).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = SimConfig {
            latency,
            ..SimConfig::default()
        };
        let sim = runtime
            .block_on(srecap_sim::spawn(Simulator::new(fleet, config)))
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let key = SealingKey::generate();
        std::fs::write(dir.path().join("key"), key.to_base64().as_str()).unwrap();
        std::fs::write(dir.path().join("iat"), format!("{IAT}\n")).unwrap();
        std::fs::write(dir.path().join("rhidp.yaml"), scenario).unwrap();
        World {
            runtime,
            sim,
            dir,
            key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn state(&self) -> String {
        format!("sqlite:{}", self.path("state.db").display())
    }

    /// `srecap` with a clean environment: no OCM login, no key, info logs.
    fn srecap(&self) -> Command {
        let mut cmd = Command::cargo_bin("srecap").unwrap();
        cmd.env("HOME", self.dir.path())
            .env("COLUMNS", "200")
            .env("RUST_LOG", "trace")
            .env_remove("OCM_URL")
            .env_remove("OCM_CLIENT_ID")
            .env_remove("OCM_CLIENT_SECRET")
            .env_remove("SRECAP_STATE")
            .env_remove("SRECAP_SECRET_KEY")
            .env_remove("SRECAP_KEYCLOAK_IAT_EMPLOYEEIDP");
        cmd
    }

    fn ocm_args(&self) -> Vec<String> {
        vec![
            "--ocm-url".into(),
            self.sim.base_url(),
            "--token-url".into(),
            self.sim.token_url(),
            "--client-id".into(),
            "srecap-sim".into(),
            "--client-secret".into(),
            "srecap-sim".into(),
        ]
    }

    fn run_args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["rhidp".into(), "run".into(), "--once".into()];
        args.extend(self.ocm_args());
        args.extend([
            "--state".into(),
            self.state(),
            "--secret-key-file".into(),
            self.path("key").display().to_string(),
            "--keycloak".into(),
            ISSUER.into(),
            "--keycloak-iat-file".into(),
            format!("{ISSUER}={}", self.path("iat").display()),
            "--keycloak-url".into(),
            format!("{ISSUER}={}/auth/realms/{REALM}", self.sim.base_url()),
        ]);
        args
    }

    fn run_once(&self, extra: &[&str]) -> Output {
        self.srecap()
            .args(self.run_args())
            .args(extra)
            .output()
            .unwrap()
    }

    /// Put the scenario's pre-registered client record into the sealed store,
    /// as an adopted reference deployment would have it.
    fn seed_record(&self) {
        let record = serde_json::json!({
            "client_id": PRE_KEY, "client_name": PRE_KEY,
            "client_secret": PRE_SECRET, "registration_access_token": PRE_RAT,
            "redirect_uris": ["https://oauth-openshift.apps.pre.x.p1.openshiftapps.com/oauth2callback/redhat-sso"],
            "registration_client_uri": format!("{ISSUER}/clients-registrations/default/{PRE_KEY}"),
            "issuer": ISSUER, "attributes": {}
        });
        self.runtime.block_on(async {
            let store = Store::open(&self.state()).await.unwrap();
            store
                .secrets(self.key.clone())
                .put("rhidp/production", PRE_KEY, record.to_string().as_bytes())
                .await
                .unwrap();
        });
    }

    /// The sealed records: name → record JSON.
    fn records(&self) -> BTreeMap<String, Value> {
        self.runtime.block_on(async {
            let store = Store::open(&self.state()).await.unwrap();
            let secrets = store.secrets(self.key.clone());
            let mut out = BTreeMap::new();
            for name in secrets.list("rhidp/production").await.unwrap() {
                let plain = secrets
                    .get("rhidp/production", &name)
                    .await
                    .unwrap()
                    .unwrap();
                out.insert(name, serde_json::from_slice(&plain).unwrap());
            }
            out
        })
    }

    fn cluster_id(&self, name: &str) -> String {
        let fleet = self.sim.sim.fleet();
        fleet
            .clusters
            .iter()
            .find(|c| c.name == name)
            .unwrap()
            .id
            .clone()
    }

    fn label(&self, cluster: &str, key: &str) -> Option<String> {
        let fleet = self.sim.sim.fleet();
        let c = fleet.clusters.iter().find(|c| c.name == cluster).unwrap();
        c.labels.get(key).cloned()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

fn cluster<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["cluster"] == name)
        .unwrap_or_else(|| panic!("{name} in {status}"))
}

#[test]
fn status_on_a_scenario_uses_the_planner_and_its_secrets_section() {
    let w = World::new(SCENARIO, Duration::ZERO);
    let out = w
        .srecap()
        .args(["rhidp", "status", "-s"])
        .arg(w.path("rhidp.yaml"))
        .args(["-o", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = json(&out);
    let en = cluster(&status, "en");
    assert_eq!(en["status"], "enabled");
    assert_eq!(en["auth_name"], "redhat-sso");
    assert_eq!(en["issuer"], ISSUER);
    assert_eq!(en["sso_client"], "en-org-a-redhat-sso-auth.redhat.com");
    assert_eq!(en["record"], "none");
    assert_eq!(en["identity_provider"], "absent");
    let pre = cluster(&status, "pre");
    assert_eq!(pre["record"], "registered", "from the scenario's secrets");
    let typo = cluster(&status, "typo");
    assert_eq!(typo["status"], "invalid");
    assert!(
        typo["problems"][0].as_str().unwrap().contains("Enabeld"),
        "{typo}"
    );
    assert!(typo["next_pass"].as_array().unwrap().is_empty());
    assert_eq!(cluster(&status, "off")["state"], "off");
    assert!(
        !status["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["cluster"] == "plain"),
        "no label, not discovered"
    );
    // Same decisions as the reconciler: create en's client and provider.
    assert!(
        en["next_pass"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"action_type": "create", "sso_client_id": "en-org-a-redhat-sso-auth.redhat.com", "cluster_name": "en", "auth_name": "redhat-sso"}))
    );

    let table = w
        .srecap()
        .args(["rhidp", "status", "-s"])
        .arg(w.path("rhidp.yaml"))
        .output()
        .unwrap();
    let table = text(&table.stdout);
    assert!(table.starts_with("Source: scenario "), "{table}");
    assert!(
        table.contains("en-org-a-redhat-sso-auth.redhat.com"),
        "{table}"
    );
}

/// A cluster in step with its record, as a scenario describes it: its
/// console URL gives the record's redirect URI and its OpenID provider refers
/// to the record's client. It is `enforced` and keeps a break-glass provider
/// (W9).
fn steady_scenario(provider_secret: &str) -> String {
    let head = SCENARIO.split("clusters:\n").next().unwrap();
    let tail = SCENARIO.split("sso:\n").nth(1).unwrap();
    format!(
        "{head}clusters:\n- name: pre\n  organization: org-a\n  version: 4.14.5\n  console_url: https://console-openshift-console.apps.pre.x.p1.openshiftapps.com\n  labels: {{sre-capabilities.rhidp.status: enforced, sre-capabilities.rhidp.keep-idps: break-glass}}\n  identity_providers:\n  - {{id: idp-1, type: OpenIDIdentityProvider, name: redhat-sso, mapping_method: add, client_id: {PRE_KEY}, {provider_secret}issuer: '{ISSUER}'}}\n  - {{id: ht-1, type: HTPasswdIdentityProvider, name: break-glass, mapping_method: claim}}\nsso:\n{tail}"
    )
}

/// `status --scenario` reads a scenario as a steady state: a provider that
/// refers to a record's client holds its secret, so nothing is planned; a
/// provider the scenario gives another secret is updated (W5).
#[test]
fn status_on_a_steady_scenario_plans_nothing() {
    let plan = |scenario: &str| {
        let w = World::new(scenario, Duration::ZERO);
        let out = w
            .srecap()
            .args(["rhidp", "status", "-s"])
            .arg(w.path("rhidp.yaml"))
            .args(["-o", "json"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let status = json(&out);
        let pre = cluster(&status, "pre");
        assert_eq!(pre["record"], "registered", "{pre}");
        assert_eq!(pre["identity_provider"], "present", "{pre}");
        assert_eq!(
            pre["kept_idps"],
            serde_json::json!(["break-glass"]),
            "{pre}"
        );
        pre["next_pass"].as_array().unwrap().clone()
    };
    assert_eq!(plan(&steady_scenario("")), Vec::<Value>::new());
    assert_eq!(
        plan(&steady_scenario("client_secret: pre-secret-7d41c2b9e8, ")),
        Vec::<Value>::new()
    );
    let stale = plan(&steady_scenario("client_secret: an-old-secret, "));
    assert_eq!(stale.len(), 1, "{stale:?}");
    assert_eq!(stale[0]["action_type"], "update", "{stale:?}");

    let w = World::new(&steady_scenario(""), Duration::ZERO);
    let out = w
        .srecap()
        .args(["rhidp", "status", "-s"])
        .arg(w.path("rhidp.yaml"))
        .output()
        .unwrap();
    let table = text(&out.stdout);
    assert!(
        table.contains("pre: enforced keeps break-glass (sre-capabilities.rhidp.keep-idps)"),
        "{table}"
    );
}

/// E22, the label bridge. The reference derives the rhidp labels from
/// app-interface's cluster auth settings; srecap has no app-interface, so
/// SREs write the labels with `srecap rhidp enable|disable` instead. The
/// mapping of E22's three clusters:
/// * cluster-1, app-interface `rhidp` named `whatever` without a status
///   (= enabled), no OCM labels: `enable --name whatever` adds `.status=enabled`
///   and `.name=whatever`, as the reference does.
/// * cluster-2, app-interface status `disabled`, OCM
///   {issuer, name, status=enabled}: `disable` patches `.status=disabled` and
///   leaves issuer and name, as the reference does.
/// * cluster-3, no rhidp auth in app-interface, OCM {name, status=enabled}:
///   the reference deletes `.status` and `.name`; srecap has no command that
///   removes them and `disable` is its way to take the capability off. It
///   writes `.status=disabled` and keeps `.name`, which ends in the same
///   place (no status reads as `disabled`, I57) but keeps naming the provider
///   the next pass removes (I51), which deleting `.name` would forget.
///
/// Labels outside the namespace (`do-not-touch`) are untouched in every case.
#[test]
fn e22_label_bridge_maps_to_enable_and_disable() {
    let scenario = "\
now: 2026-11-21T10:00:00Z
organizations:
- id: org-a
clusters:
- name: cluster-1
  organization: org-a
  version: 4.14.5
  labels: {do-not-touch: keep-me}
- name: cluster-2
  organization: org-a
  version: 4.14.5
  labels: {do-not-touch: keep-me, sre-capabilities.rhidp.issuer: 'https://example.com', sre-capabilities.rhidp.name: whatever, sre-capabilities.rhidp.status: enabled}
- name: cluster-3
  organization: org-a
  version: 4.14.5
  labels: {do-not-touch: keep-me, sre-capabilities.rhidp.name: whatever, sre-capabilities.rhidp.status: enabled}
";
    let w = World::new(scenario, Duration::ZERO);
    let switch = |args: &[&str]| {
        let out = w
            .srecap()
            .args(["rhidp"])
            .args(args)
            .args(w.ocm_args())
            .args(["--org", "org-a"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    };
    let labels = |cluster: &str| -> BTreeMap<String, String> {
        let fleet = w.sim.sim.fleet();
        fleet
            .clusters
            .iter()
            .find(|c| c.name == cluster)
            .unwrap()
            .labels
            .as_ref()
            .clone()
    };
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    switch(&["enable", "--cluster", "cluster-1", "--name", "whatever"]);
    switch(&["disable", "--cluster", "cluster-2"]);
    switch(&["disable", "--cluster", "cluster-3"]);
    assert_eq!(
        labels("cluster-1"),
        map(&[
            ("do-not-touch", "keep-me"),
            ("sre-capabilities.rhidp.name", "whatever"),
            ("sre-capabilities.rhidp.status", "enabled"),
        ])
    );
    assert_eq!(
        labels("cluster-2"),
        map(&[
            ("do-not-touch", "keep-me"),
            ("sre-capabilities.rhidp.issuer", "https://example.com"),
            ("sre-capabilities.rhidp.name", "whatever"),
            ("sre-capabilities.rhidp.status", "disabled"),
        ])
    );
    assert_eq!(
        labels("cluster-3"),
        map(&[
            ("do-not-touch", "keep-me"),
            ("sre-capabilities.rhidp.name", "whatever"),
            ("sre-capabilities.rhidp.status", "disabled"),
        ])
    );
}

#[test]
fn enable_enforce_disable_write_labels_and_refuse_bad_input() {
    let w = World::new(SCENARIO, Duration::ZERO);
    let status_key = "sre-capabilities.rhidp.status";
    let switch = |args: &[&str]| {
        w.srecap()
            .args(["rhidp"])
            .args(args)
            .args(w.ocm_args())
            .args(["--org", "org-a"])
            .output()
            .unwrap()
    };
    // Dry run: the diff, nothing written.
    let out = switch(&[
        "enable",
        "--cluster",
        "plain",
        "--name",
        "corp sso",
        "--dry-run",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let diff = text(&out.stdout);
    assert!(
        diff.contains("+ sre-capabilities.rhidp.status = 'enabled'"),
        "{diff}"
    );
    assert!(
        diff.contains("+ sre-capabilities.rhidp.name = 'corp sso'"),
        "{diff}"
    );
    assert!(diff.contains("dry run"), "{diff}");
    assert_eq!(w.label("plain", status_key), None);

    let out = switch(&["enable", "--cluster", "plain", "--group-filter", "^ai-.*"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.label("plain", status_key).as_deref(), Some("enabled"));
    assert_eq!(
        w.label("plain", "sre-capabilities.rhidp.group-filter-regex")
            .as_deref(),
        Some("^ai-.*")
    );
    let out = switch(&["enforce", "--cluster", "plain"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(w.label("plain", status_key).as_deref(), Some("enforced"));
    // W9: the allow-list, written as given.
    let keep_key = "sre-capabilities.rhidp.keep-idps";
    let out = switch(&[
        "enforce",
        "--cluster",
        "plain",
        "--keep-idps",
        "htpasswd,break-glass",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        w.label("plain", keep_key).as_deref(),
        Some("htpasswd,break-glass")
    );
    let out = switch(&["enforce", "--cluster", "plain", "--keep-idps", "a/b"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--keep-idps: label sre-capabilities.rhidp.keep-idps"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        w.label("plain", keep_key).as_deref(),
        Some("htpasswd,break-glass")
    );
    let out = switch(&["disable", "--cluster", "plain", "-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(json(&out)["changes"][0]["changes"][0]["new"], "disabled");
    assert_eq!(w.label("plain", status_key).as_deref(), Some("disabled"));

    // Bad values: exit 2 naming the flag, the label and the reason; nothing written.
    for (args, label, reason) in [
        (
            vec![
                "enable",
                "--cluster",
                "plain",
                "--issuer",
                "http://sso.example.com",
            ],
            "sre-capabilities.rhidp.issuer",
            "https://",
        ),
        (
            vec![
                "enable",
                "--cluster",
                "plain",
                "--issuer",
                "https://other.example.com/auth/realms/X",
            ],
            "sre-capabilities.rhidp.issuer",
            "not a configured Keycloak instance",
        ),
        (
            vec!["enforce", "--cluster", "plain", "--name", "a/b"],
            "sre-capabilities.rhidp.name",
            "letters, digits",
        ),
        (
            vec!["enable", "--cluster", "plain", "--group-filter", "a\u{7}b"],
            "sre-capabilities.rhidp.group-filter-regex",
            "control characters",
        ),
    ] {
        let out = switch(&args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let err = text(&out.stderr);
        assert!(
            err.contains(label) && err.contains(reason),
            "{args:?}: {err}"
        );
        assert!(err.contains("nothing was written"), "{err}");
    }
    assert_eq!(w.label("plain", status_key).as_deref(), Some("disabled"));
    let out = switch(&["enable", "--cluster", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn run_once_end_to_end_and_status_live() {
    let w = World::new(SCENARIO, Duration::ZERO);
    w.seed_record();
    // Missing sealing key: refused at start-up, nothing touched.
    let mut args = w.run_args();
    let at = args.iter().position(|a| a == "--secret-key-file").unwrap();
    args.drain(at..at + 2);
    let out = w.srecap().args(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("SRECAP_SECRET_KEY"),
        "{}",
        text(&out.stderr)
    );
    assert!(w.sim.sim.sso_clients(REALM).unwrap().len() == 1);

    let out = w.run_once(&["-o", "json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let report = json(&out);
    let actions = report["execution"]["actions"].as_array().unwrap();
    assert!(!actions.is_empty());
    assert!(
        actions.iter().all(|a| a["outcome"] == "done"),
        "{actions:#?}"
    );
    let clients: BTreeSet<String> = w
        .sim
        .sim
        .sso_clients(REALM)
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(
        clients,
        BTreeSet::from([
            "en-org-a-redhat-sso-auth.redhat.com".to_owned(),
            "enf-org-a-redhat-sso-auth.redhat.com".to_owned(),
            PRE_KEY.to_owned(),
        ])
    );
    let records = w.records();
    assert_eq!(records.len(), 3);
    // The enforced cluster lost GitHub once the Red Hat IdP worked.
    let enf: Vec<String> = w
        .sim
        .sim
        .identity_providers(&w.cluster_id("enf"))
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(enf, ["redhat-sso"]);
    // The adopted client's provider holds its secret.
    let pre = w.sim.sim.identity_providers(&w.cluster_id("pre"));
    assert_eq!(
        w.sim
            .sim
            .identity_provider_secret(&w.cluster_id("pre"), &pre[0].id)
            .as_deref(),
        Some(PRE_SECRET)
    );

    // Second pass: nothing to do; the table says so.
    let out = w.run_once(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Nothing to do."),
        "{}",
        text(&out.stdout)
    );

    // Live status with the store: every record is registered, every provider present.
    let out = w
        .srecap()
        .args(["rhidp", "status", "-o", "json"])
        .args(w.ocm_args())
        .args(["--state", &w.state(), "--secret-key-file"])
        .arg(w.path("key"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let status = json(&out);
    assert!(
        status["source"]
            .as_str()
            .unwrap()
            .starts_with("OCM http://127.0.0.1")
    );
    for name in ["en", "enf", "pre"] {
        let c = cluster(&status, name);
        assert_eq!(c["record"], "registered", "{c}");
        assert_eq!(c["identity_provider"], "present", "{c}");
        assert!(c["next_pass"].as_array().unwrap().is_empty(), "{c}");
    }
    // Without the store the records are unknown, not "none".
    let out = w
        .srecap()
        .args(["rhidp", "status"])
        .args(w.ocm_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(table.starts_with("Source: OCM http://127.0.0.1"), "{table}");
    assert!(table.contains("unknown"), "{table}");

    // A failing action: exit 1 and the failure in the output.
    w.sim.sim.write(|world, _| {
        let sub = world
            .clusters
            .iter()
            .find(|c| c.cluster.name == "off")
            .unwrap()
            .subscription_id
            .clone();
        world
            .update_label(
                &srecap_sim::world::LabelOwner::Subscription(sub),
                "sre-capabilities.rhidp.status",
                "enabled",
            )
            .unwrap();
    });
    std::fs::write(w.path("iat"), "not-a-valid-token\n").unwrap();
    let out = w.run_once(&["-o", "yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("failed"),
        "{}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stderr).contains("the rhidp pass failed"),
        "{}",
        text(&out.stderr)
    );
}

/// I72: known secrets (the IAT, the sealing key, pre-registered and newly
/// registered client secrets and RATs) appear in no output and no log of any
/// rhidp command, with debug logs on.
#[test]
fn no_command_prints_or_logs_a_secret() {
    let w = World::new(SCENARIO, Duration::ZERO);
    w.seed_record();
    let mut outputs: Vec<(String, Output)> = Vec::new();
    let key_file = w.path("key").display().to_string();
    let scenario = w.path("rhidp.yaml").display().to_string();
    for format in ["table", "json", "yaml"] {
        outputs.push((format!("run {format}"), w.run_once(&["-o", format])));
        outputs.push((
            format!("run dry {format}"),
            w.run_once(&["--dry-run", "-o", format]),
        ));
        let mut status = w.srecap();
        status
            .args(["rhidp", "status", "-o", format])
            .args(w.ocm_args())
            .args(["--state", &w.state(), "--secret-key-file", &key_file]);
        outputs.push((format!("status live {format}"), status.output().unwrap()));
        let mut status = w.srecap();
        status.args(["rhidp", "status", "-o", format, "-s", &scenario]);
        outputs.push((
            format!("status scenario {format}"),
            status.output().unwrap(),
        ));
    }
    for (name, args) in [
        ("enable", vec!["enable", "--cluster", "plain", "--dry-run"]),
        (
            "enforce",
            vec!["enforce", "--cluster", "plain", "--name", "x"],
        ),
        ("disable", vec!["disable", "--cluster", "plain"]),
    ] {
        let out = w
            .srecap()
            .arg("rhidp")
            .args(args)
            .args(w.ocm_args())
            .output()
            .unwrap();
        outputs.push((name.to_owned(), out));
    }
    // The IAT from the environment instead of a file, and a bad key file.
    let mut args = w.run_args();
    let at = args
        .iter()
        .position(|a| a == "--keycloak-iat-file")
        .unwrap();
    args.drain(at..at + 2);
    let out = w
        .srecap()
        .args(&args)
        .env("SRECAP_KEYCLOAK_IAT_EMPLOYEEIDP", IAT)
        .output()
        .unwrap();
    outputs.push(("run iat from env".to_owned(), out));
    std::fs::write(w.path("bad-key"), "c2hvcnQ=").unwrap();
    let out = w
        .srecap()
        .args(w.run_args())
        .args(["--secret-key-file"])
        .arg(w.path("bad-key"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    outputs.push(("bad key".to_owned(), out));

    let mut secrets: Vec<String> = vec![
        IAT.to_owned(),
        w.key.to_base64().to_string(),
        PRE_SECRET.to_owned(),
        PRE_RAT.to_owned(),
    ];
    for c in w.sim.sim.sso_clients(REALM).unwrap() {
        secrets.push(c.secret);
        secrets.push(c.rat);
    }
    assert!(secrets.len() >= 8, "clients were registered");
    for (name, out) in &outputs {
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(!all.is_empty(), "{name} printed something");
        for s in &secrets {
            assert!(!all.contains(s.as_str()), "{name} leaks a secret:\n{all}");
        }
    }
}

/// A tiny deterministic generator (xorshift64*), so the kill points repeat.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn crash_scenario() -> String {
    let mut s = String::from("now: 2026-11-21T10:00:00Z\norganizations:\n- id: org-a\nclusters:\n");
    for i in 0..6 {
        let _ = write!(
            s,
            "- name: c{i}\n  organization: org-a\n  version: 4.14.5\n  labels: {{sre-capabilities.rhidp.status: enabled}}\n"
        );
        if i % 2 == 0 {
            s.push_str("  identity_providers:\n  - {id: gh, type: GithubIdentityProvider, name: github, mapping_method: claim}\n");
        }
    }
    let _ = write!(
        s,
        "sso:\n  realms:\n  - issuer: {ISSUER}\n    iat: {{token: {IAT}, expires: 2027-01-01T00:00:00Z, count: 10000}}\n"
    );
    s
}

/// I41: SIGKILL `rhidp run --once` at 30 seeded random points while clusters
/// are switched on and off, then let a pass finish: every realm client has a
/// record (a pending one marks a client whose secret a kill lost, and the pass
/// reports it as orphaned), every registered record has its realm client, and
/// no cluster has two Red Hat providers.
#[test]
fn killed_passes_leave_no_unrecorded_client_and_no_duplicate_provider() {
    let w = World::new(&crash_scenario(), Duration::from_millis(30));
    let mut rng = Rng(0x5eed_1d9c_0ffe_e017);
    let subs: Vec<String> = w.sim.sim.read(|world| {
        world
            .clusters
            .iter()
            .map(|c| c.subscription_id.clone())
            .collect()
    });
    let started = std::time::Instant::now();
    // Kills should land after discovery, among the actions: time a dry run
    // (start-up and discovery) and kill around its end.
    let t = std::time::Instant::now();
    let dry = w.run_once(&["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry.stderr));
    let discovery = u64::try_from(t.elapsed().as_millis()).unwrap();
    let mut kills = 0;
    for _ in 0..30 {
        // Switch a cluster so every pass has work to be interrupted in.
        let sub = subs[usize::try_from(rng.below(subs.len() as u64)).unwrap()].clone();
        w.sim.sim.write(|world, _| {
            let owner = srecap_sim::world::LabelOwner::Subscription(sub);
            let key = "sre-capabilities.rhidp.status";
            let value = if world.label(&owner, key).unwrap().value == "enabled" {
                "disabled"
            } else {
                "enabled"
            };
            world.update_label(&owner, key, value).unwrap();
        });
        let mut child = w
            .srecap()
            .args(w.run_args())
            .args(["-o", "json"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(
            discovery * 3 / 4 + rng.below(discovery * 3 / 4 + 100),
        ));
        if child.try_wait().unwrap().is_none() {
            kills += 1;
        }
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
    }
    assert!(
        kills >= 15,
        "most runs were killed mid-pass ({kills}, discovery {discovery} ms)"
    );
    // Then passes to completion (the first may re-register clients of pending
    // records; the second must find nothing left but detected orphans).
    let mut last = None;
    for _ in 0..2 {
        last = Some(w.run_once(&["-o", "json"]));
    }
    let out = last.unwrap();
    let report = json(&out);
    let orphans: BTreeSet<String> = report["execution"]["orphaned_clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();

    let clients: BTreeSet<String> = w
        .sim
        .sim
        .sso_clients(REALM)
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    let records = w.records();
    let fleet = w.sim.sim.fleet();
    for c in &clients {
        // A client whose registration a kill interrupted keeps its pending
        // record until the realm confirms it is gone (I41).
        assert!(records.contains_key(c), "realm client {c} has no record");
    }
    for (name, record) in &records {
        if record["state"] == "pending" {
            assert!(
                orphans.contains(name) || !clients.contains(name),
                "a pending record {name} is reported"
            );
        } else {
            assert!(clients.contains(name), "record {name} has no realm client");
        }
    }
    if orphans.is_empty() {
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    for c in &fleet.clusters {
        let idps = w.sim.sim.identity_providers(&c.id);
        let names: Vec<&str> = idps.iter().map(|i| i.name.as_str()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "{}: {names:?}", c.name);
        let openid = idps
            .iter()
            .filter(|i| i.idp_type == "OpenIDIdentityProvider")
            .count();
        assert!(openid <= 1, "{}: {names:?}", c.name);
        let enabled = c
            .labels
            .get("sre-capabilities.rhidp.status")
            .map(String::as_str)
            == Some("enabled");
        let key = format!("{}-org-a-redhat-sso-auth.redhat.com", c.name);
        if enabled && !orphans.contains(&key) {
            assert_eq!(openid, 1, "{} has its provider: {names:?}", c.name);
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "{:?}",
        started.elapsed()
    );
}

/// Loop mode: a pass every interval, one info line per pass, a clean exit on
/// SIGTERM, and no secret in the log.
#[test]
fn the_loop_logs_one_line_per_pass_and_stops_on_sigterm() {
    let w = World::new(SCENARIO, Duration::ZERO);
    w.seed_record();
    let args: Vec<String> = w.run_args().into_iter().filter(|a| a != "--once").collect();
    let child = w
        .srecap()
        .args(&args)
        .args(["--interval", "300ms"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = text(&out.stderr);
    let passes = log
        .lines()
        .filter(|l| l.contains("pass finished") && l.contains("rhidp"))
        .count();
    assert!(passes >= 2, "{log}");
    assert!(log.contains("srecap rhidp run stopped"), "{log}");
    assert!(!log.contains(IAT) && !log.contains(PRE_SECRET), "{log}");
    assert_eq!(w.sim.sim.sso_clients(REALM).unwrap().len(), 3);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `srecap run --capability aus --capability rhidp`: one process, one store,
/// each capability its own loop and interval, one `/metrics` with both
/// capabilities' families (each once, one `# EOF`), `/readyz` ready only once
/// both loops passed, a clean exit on SIGTERM, and no secret in its output,
/// its logs (trace) or `/metrics` (I72).
#[test]
fn one_service_runs_aus_and_rhidp_behind_one_metrics_endpoint() {
    let w = World::new(SCENARIO, Duration::ZERO);
    w.seed_record();
    // A JWT initial access token with an expiry, as Keycloak issues them.
    let jwt = w.sim.sim.issue_iat(REALM, 30 * 86_400, 1000).unwrap();
    std::fs::write(w.path("iat"), format!("{}\n", jwt.token)).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    // `rhidp run --once`'s flags minus the subcommand and --once.
    let rhidp_flags: Vec<String> = w.run_args().into_iter().skip(3).collect();
    let child = w
        .srecap()
        .args(["run", "--capability", "aus", "--capability", "rhidp"])
        .args(["--interval", "1s", "--rhidp-interval", "700ms"])
        .args(["--metrics-listen", &listen])
        .args(&rhidp_flags)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let get = |path: &str, openmetrics: bool| {
        let client = reqwest::blocking::Client::new();
        let mut request = client.get(format!("http://{listen}{path}"));
        if openmetrics {
            request = request.header("Accept", "application/openmetrics-text; version=1.0.0");
        }
        request.send().map_or((0, String::new()), |r| {
            (r.status().as_u16(), r.text().unwrap_or_default())
        })
    };
    let started = std::time::Instant::now();
    let mut ready = get("/readyz", false);
    while ready.0 != 200 && started.elapsed() < Duration::from_mins(1) {
        std::thread::sleep(Duration::from_millis(200));
        ready = get("/readyz", false);
    }
    // Two rhidp passes at least, so the metrics hold a settled pass.
    std::thread::sleep(Duration::from_millis(1600));
    let (code, open) = get("/metrics", true);
    let (_, classic) = get("/metrics", false);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = text(&out.stderr);
    assert_eq!(ready.0, 200, "never ready: {}\n{log}", ready.1);
    assert!(out.status.success(), "{log}");
    assert_eq!(code, 200, "{open}");

    // Both capabilities' families, in one exposition.
    for sample in [
        "srecap_aus_pass_total{",
        "srecap_rhidp_pass_total{ocm_env=\"production\"}",
        "rhidp_managed_clusters{integration=\"rhidp-sso-client\",ocm_environment=\"production\",org_id=\"org-a\"}",
        "rhidp_sso_client_number_of_clients{",
        "rhidp_actions_total{",
        // I65: the token's expiry, labelled with where it was read from
        // (never the token), and Keycloak's requests.
        &format!(
            "rhidp_sso_client_inital_access_token_expiration{{integration=\"rhidp-sso-client\",ocm_environment=\"production\",path=\"{}\"}} {}",
            w.path("iat").display(),
            jwt.expires.as_second()
        ),
        "qontract_reconcile_external_api_keycloak_requests_total{method=\"clients.register\",verb=\"POST\"}",
    ] {
        assert!(
            open.lines().any(|l| l.starts_with(sample)),
            "{sample} missing:\n{open}"
        );
    }
    assert_eq!(open.matches("# EOF").count(), 1, "{open}");
    assert!(open.ends_with("# EOF\n"));
    let mut types = BTreeSet::new();
    for line in open.lines().filter(|l| l.starts_with("# TYPE ")) {
        assert!(types.insert(line), "family twice: {line}");
    }
    assert!(
        classic.contains("# TYPE srecap_rhidp_pass_total counter") && !classic.contains("# EOF"),
        "{classic}"
    );
    // The rhidp passes did their work; the good passes were not errors.
    assert!(!open.contains("srecap_rhidp_pass_errors_total{"), "{open}");
    assert_eq!(w.sim.sim.sso_clients(REALM).unwrap().len(), 3);
    for capability in ["aus", "rhidp"] {
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("srecap {capability} run started"))),
            "{capability}: {log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("srecap {capability} run stopped"))),
            "{capability}: {log}"
        );
    }

    let mut secrets: Vec<String> = vec![
        jwt.token.clone(),
        w.key.to_base64().to_string(),
        PRE_SECRET.to_owned(),
        PRE_RAT.to_owned(),
    ];
    for c in w.sim.sim.sso_clients(REALM).unwrap() {
        secrets.push(c.secret);
        secrets.push(c.rat);
    }
    let all = format!("{}{log}{open}{classic}", text(&out.stdout));
    for s in &secrets {
        assert!(!all.contains(s.as_str()), "a secret leaked:\n{all}");
    }
}

/// The configuration file's `rhidp:` section and registry drive `srecap run
/// --capability rhidp`: realms and token files from the file, an organization
/// the registry lists with `disabled: [rhidp]` is left alone, a listed one is
/// served; realm flags contradicting the section are refused (exit 2).
#[test]
fn the_configuration_file_configures_realms_and_the_registry_selects_organizations() {
    let w = World::new(SCENARIO, Duration::ZERO);
    w.seed_record();
    let config = |disabled: &str| {
        let text = format!(
            "environments:
  - name: production
    ocmUrl: {ocm}
    tokenUrl: {token}
    clientId: srecap-sim
    clientSecretEnv: SIM_CLIENT_SECRET
    organizations:
      - id: org-a
        disabled: [{disabled}]
rhidp:
  keycloakInstances:
    - issuer: {ISSUER}
      url: {ocm}/auth/realms/{REALM}
      iatFile: {iat}
",
            ocm = w.sim.base_url(),
            token = w.sim.token_url(),
            iat = w.path("iat").display(),
        );
        std::fs::write(w.path("srecap.yaml"), text).unwrap();
    };
    let run = |extra: &[&str]| {
        w.srecap()
            .args(["run", "--capability", "rhidp", "--once", "--config"])
            .arg(w.path("srecap.yaml"))
            .args(["--state", &w.state(), "--secret-key-file"])
            .arg(w.path("key"))
            .args(extra)
            .env("SIM_CLIENT_SECRET", "srecap-sim")
            .output()
            .unwrap()
    };
    // org-a switched rhidp off: nothing new, and the adopted client goes, as
    // for an organization that leaves the allowlist (I57: treated as disabled).
    config("rhidp");
    let out = run(&[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains(&format!("delete SSO client {PRE_KEY}")) && !table.contains("create"),
        "{table}"
    );
    assert!(w.sim.sim.sso_clients(REALM).unwrap().is_empty());

    config("advanced-upgrade-scheduler");
    let out = run(&["-o", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let reports = json(&out);
    assert_eq!(reports.as_array().unwrap().len(), 1, "{reports}");
    assert_eq!(w.sim.sim.sso_clients(REALM).unwrap().len(), 3);

    let out = run(&["--keycloak", ISSUER]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--keycloak contradicts the rhidp section"),
        "{}",
        text(&out.stderr)
    );
}
