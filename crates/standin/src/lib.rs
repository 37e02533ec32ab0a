//! The stand-in: what every control-plane component image of the synthetic release runs in
//! place of an upstream program we do not reimplement (etcd, kube-apiserver, the OLM operators,
//! the cluster-version-operator, …). A pod spec runs it under the component's own command
//! (`/usr/bin/etcd`, `hyperkube kube-apiserver`, `/bin/catalog`); the images link each such path
//! to it, so a container really starts from the image a pod names, pulled through the mirrors.
//!
//! What it does, and nothing else:
//! - prints one line to stderr: `standin: <component> argv ["…", …]` (the component is the
//!   image's `/etc/standin/component`, else the command's file name), so a test or `kubectl
//!   logs` sees exactly what the pod spec ran;
//! - the one-shot commands of [`ONE_SHOT`] (init tasks upstream) then exit 0;
//! - every other command serves until SIGTERM or SIGINT (then exits 0, so a graceful stop is
//!   seen as one), answering `200 ok` to any HTTP request on every port it serves
//!   ([`listen_ports`]: those its arguments name, else the command's default, as `opm serve`'s
//!   50051): a readiness, liveness or startup probe on those ports succeeds.
//!
//! `standin --version` prints its version. There is no other option: the arguments belong to
//! the component it stands in for and are only logged.

use std::collections::BTreeSet;
use std::path::Path;

/// Commands that exit 0 once they have logged (upstream's init tasks).
pub const ONE_SHOT: &[&str] = &["render", "copy-content"];

/// The component a run stands in for: `image_component` (the image's `/etc/standin/component`)
/// when it names one, else the file name of `argv0`.
pub fn component(image_component: Option<&str>, argv0: &str) -> String {
    image_component
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map_or_else(|| command_name(argv0).to_owned(), ToOwned::to_owned)
}

/// The file name of a command (`/usr/bin/etcd` → `etcd`).
pub fn command_name(argv0: &str) -> &str {
    Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(argv0)
}

/// Whether the command is one of [`ONE_SHOT`].
pub fn is_one_shot(argv0: &str) -> bool {
    ONE_SHOT.contains(&command_name(argv0))
}

/// The log line: `standin: <component> argv [...]` (argv as a JSON array, so any byte of it is
/// unambiguous).
pub fn log_line(component: &str, argv: &[String]) -> String {
    format!(
        "standin: {component} argv {}",
        serde_json::Value::from(argv.to_vec())
    )
}

/// Commands that serve on a port of their own when their arguments name none: (command,
/// subcommand, port). `opm serve` listens on gRPC port 50051 unless `--port` says otherwise
/// (the catalog pods' probes connect there).
pub const DEFAULT_PORTS: &[(&str, &str, u16)] = &[("opm", "serve", 50051)];

/// The ports a run serves: those its arguments name ([`probe_ports`]), else its command's
/// default ([`DEFAULT_PORTS`]).
pub fn listen_ports(argv: &[String]) -> BTreeSet<u16> {
    let (command, rest) = argv
        .split_first()
        .map_or(("", &[][..]), |(c, r)| (command_name(c), r));
    let named = probe_ports(rest);
    if !named.is_empty() {
        return named;
    }
    DEFAULT_PORTS
        .iter()
        .filter(|(c, sub, _)| *c == command && rest.first().map(String::as_str) == Some(*sub))
        .map(|(_, _, port)| *port)
        .collect()
}

/// The ports the arguments name, which the stand-in serves its probes on:
/// - `--<name>port=N` / `--<name>port N` (`--port`, `--secure-port`, `--metrics-port`);
/// - `--<name>address=…` / `--<name>addr…` / `--listen…=…` with a comma-separated list whose
///   items end in `:N` (`--bind-address=0.0.0.0:9443`, `--listen-client-urls=https://0.0.0.0:2379`).
///
/// Anything else (including a malformed number) names no port.
pub fn probe_ports(args: &[String]) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    let mut it = args.iter().peekable();
    while let Some(arg) = it.next() {
        let Some(flag) = arg.strip_prefix("--") else {
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_owned()),
            None => match it.peek() {
                Some(next) if !next.starts_with("--") => (flag, it.next().cloned().unwrap_or_default()),
                _ => continue,
            },
        };
        if name.ends_with("port") {
            ports.extend(value.parse::<u16>().ok());
        } else if name.contains("addr") || name.starts_with("listen") {
            ports.extend(
                value
                    .split(',')
                    .filter_map(|item| item.trim_end_matches('/').rsplit_once(':'))
                    .filter_map(|(_, port)| port.parse::<u16>().ok()),
            );
        }
    }
    ports.remove(&0);
    ports
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn opm_serve_listens_on_its_default_port_unless_told_otherwise() {
        let serve = |a: &[&str]| listen_ports(&args(a));
        assert_eq!(
            serve(&[
                "/bin/opm",
                "serve",
                "/extracted-catalog/catalog",
                "--cache-dir=/c"
            ]),
            BTreeSet::from([50051])
        );
        assert_eq!(
            serve(&["/bin/opm", "serve", "/c", "--port=6000"]),
            BTreeSet::from([6000])
        );
        assert_eq!(serve(&["/bin/opm", "render", "/c"]), BTreeSet::new());
        assert_eq!(serve(&["/usr/bin/etcd"]), BTreeSet::new());
    }

    #[test]
    fn ports_come_from_port_address_and_listen_flags() {
        let ports = probe_ports(&args(&[
            "kube-apiserver",
            "--secure-port=6443",
            "--metrics-port",
            "8443",
            "--bind-address=0.0.0.0:10257",
            "--listen-client-urls=https://0.0.0.0:2379,https://[::1]:2380/",
            "--health-probe-bind-address=:8081",
            "--port=0",
            "--verbosity=2",
            "--port=notanumber",
            "--portal=99",
            "--advertise-addr=127.0.0.1:99999",
        ]));
        assert_eq!(
            ports.into_iter().collect::<Vec<_>>(),
            vec![2379, 2380, 6443, 8081, 8443, 10257]
        );
    }

    #[test]
    fn a_flag_followed_by_a_flag_takes_no_value() {
        assert!(probe_ports(&args(&["--port", "--secure-port"])).is_empty());
        assert!(probe_ports(&args(&["--port"])).is_empty());
    }

    #[test]
    fn the_component_is_the_image_s_name_or_the_command_s() {
        assert_eq!(component(Some("etcd\n"), "/bin/sh"), "etcd");
        assert_eq!(component(Some("  "), "/usr/bin/render"), "render");
        assert_eq!(component(None, "hyperkube"), "hyperkube");
        assert!(is_one_shot("/usr/bin/render"));
        assert!(!is_one_shot("/usr/bin/etcd"));
    }

    #[test]
    fn the_log_line_quotes_every_argument() {
        assert_eq!(
            log_line("etcd", &args(&["/usr/bin/etcd", "a b", "\"q\""])),
            r#"standin: etcd argv ["/usr/bin/etcd","a b","\"q\""]"#
        );
    }
}
