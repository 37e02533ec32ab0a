//! The hypershift-operator's command line as a process: what a pod's environment and a user's
//! typos do to start-up. No cluster needed: `print-config` runs the same loading and checks.

use std::process::{Command, Output};

fn operator(args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("a temporary directory");
    Command::new(env!("CARGO_BIN_EXE_hypershift-operator"))
        .args(args)
        .current_dir(dir.path())
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .expect("run hypershift-operator")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn service_link_variables_injected_into_the_pod_do_not_stop_start_up() {
    // What Kubernetes injects into every pod of a namespace with a Service `hypershift-operator`.
    let out = operator(
        &["print-config"],
        &[
            ("HYPERSHIFT_OPERATOR_SERVICE_HOST", "127.0.0.9"),
            ("HYPERSHIFT_OPERATOR_SERVICE_PORT", "443"),
            ("HYPERSHIFT_OPERATOR_PORT", "tcp://127.0.0.9:443"),
            ("HYPERSHIFT_OPERATOR_PORT_443_TCP", "tcp://127.0.0.9:443"),
            ("HYPERSHIFT_OPERATOR_PORT_443_TCP_PROTO", "tcp"),
            ("HYPERSHIFT_OPERATOR_PORT_443_TCP_PORT", "443"),
            ("HYPERSHIFT_OPERATOR_PORT_443_TCP_ADDR", "127.0.0.9"),
            ("HYPERSHIFT_OPERATOR_NAMESPACE", "from-env"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let config = text(&out.stdout);
    assert!(config.contains("namespace: from-env"), "{config}");
}

#[test]
fn the_default_admin_address_is_reachable_by_kubelet_probes() {
    let out = operator(&["print-config"], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("admin-addr: 0.0.0.0:9440"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn unknown_flags_and_file_keys_stay_errors() {
    let out = operator(&["run", "--no-such-flag"], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, "namespace: x\nregistry-overides: a=b\n").unwrap();
    let out = operator(&["print-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("hypershift-operator: ")
            && err.contains("unknown key \"registry-overides\"")
            && err.trim_end().lines().count() == 1,
        "{err}"
    );
}

#[test]
fn an_invalid_value_exits_one_with_one_line_naming_it() {
    let out = operator(&["run", "--leader-elect-renew-deadline-seconds=30"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("--leader-elect-renew-deadline-seconds (30)") && err.trim_end().lines().count() == 1,
        "{err}"
    );
    let out = operator(
        &["print-config"],
        &[("HYPERSHIFT_OPERATOR_REGISTRY_TIMEOUT_SECONDS", "soon")],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("registry-timeout-seconds"),
        "{}",
        text(&out.stderr)
    );
}
