//! `cargo xtask bench`: runs the criterion benchmarks and writes their figures, measured in this
//! run, into `docs/benchmarks.md` between `<!-- bench:NAME:start -->` / `<!-- bench:NAME:end -->`.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result, bail};

use crate::{cargo, run, say};

const DOC: &str = "docs/benchmarks.md";

/// Runs every benchmark, or only those named (`matcher`, `mirror_lookup`, `devcluster`,
/// `operator`).
pub fn all(only: &[String]) -> Result<()> {
    const KNOWN: [&str; 4] = ["matcher", "mirror_lookup", "devcluster", "operator"];
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    if let Some(unknown) = only.iter().find(|o| !KNOWN.contains(&o.as_str())) {
        bail!("unknown benchmark {unknown:?}; known: {}", KNOWN.join(", "));
    }
    if wanted("matcher") {
        matcher()?;
    }
    if wanted("mirror_lookup") {
        mirror_lookup()?;
    }
    if wanted("devcluster") {
        devcluster()?;
    }
    if wanted("operator") {
        operator()?;
    }
    say(&format!("xtask bench: figures written to {DOC}"));
    Ok(())
}

/// PRODUCT.md: "10k references against 1k rules — at least 50× faster than a naive linear scan
/// baseline implemented in the bench".
const MATCHER_TARGET: f64 = 50.0;

/// Target: the index at least [`MATCHER_TARGET`] times faster than the linear scan.
fn matcher() -> Result<()> {
    let command = "cargo bench -p hypershift-mirrors --bench matcher";
    run(cargo().args(["bench", "-p", "hypershift-mirrors", "--bench", "matcher"]))?;
    let group = "target/criterion/resolve_10k_refs_1k_rules";
    let ours = median_ns(&format!("{group}/mirror_set_index"))?;
    let baseline = median_ns(&format!("{group}/linear_scan_baseline"))?;
    let ratio = baseline / ours;
    let verdict = if ratio >= MATCHER_TARGET {
        "meets"
    } else {
        "MISSES"
    };
    let mut s = String::new();
    let _ = writeln!(s, "Measured {} on {}.", today(), machine());
    let _ = writeln!(s, "Command: `cargo xtask bench` (runs `{command}`).\n");
    let _ = writeln!(
        s,
        "| resolving 10,000 references against 1,000 rules | median per batch | per reference |"
    );
    let _ = writeln!(s, "|---|---|---|");
    let _ = writeln!(s, "| `MirrorSet` index | {} | {} |", ms(ours), per_ref(ours));
    let _ = writeln!(
        s,
        "| linear scan baseline (in the bench) | {} | {} |",
        ms(baseline),
        per_ref(baseline)
    );
    let _ = writeln!(
        s,
        "\nRatio: **{ratio:.1}×** faster than the baseline; this {verdict} the target of at least {MATCHER_TARGET:.0}×."
    );
    replace_section("matcher", &s)
}

/// Target: a lookup with 2 of 3 mirrors dead within 1.5x of a healthy single-mirror lookup.
fn mirror_lookup() -> Result<()> {
    let command = "cargo bench -p hypershift-releaseinfo --bench mirror_lookup";
    say(&format!("xtask: running {command}"));
    let out = cargo()
        .args([
            "bench",
            "-p",
            "hypershift-releaseinfo",
            "--bench",
            "mirror_lookup",
        ])
        .output()
        .context("cannot run the mirror_lookup bench")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        bail!(
            "the mirror_lookup bench failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let line = stdout
        .lines()
        .find(|l| l.starts_with("mirror_lookup "))
        .context("the bench printed no result line")?;
    let value = |key: &str| -> Result<f64> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
            .with_context(|| format!("no {key} in {line:?}"))?
            .parse()
            .with_context(|| format!("bad {key} in {line:?}"))
    };
    let healthy = value("healthy_median_ms")?;
    let dead = value("dead_median_ms")?;
    let first = value("dead_first_ms")?;
    let baseline = value("baseline_median_ms")?;
    let ratio = dead / healthy;
    let verdict = if ratio <= 1.5 { "meets" } else { "MISSES" };
    let mut s = String::new();
    let _ = writeln!(s, "Measured {} on {}.", today(), machine());
    let _ = writeln!(s, "Command: `cargo xtask bench` (runs `{command}`).\n");
    let _ = writeln!(
        s,
        "| release lookup, each of a different release | median | notes |"
    );
    let _ = writeln!(s, "|---|---|---|");
    let _ = writeln!(
        s,
        "| one healthy mirror | {healthy:.1} ms | {} lookups |",
        value("lookups")?
    );
    let _ = writeln!(
        s,
        "| 2 of 3 mirrors dead (refusing, black hole, then healthy) | {dead:.1} ms | the first lookup took {first:.0} ms: the black hole holds two connection attempts (the registry ping, then the manifest), each up to the 3 s connect timeout; later lookups skip the dead registries |"
    );
    let _ = writeln!(
        s,
        "| HyperShift-style sequential baseline, 15 s probe timeout | {baseline:.0} ms | {} lookups; every lookup waits out the black hole |",
        value("baseline_lookups")?
    );
    let _ = writeln!(
        s,
        "\nRatio dead/healthy: **{ratio:.2}x**; this {verdict} the target of at most 1.5x. The baseline is {:.0}x slower than ours.",
        baseline / dead
    );
    replace_section("mirror_lookup", &s)
}

/// devcluster: list latency and watch fan-out with 10,000 objects; the bench writes its table.
fn devcluster() -> Result<()> {
    let command = "cargo bench -p devcluster --bench api";
    // Absolute: cargo runs the bench from the package's directory.
    let out = std::env::current_dir()?.join("target/devcluster-bench.md");
    run(cargo()
        .args(["bench", "-p", "devcluster", "--bench", "api"])
        .env("DEVCLUSTER_BENCH_OUT", &out))?;
    let table = std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let mut s = String::new();
    let _ = writeln!(s, "Measured {} on {}.", today(), machine());
    let _ = writeln!(s, "Command: `cargo xtask bench` (runs `{command}`).\n");
    s.push_str(&table);
    replace_section("devcluster", &s)
}

/// The hypershift-operator, release-built, at scale on devcluster; the bench writes its table.
fn operator() -> Result<()> {
    let command = "cargo bench -p e2e --bench operator";
    run(cargo().args(["build", "--release", "-p", "hypershift-operator"]))?;
    let root = std::env::current_dir()?;
    let out = root.join("target/operator-bench.md");
    run(cargo()
        .args(["bench", "-p", "e2e", "--bench", "operator"])
        .env(
            "HYPERSHIFT_OPERATOR",
            root.join("target/release/hypershift-operator"),
        )
        .env("OPERATOR_BENCH_OUT", &out))?;
    let table = std::fs::read_to_string(&out).with_context(|| format!("cannot read {}", out.display()))?;
    let mut s = String::new();
    let _ = writeln!(s, "Measured {} on {}.", today(), machine());
    let _ = writeln!(
        s,
        "Command: `cargo xtask bench operator` (builds the operator in release, then runs `{command}`).\n"
    );
    s.push_str(&table);
    replace_section("operator", &s)
}

fn ms(ns: f64) -> String {
    format!("{:.2} ms", ns / 1e6)
}

fn per_ref(ns: f64) -> String {
    format!("{:.0} ns", ns / 10_000.0)
}

/// The median point estimate (ns) from criterion's `new/estimates.json`.
fn median_ns(dir: &str) -> Result<f64> {
    let path = format!("{dir}/new/estimates.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let after = text
        .split("\"median\"")
        .nth(1)
        .context("no median in estimates")?;
    let value = after
        .split("\"point_estimate\":")
        .nth(1)
        .context("no point_estimate in median")?;
    let number: String = value
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '-' | '+'))
        .collect();
    number
        .parse()
        .with_context(|| format!("bad median {number:?} in {path}"))
}

fn replace_section(name: &str, body: &str) -> Result<()> {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let doc = std::fs::read_to_string(DOC).with_context(|| format!("cannot read {DOC}"))?;
    let (Some(a), Some(b)) = (doc.find(&start), doc.find(&end)) else {
        bail!("{DOC} lacks the markers {start} / {end}");
    };
    let updated = format!("{}{start}\n{body}{}", &doc[..a], &doc[b..]);
    std::fs::write(Path::new(DOC), updated).with_context(|| format!("cannot write {DOC}"))
}

fn today() -> String {
    Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    format!("{cores} cores ({cpu})")
}
