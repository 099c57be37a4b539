//! srecap as a deployed service, tested with the tools its operators use:
//!
//! - OCM credentials that never need the command line (`--client-secret-file`,
//!   `OCM_CLIENT_ID`/`OCM_CLIENT_SECRET`), and no secret or URL password in any
//!   output, `--help` included;
//! - the `Containerfile` (hadolint), and an image built and run offline: buildah
//!   builds it `FROM scratch` out of the test binary, its shared libraries and the
//!   CA bundle, then runs `srecap --version` and one `aus run --once` pass against
//!   the simulator in it;
//! - `deploy/kubernetes/` (every overlay rendered by `kubectl kustomize`, checked
//!   against the Kubernetes schemas by `kubernetes-validate`, linted by `checkov`)
//!   and the `ArgoCD` `Application` in `deploy/argocd/`.
//!
//! `scripts/test` installs hadolint, kubernetes-validate, checkov and buildah; a
//! missing tool fails the test that needs it, it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt;
use jiff::Timestamp;
use serde_json::Value;
use srecap_sim::{RunningSim, SimConfig, Simulator};

/// The simulator's client secret in these tests: it must never be printed.
const SECRET: &str = "file-secret-5b1e0c9d";
/// The UID the images and manifests run as (distroless's `nonroot`).
const UID: u32 = 65532;
/// The port of /metrics, /healthz and /readyz in the image and the manifests.
const METRICS_PORT: u64 = 9090;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A program on `PATH`, or a failure that says how to get it.
fn tool(name: &str) -> Command {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()));
    assert!(
        found,
        "{name} is not on PATH: scripts/test installs it (the tests need it and never skip)"
    );
    Command::new(name)
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The embedded example fleet served by the simulator, accepting only `SECRET`.
struct Sim {
    runtime: tokio::runtime::Runtime,
    server: Option<RunningSim>,
    now: Timestamp,
}

impl Sim {
    fn start() -> Sim {
        let fleet =
            srecap_fleet::load_scenario(&repo().join("examples/fleet.yaml"), Timestamp::UNIX_EPOCH)
                .unwrap();
        let now = fleet.now;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let config = SimConfig {
            client_secret: SECRET.to_owned(),
            ..SimConfig::default()
        };
        let sim = runtime
            .block_on(srecap_sim::spawn(Simulator::new(fleet, config)))
            .unwrap();
        Sim {
            runtime,
            server: Some(sim),
            now,
        }
    }

    fn running(&self) -> &RunningSim {
        self.server
            .as_ref()
            .expect("the simulator runs until dropped")
    }

    /// The flags of a one-pass `aus run --once` against this simulator, without
    /// credentials and state store.
    fn run_once_args(&self) -> Vec<String> {
        let sim = self.running();
        [
            "aus",
            "run",
            "--once",
            "-o",
            "json",
            "--ocm-url",
            &sim.base_url(),
            "--token-url",
            &sim.token_url(),
            "--health-prometheus",
            &format!("{}/telemeter", sim.base_url()),
            "--now",
            &self.now.to_string(),
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(sim) = self.server.take() {
            let _ = self.runtime.block_on(sim.shutdown());
        }
    }
}

/// `srecap` with none of the caller's OCM or store settings.
fn srecap(home: &Path) -> Command {
    let mut cmd = Command::cargo_bin("srecap").unwrap();
    for var in [
        "OCM_URL",
        "OCM_CLIENT_ID",
        "OCM_CLIENT_SECRET",
        "OCM_CLIENT_SECRET_FILE",
        "OCM_OFFLINE_TOKEN",
        "OCM_TOKEN",
        "OCM_CONFIG",
        "SRECAP_STATE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("HOME", home);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The organizations of a pass's JSON plan, and how many actions it has.
fn plan_summary(stdout: &[u8]) -> (BTreeSet<String>, usize) {
    let plan: Value = serde_json::from_slice(stdout).expect("the pass prints its plan as JSON");
    let orgs = plan["organizations"].as_array().expect("organizations");
    let names = orgs
        .iter()
        .map(|o| o["org_id"].as_str().unwrap().to_owned())
        .collect();
    let actions = orgs
        .iter()
        .map(|o| o["actions"].as_array().map_or(0, Vec::len))
        .sum();
    (names, actions)
}

fn example_orgs() -> BTreeSet<String> {
    ["org-data", "org-payments", "org-platform"]
        .map(str::to_owned)
        .into()
}

// ---------------------------------------------------------------------------
// Credentials

#[test]
fn the_client_secret_comes_from_a_file_and_is_never_printed() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("client-secret");
    // As a Kubernetes Secret or `echo` writes it: with a final newline.
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();

    let out = srecap(dir.path())
        .args(sim.run_once_args())
        .args(["--state", "memory:", "--client-secret-file"])
        .arg(&secret_file)
        .env("OCM_CLIENT_ID", "srecap-sim")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (orgs, actions) = plan_summary(&out.stdout);
    assert_eq!(orgs, example_orgs());
    assert!(actions > 0, "the example fleet has upgrades to book");
    assert!(
        !text(&out).contains(SECRET),
        "the client secret was printed:\n{}",
        text(&out)
    );

    // The same through OCM_CLIENT_SECRET_FILE, with the id on the command line.
    let out = srecap(dir.path())
        .args(sim.run_once_args())
        .args([
            "--state",
            "memory:",
            "--dry-run",
            "--client-id",
            "srecap-sim",
        ])
        .env("OCM_CLIENT_SECRET_FILE", &secret_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(plan_summary(&out.stdout).0, example_orgs());

    // A wrong secret in the file is what reaches the token endpoint: refused, and
    // not printed either.
    let wrong = "wrong-secret-0c2f7a";
    std::fs::write(&secret_file, wrong).unwrap();
    let out = srecap(dir.path())
        .args(sim.run_once_args())
        .args(["--state", "memory:", "--client-secret-file"])
        .arg(&secret_file)
        .env("OCM_CLIENT_ID", "srecap-sim")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains(wrong), "{}", text(&out));

    // An empty or missing file is bad input (exit 2) that names the file.
    std::fs::write(&secret_file, "\n").unwrap();
    for file in [secret_file.clone(), dir.path().join("missing")] {
        let out = srecap(dir.path())
            .args(sim.run_once_args())
            .args(["--state", "memory:", "--client-secret-file"])
            .arg(&file)
            .env("OCM_CLIENT_ID", "srecap-sim")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(
            text(&out).contains(&file.display().to_string()),
            "{}",
            text(&out)
        );
    }
}

#[test]
fn the_client_secret_comes_from_the_environment() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    let out = srecap(dir.path())
        .args(sim.run_once_args())
        .args(["--state", "memory:", "--dry-run"])
        .env("OCM_CLIENT_ID", "srecap-sim")
        .env("OCM_CLIENT_SECRET", SECRET)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(plan_summary(&out.stdout).0, example_orgs());
    assert!(!text(&out).contains(SECRET), "{}", text(&out));
}

#[test]
fn help_names_the_environment_but_never_shows_its_values() {
    let dir = tempfile::tempdir().unwrap();
    for command in [
        &["aus", "run", "--help"][..],
        &["aus", "explain", "--help"],
        &["aus", "policy", "apply", "--help"],
    ] {
        let out = srecap(dir.path())
            .args(command)
            .env("OCM_CLIENT_ID", "the-client-id")
            .env("OCM_CLIENT_SECRET", SECRET)
            .env("OCM_URL", "https://user:url-password-1@api.example")
            .env(
                "SRECAP_STATE",
                "postgres://srecap:state-password-2@db/srecap",
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{command:?}: {}", text(&out));
        let help = text(&out);
        for leak in [SECRET, "url-password-1", "state-password-2"] {
            assert!(!help.contains(leak), "{command:?} shows {leak}:\n{help}");
        }
        for documented in ["--client-secret-file", "OCM_CLIENT_SECRET", "OCM_CLIENT_ID"] {
            assert!(
                help.contains(documented),
                "{command:?} does not mention {documented}:\n{help}"
            );
        }
    }
}

#[test]
fn a_password_in_the_state_url_is_never_printed() {
    let sim = Sim::start();
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on the loopback: nothing listens, whatever backend handles the URL.
    let out = srecap(dir.path())
        .args(sim.run_once_args())
        .args([
            "--state",
            "postgres://srecap:db-password-3@127.0.0.1:1/srecap",
        ])
        .env("OCM_CLIENT_ID", "srecap-sim")
        .env("OCM_CLIENT_SECRET", SECRET)
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
    let output = text(&out);
    assert!(!output.contains("db-password-3"), "{output}");
    assert!(
        output.contains("postgres://srecap:***@127.0.0.1:1/srecap"),
        "the error names the store, without its password:\n{output}"
    );
}

// ---------------------------------------------------------------------------
// Container image

#[test]
fn the_containerfile_is_hadolint_clean() {
    run(tool("hadolint").arg(repo().join("Containerfile")));
}

/// A private buildah storage in a temporary directory, removed with it.
struct Buildah {
    dir: tempfile::TempDir,
}

impl Buildah {
    fn new() -> Buildah {
        Buildah {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut cmd = tool("buildah");
        cmd.arg("--root")
            .arg(self.dir.path().join("root"))
            .arg("--runroot")
            .arg(self.dir.path().join("runroot"))
            .args(["--storage-driver", "vfs"]);
        cmd
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let _ = self.cmd().args(["rm", "--all"]).output();
        let _ = self.cmd().args(["rmi", "--all", "--force"]).output();
    }
}

/// Copy `from` to `root` + its absolute path.
fn copy_into(root: &Path, from: &Path) {
    let to = root.join(from.strip_prefix("/").unwrap());
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    std::fs::copy(from, &to).unwrap_or_else(|e| panic!("copying {}: {e}", from.display()));
}

/// The shared libraries and dynamic loader `ldd` lists for `binary`.
fn shared_libraries(binary: &Path) -> Vec<PathBuf> {
    let out = run(tool("ldd").arg(binary));
    let libraries: Vec<PathBuf> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
            // "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no file.
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    assert!(
        libraries
            .iter()
            .any(|l| l.to_string_lossy().contains("ld-linux")),
        "ldd names no dynamic loader: {libraries:?}"
    );
    libraries
}

#[test]
fn an_image_from_scratch_runs_srecap_as_non_root() {
    let buildah = Buildah::new();
    let context = tempfile::tempdir().unwrap();
    let rootfs = context.path().join("rootfs");
    let binary = Path::new(env!("CARGO_BIN_EXE_srecap"));
    // The image holds what the Containerfile's runtime stage holds: the binary
    // (here the test build, without its debug information), the libraries it
    // links and the CA bundle.
    let target = rootfs.join("usr/local/bin/srecap");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    run(tool("strip").arg("-o").arg(&target).arg(binary));
    for library in shared_libraries(binary) {
        copy_into(&rootfs, &library);
    }
    copy_into(&rootfs, Path::new("/etc/ssl/certs/ca-certificates.crt"));
    std::fs::write(
        context.path().join("Containerfile"),
        format!(
            "FROM scratch\n\
             COPY rootfs/ /\n\
             USER {UID}:{UID}\n\
             ENTRYPOINT [\"/usr/local/bin/srecap\"]\n"
        ),
    )
    .unwrap();
    let image = "localhost/srecap-test:deploy";
    run(buildah
        .cmd()
        .args(["bud", "--isolation", "chroot", "--quiet", "-t", image])
        .arg(context.path()));
    let inspect: Value = serde_json::from_slice(
        &run(buildah.cmd().args(["inspect", "--type", "image", image])).stdout,
    )
    .unwrap();
    assert_eq!(inspect["OCIv1"]["config"]["User"], format!("{UID}:{UID}"));

    let container = String::from_utf8(run(buildah.cmd().args(["from", image])).stdout)
        .unwrap()
        .trim()
        .to_owned();
    let out = run(buildah.cmd().args([
        "run",
        "--isolation",
        "chroot",
        &container,
        "--",
        "/usr/local/bin/srecap",
        "--version",
    ]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("srecap {}", env!("CARGO_PKG_VERSION"))
    );

    // One pass against the simulator on the host's loopback, the credentials and
    // the SQLite store in a mounted directory, as the `single` overlay has them.
    let sim = Sim::start();
    let state = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        state.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    std::fs::write(state.path().join("client-secret"), format!("{SECRET}\n")).unwrap();
    let out = buildah
        .cmd()
        .args(["run", "--isolation", "chroot", "--volume"])
        .arg(format!("{}:/var/lib/srecap", state.path().display()))
        .args(["--env", "OCM_CLIENT_ID=srecap-sim"])
        .args([
            "--env",
            "OCM_CLIENT_SECRET_FILE=/var/lib/srecap/client-secret",
        ])
        .args(["--env", "SRECAP_STATE=sqlite:/var/lib/srecap/state.db"])
        .args([&container, "--", "/usr/local/bin/srecap"])
        .args(sim.run_once_args())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let (orgs, actions) = plan_summary(&out.stdout);
    assert_eq!(orgs, example_orgs());
    assert!(actions > 0);
    assert!(!text(&out).contains(SECRET));
    let db = std::fs::metadata(state.path().join("state.db")).expect("the pass wrote its store");
    assert_eq!(db.uid(), UID, "the pass ran as the image's user");
    let booked = sim.running().sim.fleet().clusters.iter().any(|c| {
        !c.upgrade_policies.is_empty()
            || c.node_pools.iter().any(|p| !p.upgrade_policies.is_empty())
    });
    assert!(
        booked,
        "the pass in the image booked upgrades in the simulator"
    );
}

// ---------------------------------------------------------------------------
// Kubernetes and ArgoCD

const OVERLAYS: [&str; 2] = ["single", "ha"];

/// The objects `kubectl kustomize` renders for an overlay.
fn render(overlay: &str) -> Vec<Value> {
    let dir = repo().join("deploy/kubernetes/overlays").join(overlay);
    let out = run(tool("kubectl").arg("kustomize").arg(dir));
    let yaml = String::from_utf8(out.stdout).unwrap();
    serde_saphyr::from_multiple::<Value>(&yaml)
        .unwrap()
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

fn is_custom(object: &Value) -> bool {
    let api = object["apiVersion"].as_str().unwrap();
    api.starts_with("monitoring.coreos.com/") || api.starts_with("argoproj.io/")
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} expected");
    found[0]
}

fn labels(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// `selector` selects objects with `labels`.
fn selects(selector: &Value, labels_of: &Value) -> bool {
    let target = labels(labels_of);
    let wanted = labels(selector);
    !wanted.is_empty() && wanted.iter().all(|(k, v)| target.get(k) == Some(v))
}

fn env_var<'a>(container: &'a Value, name: &str) -> Option<&'a Value> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

#[test]
fn kubernetes_validate_rejects_what_the_schemas_do_not_allow() {
    // The validator itself, so that the next test cannot pass vacuously.
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  prots: []\n",
    )
    .unwrap();
    let out = tool("kubernetes-validate")
        .args(["--strict", "--kubernetes-version", "1.30.0"])
        .arg(&broken)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", text(&out));
}

#[test]
fn every_overlay_renders_and_validates_against_the_kubernetes_schemas() {
    let dir = tempfile::tempdir().unwrap();
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let builtin: Vec<&Value> = objects.iter().filter(|o| !is_custom(o)).collect();
        let file = dir.path().join(format!("{overlay}.yaml"));
        let docs: Vec<String> = builtin
            .iter()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        std::fs::write(&file, docs.join("\n---\n")).unwrap();
        // 1.30: Kubernetes of OpenShift 4.17, the oldest release we deploy on.
        let out = run(tool("kubernetes-validate")
            .args(["--strict", "--kubernetes-version", "1.30.0"])
            .arg(&file));
        let report = text(&out);
        assert!(
            !report.contains("Couldn't find schema"),
            "{overlay}: an object was not validated:\n{report}"
        );
        assert_eq!(
            report.matches("passed for resource").count(),
            builtin.len(),
            "{overlay}: {report}"
        );
        for object in &objects {
            let kind = object["kind"].as_str().unwrap();
            if kind != "Namespace" {
                assert_eq!(
                    object["metadata"]["namespace"], "srecap",
                    "{overlay}: {kind}"
                );
            }
            assert_eq!(
                object["metadata"]["labels"]["app.kubernetes.io/name"], "srecap",
                "{overlay}: {kind}"
            );
        }
    }
}

#[test]
fn the_deployment_runs_srecap_as_its_help_documents_it() {
    let dir = tempfile::tempdir().unwrap();
    let help = String::from_utf8(run(srecap(dir.path()).args(["run", "--help"])).stdout).unwrap();
    // Without the line breaks of the help's layout.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let deployment = one(&objects, "Deployment");
        let pod = &deployment["spec"]["template"];
        let container = &pod["spec"]["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // The service runs both capabilities.
        assert_eq!(args[0], "run", "{overlay}");
        for capability in ["aus", "rhidp"] {
            assert!(
                args.contains(&format!("--capability={capability}").as_str()),
                "{overlay}: {args:?}"
            );
        }
        for arg in &args[1..] {
            let flag = arg.split('=').next().unwrap();
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag} <")),
                "{overlay}: {flag} is not a `srecap run` flag"
            );
        }
        for var in container["env"].as_array().unwrap() {
            let name = var["name"].as_str().unwrap();
            assert!(
                name == "RUST_LOG" || help.contains(&format!("[env: {name}")),
                "{overlay}: `srecap run` reads no {name}"
            );
        }
        // The sealing key and the realm's token are mounted files of the
        // Secret srecap-rhidp, never environment values.
        for (flag, key) in [
            ("--secret-key-file=", "secret-key"),
            ("--keycloak-iat-file=", "employeeidp-iat"),
        ] {
            let value = args.iter().find_map(|a| a.strip_prefix(flag)).unwrap();
            let file = value.rsplit('=').next().unwrap();
            let mount = container["volumeMounts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| file.starts_with(m["mountPath"].as_str().unwrap()))
                .unwrap_or_else(|| panic!("{overlay}: {file} is on no mounted volume"));
            let volume = pod["spec"]["volumes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["name"] == mount["name"])
                .unwrap();
            assert_eq!(volume["secret"]["secretName"], "srecap-rhidp");
            assert!(
                volume["secret"]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|i| i["key"] == key && file.ends_with(i["path"].as_str().unwrap())),
                "{overlay}: {key}"
            );
        }
        assert!(env_var(container, "SRECAP_SECRET_KEY").is_none());
        assert_eq!(
            args.iter()
                .find_map(|a| a.strip_prefix("--metrics-listen="))
                .unwrap(),
            format!("0.0.0.0:{METRICS_PORT}")
        );
        assert_eq!(container["ports"][0]["containerPort"], METRICS_PORT);
        assert_eq!(container["ports"][0]["name"], "metrics");
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
        for probe in ["livenessProbe", "readinessProbe"] {
            assert_eq!(container[probe]["httpGet"]["port"], "metrics");
        }

        // The restricted Pod Security Standard, and then some.
        let pod_security = &pod["spec"]["securityContext"];
        let security = &container["securityContext"];
        assert_eq!(pod_security["runAsNonRoot"], true);
        assert_eq!(security["runAsNonRoot"], true);
        assert_eq!(security["runAsUser"], UID);
        assert_eq!(pod_security["runAsUser"], UID);
        assert_eq!(security["readOnlyRootFilesystem"], true);
        assert_eq!(security["allowPrivilegeEscalation"], false);
        assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
        assert!(security["capabilities"]["add"].is_null());
        assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");
        assert_eq!(pod["spec"]["automountServiceAccountToken"], false);
        for resource in ["cpu", "memory"] {
            assert!(container["resources"]["requests"][resource].is_string());
            assert!(container["resources"]["limits"][resource].is_string());
        }
        // Longer than one organization's pass may run (--org-deadline, 2m).
        assert!(
            pod["spec"]["terminationGracePeriodSeconds"]
                .as_u64()
                .unwrap()
                > 120
        );

        // The client secret is a mounted file, never an environment value.
        let secret_file = env_var(container, "OCM_CLIENT_SECRET_FILE").unwrap()["value"]
            .as_str()
            .unwrap();
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| secret_file.starts_with(m["mountPath"].as_str().unwrap()))
            .expect("the client secret file is on a mounted volume");
        let volume = pod["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap();
        assert_eq!(volume["secret"]["secretName"], "srecap-ocm");
        assert!(env_var(container, "OCM_CLIENT_SECRET").is_none());

        let service = one(&objects, "Service");
        assert!(selects(
            &service["spec"]["selector"],
            &pod["metadata"]["labels"]
        ));
        assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
        assert!(selects(
            &deployment["spec"]["selector"]["matchLabels"],
            &pod["metadata"]["labels"]
        ));
        assert_eq!(
            pod["spec"]["serviceAccountName"],
            one(&objects, "ServiceAccount")["metadata"]["name"]
        );

        let policy = one(&objects, "NetworkPolicy");
        assert!(selects(
            &policy["spec"]["podSelector"]["matchLabels"],
            &pod["metadata"]["labels"]
        ));
        let ingress: Vec<&Value> = policy["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| rule["ports"].as_array().unwrap())
            .collect();
        assert_eq!(ingress.len(), 1);
        assert_eq!(ingress[0]["port"], METRICS_PORT);
        let egress: BTreeSet<u64> = policy["spec"]["egress"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|rule| rule["ports"].as_array().unwrap())
            .map(|p| p["port"].as_u64().unwrap())
            .collect();
        let mut expected = BTreeSet::from([53, 443]);
        if overlay == "ha" {
            expected.insert(5432);
        }
        assert_eq!(egress, expected, "{overlay}: egress ports");

        match overlay {
            "single" => {
                assert_eq!(deployment["spec"]["replicas"], 1);
                assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
                let state = env_var(container, "SRECAP_STATE").unwrap()["value"]
                    .as_str()
                    .unwrap();
                let path = state.strip_prefix("sqlite:").expect("a SQLite store");
                let mount = container["volumeMounts"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| path.starts_with(m["mountPath"].as_str().unwrap()))
                    .expect("the SQLite file is on a mounted volume");
                let volume = pod["spec"]["volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|v| v["name"] == mount["name"])
                    .unwrap();
                assert_eq!(
                    volume["persistentVolumeClaim"]["claimName"],
                    one(&objects, "PersistentVolumeClaim")["metadata"]["name"]
                );
            }
            "ha" => {
                assert_eq!(deployment["spec"]["replicas"], 3);
                let state = env_var(container, "SRECAP_STATE").unwrap();
                assert_eq!(
                    state["valueFrom"]["secretKeyRef"]["name"],
                    "srecap-postgres"
                );
                let budget = one(&objects, "PodDisruptionBudget");
                assert!(selects(
                    &budget["spec"]["selector"]["matchLabels"],
                    &pod["metadata"]["labels"]
                ));
                assert_eq!(budget["spec"]["maxUnavailable"], 1);
                let spread = pod["spec"]["topologySpreadConstraints"].as_array().unwrap();
                let keys: BTreeSet<&str> = spread
                    .iter()
                    .inspect(|c| {
                        assert!(selects(
                            &c["labelSelector"]["matchLabels"],
                            &pod["metadata"]["labels"]
                        ));
                    })
                    .map(|c| c["topologyKey"].as_str().unwrap())
                    .collect();
                assert_eq!(
                    keys,
                    BTreeSet::from(["kubernetes.io/hostname", "topology.kubernetes.io/zone"])
                );
                assert!(objects.iter().all(|o| o["kind"] != "PersistentVolumeClaim"));
            }
            _ => unreachable!(),
        }
    }
}

#[test]
fn monitoring_objects_scrape_the_service_and_carry_the_generated_rules() {
    // Every capability the Deployment runs brings its rules.
    let generated: Vec<Value> = ["srecap-aus", "srecap-rhidp"]
        .iter()
        .flat_map(|name| {
            serde_saphyr::from_multiple::<Value>(
                &std::fs::read_to_string(
                    repo().join(format!("deploy/prometheus/{name}.prometheusrule.yaml")),
                )
                .unwrap(),
            )
            .unwrap()
        })
        .filter(|o| !o.is_null())
        .collect();
    assert!(!generated.is_empty());
    for overlay in OVERLAYS {
        let objects = render(overlay);
        let service = one(&objects, "Service");
        let monitor = one(&objects, "ServiceMonitor");
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert!(selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &service["metadata"]["labels"]
        ));
        let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
        assert!(!endpoints.is_empty());
        for endpoint in endpoints {
            assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
            assert_eq!(endpoint["path"], "/metrics");
        }

        // The generated PrometheusRules, unchanged but for the namespace and labels.
        let rules: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "PrometheusRule")
            .collect();
        assert_eq!(rules.len(), generated.len(), "{overlay}");
        for source in &generated {
            let name = &source["metadata"]["name"];
            let rendered = rules
                .iter()
                .find(|r| r["metadata"]["name"] == *name)
                .unwrap_or_else(|| panic!("{overlay}: no PrometheusRule {name}"));
            assert_eq!(rendered["apiVersion"], "monitoring.coreos.com/v1");
            assert_eq!(rendered["spec"], source["spec"], "{overlay}: {name}");
            for group in rendered["spec"]["groups"].as_array().unwrap() {
                assert!(group["name"].is_string());
                for rule in group["rules"].as_array().unwrap() {
                    assert!(rule["record"].is_string() != rule["alert"].is_string());
                    assert!(!rule["expr"].as_str().unwrap().is_empty());
                }
            }
        }
    }
}

#[test]
fn the_argocd_application_syncs_the_ha_overlay() {
    let path = repo().join("deploy/argocd/srecap.application.yaml");
    let app: Value = serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    assert!(app["metadata"]["name"].is_string());
    let source = &app["spec"]["source"];
    assert!(source["repoURL"].as_str().unwrap().starts_with("https://"));
    assert!(source["targetRevision"].is_string());
    assert_eq!(source["path"], "deploy/kubernetes/overlays/ha");
    assert!(
        repo()
            .join(source["path"].as_str().unwrap())
            .join("kustomization.yaml")
            .is_file()
    );
    let automated = &app["spec"]["syncPolicy"]["automated"];
    assert_eq!(automated["prune"], true);
    assert_eq!(automated["selfHeal"], true);
    let destination = &app["spec"]["destination"];
    assert!(destination["server"].is_string());
    let namespace = one(&render("ha"), "Namespace")["metadata"]["name"].clone();
    assert_eq!(destination["namespace"], namespace);
}

#[test]
fn checkov_finds_nothing_in_the_rendered_overlays() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tool("checkov");
    cmd.args([
        "--framework",
        "kubernetes",
        "--output",
        "json",
        // Offline: no guidelines or severities from the vendor's API.
        "--skip-download",
    ]);
    for overlay in OVERLAYS {
        let file = dir.path().join(format!("{overlay}.yaml"));
        let docs: Vec<String> = render(overlay)
            .iter()
            .map(|o| serde_json::to_string(o).unwrap())
            .collect();
        std::fs::write(&file, docs.join("\n---\n")).unwrap();
        cmd.arg("--file").arg(&file);
    }
    // checkov exits 1 when a check fails; the JSON report says which.
    let out = cmd.output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("checkov's report ({e}):\n{}", text(&out)));
    let results = &report["results"];
    // Offline, checkov knows no severities, so any finding fails: the manifests
    // must pass every check or skip it with a reason (an annotation).
    let failed: Vec<String> = results["failed_checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{} {} {}", c["check_id"], c["resource"], c["check_name"]))
        .collect();
    assert!(
        failed.is_empty(),
        "checkov findings:\n{}",
        failed.join("\n")
    );
    assert!(
        report["summary"]["passed"].as_u64().unwrap() > 50,
        "{report}"
    );
    assert_eq!(report["summary"]["parsing_errors"], 0);
    for skipped in results["skipped_checks"].as_array().unwrap() {
        let reason = skipped["check_result"]["suppress_comment"]
            .as_str()
            .unwrap_or_default();
        assert!(
            reason.len() > 20,
            "{} is skipped without a reason",
            skipped["check_id"]
        );
    }
    assert!(out.status.success(), "{}", text(&out));
}
