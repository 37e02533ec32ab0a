//! The stand-in as a process: it logs its argv, answers HTTP on the port its flags name, exits 0
//! on SIGTERM; a one-shot command exits 0 at once.

#![allow(clippy::unwrap_used, reason = "a panic is the failure report")]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn it_answers_probes_on_its_flag_s_port_and_stops_on_sigterm() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_standin"))
        .args(["--secure-port", &port.to_string(), "--v=2"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let response = loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            break out;
        }
        assert!(Instant::now() < deadline, "nothing listened on {port}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {log}", out.status);
    assert!(
        log.starts_with(&format!(
            "standin: standin argv [\"{}\",\"--secure-port\",\"{port}\",\"--v=2\"]\n",
            env!("CARGO_BIN_EXE_standin")
        )),
        "{log}"
    );
    assert!(log.contains("stopping on SIGTERM"), "{log}");
}

#[test]
fn a_one_shot_command_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("render");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_standin"), &link).unwrap();
    let out = Command::new(&link).arg("--out=/x").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!("standin: render argv [\"{}\",\"--out=/x\"]\n", link.display())
    );
}
