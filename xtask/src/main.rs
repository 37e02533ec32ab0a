//! `cargo xtask <task>`: the project's task runner (cargo-xtask convention).
//!
//! Tasks shell out to cargo and the system's tools; this crate depends on std and anyhow only,
//! so it builds in seconds on a fresh clone.
//!
//! - `setup`: install the Debian packages the tests need, when missing (as root).
//! - `test`: every test tier that exists, plus lint and generated-file drift checks.
//! - `codegen`: regenerate `deploy/crds/` from the API types and the operator's ClusterRole from
//!   its RBAC table.
//! - `bench`: run the benchmarks and write their figures into `docs/benchmarks.md`.
//! - `demo`: the flagship scenario (`e2e/src/bin/demo.rs`).
//! - `images`: build the `hypershift` and `standin` images offline with buildah (`deploy/images/`).

mod bench;
mod images;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <task>

tasks:
  setup               install the Debian packages the tests need (as root), when missing
  demo [--once] [--processes]
                      the flagship scenario: registry, devcluster, hypershift-operator, a HostedCluster
                      through mirrors, every pod a container pulled through them (builds the images
                      first; --processes: the operators as processes, no component runs); stays up
                      until Ctrl-C; --once exits 0 only if every step succeeded
  test [--no-lint]    run every test tier (fmt, clippy, unit, property, CLI, codegen drift, images, e2e)
  codegen             regenerate deploy/crds/ (and their kustomizations) from crates/hypershift-api and
                      deploy/hypershift-operator/cluster-role.yaml from the operator's RBAC table
  images [--push REF [--authfile FILE] [--cert-dir DIR]]
                      build the hypershift image from the release binaries (buildah, offline,
                      reproducible; store target/containers), optionally push it
  bench [NAME]...     run the benchmarks (all, or matcher / mirror_lookup / devcluster / operator / ignition / cpo / pods / flagship) and record their figures in docs/benchmarks.md";

/// Debian packages the tests need: (the file it provides, package).
/// The registry tier (release provider, e2e) runs `/usr/bin/docker-registry`.
const PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/docker-registry", "docker-registry"),
    ("/usr/bin/skopeo", "skopeo"),
    // The real Ignition client and ignition-validate (spec/machine-notes.md §10).
    ("/usr/bin/ignition-validate", "ignition"),
    // The load generator of the ignition-server benchmark.
    ("/usr/bin/wrk", "wrk"),
    // Images built offline and containers run with runc (spec/machine-notes.md §9).
    ("/usr/bin/buildah", "buildah"),
    ("/usr/bin/podman", "podman"),
    ("/usr/sbin/runc", "runc"),
    // The stand-in images' shell and coreutils (deploy/images/standin.Containerfile).
    ("/bin/busybox", "busybox-static"),
    // `ip netns`: a network namespace per pod (devcluster's runner::netns).
    ("/usr/sbin/ip", "iproute2"),
];

fn main() -> std::process::ExitCode {
    match run_task() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr, reason = "the one place xtask reports its failure")]
            {
                eprintln!("xtask: error: {e:#}");
            }
            std::process::ExitCode::FAILURE
        }
    }
}

fn run_task() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::env::set_current_dir(project_root()).context("cannot enter the project root")?;
    match args.first().map(String::as_str) {
        Some("setup") => setup(),
        Some("test") => test(&args[1..]),
        Some("codegen") => codegen(),
        Some("bench") => bench::all(&args[1..]),
        Some("demo") => demo(&args[1..]),
        Some("images") => images::images(&args[1..]),
        Some("-h" | "--help" | "help") => {
            say(USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}\n{USAGE}"),
        None => bail!("no task given\n{USAGE}"),
    }
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[allow(clippy::print_stdout, reason = "xtask reports progress on stdout")]
fn say(line: &str) {
    println!("{line}");
}

fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn run(cmd: &mut Command) -> Result<()> {
    say(&format!("xtask: running {}", show(cmd)));
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {}", show(cmd)))?;
    if !status.success() {
        bail!("{} failed ({status})", show(cmd));
    }
    Ok(())
}

fn show(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

fn setup() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(file, _)| !Path::new(file).exists())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        say(&format!(
            "xtask setup: nothing to do; present: {}",
            PACKAGES
                .iter()
                .map(|(f, p)| format!("{p} ({f})"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    } else {
        if !is_root() {
            bail!(
                "missing Debian packages {missing:?}; run as root: apt-get install -y {}",
                missing.join(" ")
            );
        }
        run(Command::new("apt-get").arg("update"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        say(&format!("xtask setup: installed {}", missing.join(", ")));
    }
    // kubectl 1.32 comes with these machines; Debian's kubernetes-client would conflict with it.
    match Command::new("kubectl").args(["version", "--client"]).output() {
        Ok(out) if out.status.success() => {
            say(&format!(
                "xtask setup: kubectl present: {}",
                String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("")
            ));
        }
        _ => say(
            "xtask setup: warning: kubectl not found; the devcluster tier will need it (do not install Debian's kubernetes-client)",
        ),
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn has_nextest() -> bool {
    cargo()
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn test(args: &[String]) -> Result<()> {
    let lint = !args.iter().any(|a| a == "--no-lint");
    if let Some(unknown) = args.iter().find(|a| *a != "--no-lint") {
        bail!("unknown option {unknown:?} for test\n{USAGE}");
    }
    if lint {
        run(cargo().args(["fmt", "--all", "--", "--check"]))?;
        run(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    // Unit, property, CLI contract and codegen drift tests of the default members.
    if has_nextest() {
        run(cargo().args(["nextest", "run", "--no-tests=fail"]))?;
    } else {
        say("xtask: cargo-nextest not found, using cargo test");
        run(cargo().args(["test"]))?;
    }
    run(cargo().args(["test", "--doc", "--workspace"]))?;
    // End-to-end tests drive the built binaries; the container tier runs the image, built once
    // here from the release binaries.
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    images::images(&[])?;
    // testcontainers' engine: podman's Docker-compatible socket over the images just built.
    let socket = images::DockerSocket::start()?;
    if has_nextest() {
        run(cargo()
            .args(["nextest", "run", "-p", "e2e", "--no-tests=fail"])
            .env("DOCKER_HOST", socket.docker_host()))?;
    } else {
        run(cargo()
            .args(["test", "-p", "e2e"])
            .env("DOCKER_HOST", socket.docker_host()))?;
    }
    drop(socket);
    say("xtask test: all tiers passed");
    Ok(())
}

fn demo(args: &[String]) -> Result<()> {
    if let Some(unknown) = args.iter().find(|a| *a != "--once" && *a != "--processes") {
        bail!("unknown option {unknown:?} for demo\n{USAGE}");
    }
    if let Some((missing, _)) = PACKAGES.iter().find(|(file, _)| !Path::new(file).exists()) {
        bail!("{missing} is missing; run `cargo xtask setup` first");
    }
    run(cargo().args(["build", "--workspace", "--bins"]))?;
    if !args.iter().any(|a| a == "--processes") {
        // Every pod runs from the synthetic release's images: ours and the stand-in's.
        images::images(&[])?;
    }
    run(Command::new(project_root().join("target/debug/demo")).args(args))
}

fn codegen() -> Result<()> {
    run(cargo()
        .args(["test", "-q", "-p", "hypershift-api", "--test", "codegen"])
        .env("UPDATE_CRDS", "1"))?;
    run(cargo()
        .args([
            "test",
            "-q",
            "-p",
            "hypershift-operator",
            "--test",
            "deploy",
            "the_cluster_role_file_is_what_the_rules_render",
        ])
        .env("UPDATE_CRDS", "1"))?;
    say("xtask codegen: deploy/crds/ and deploy/hypershift-operator/cluster-role.yaml regenerated");
    Ok(())
}
