//! `devcluster serve` as a process: one ready line, a working kubeconfig, a clean exit on SIGTERM.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_prints_one_ready_line_serves_kubectl_and_exits_cleanly_on_sigterm() {
    crate::common::init();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_devcluster"))
        .args(["serve", "--addr", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
        .await
        .expect("ready line within 30 s")
        .unwrap()
        .expect("a ready line");
    assert!(
        ready.starts_with("devcluster ready: server=https://127.0.0.1:"),
        "{ready}"
    );
    assert!(
        ready.ends_with(&format!("kubeconfig={}", kubeconfig.display())),
        "{ready}"
    );

    let out = tokio::process::Command::new("kubectl")
        .env("KUBECONFIG", &kubeconfig)
        .args(["--cache-dir"])
        .arg(dir.path().join("cache"))
        .args(["get", "namespace", "default", "-o", "name"])
        .output()
        .await
        .expect("kubectl is on PATH (v1.32 comes with these machines)");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "namespace/default",
        "{out:?}"
    );

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    assert!(
        lines.next_line().await.unwrap().is_none(),
        "nothing else on stdout"
    );
}
