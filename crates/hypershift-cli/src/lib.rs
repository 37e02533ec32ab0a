//! The `hypershift` CLI: inspection commands for disconnected setups (design/cli-contract.md).
//!
//! Every command is pure: it reads its arguments, files and stdin, and prints JSON, YAML, TOML
//! or a plain line. Nothing here touches the network or a cluster. Errors are one line on
//! stderr; [`main`](../hypershift/index.html) maps them to exit status 1, clap's usage errors exit 2.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use hypershift_mirrors::{
    ImageOverrides, ImageRef, MatchMode, MirrorDocument, MirrorSet, MirrorSetBuilder, RegistriesConf,
    RegistryOverrides, mirror_set::DataPlane, parse_documents, registries_conf, render_mirror_sets,
};
use serde::Serialize;

mod release;

/// Inspect and debug image mirroring for hosted control planes.
#[derive(Debug, Parser)]
#[command(name = "hypershift", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Image references.
    #[command(subcommand)]
    Image(ImageCommand),
    /// HyperShift's override wire formats (--registry-overrides, OPENSHIFT_IMG_OVERRIDES).
    #[command(subcommand)]
    Overrides(OverridesCommand),
    /// Mirror rules from ImageDigestMirrorSet, ImageTagMirrorSet, ImageContentSourcePolicy and registries.conf.
    #[command(subcommand)]
    Mirrors(MirrorsCommand),
    /// Release payloads, read over the network through the mirrors (works from a bastion).
    #[command(subcommand)]
    Release(ReleaseCommand),
}

#[derive(Debug, Subcommand)]
enum ReleaseCommand {
    /// Look up a release image through the mirrors: its version, its component images (as written
    /// and as they will be pulled) and which pull spec served the payload.
    Info(release::InfoArgs),
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Parse and normalise an image reference: {"registry", "repository", "tag", "digest"}.
    Parse {
        /// The reference, e.g. quay.io/openshift-release-dev/ocp-release:4.18.0-x86_64.
        #[arg(allow_hyphen_values = true)]
        reference: String,
    },
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::doc_link_with_quotes,
    reason = "these comments are clap help text, where JSON shapes are literal"
)]
enum OverridesCommand {
    /// Parse a --registry-overrides value (pflag StringToString rules) into {"src": "dst"}.
    DecodeFlag {
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Turn {"src": "dst"} into a --registry-overrides value (sorted k=v pairs, `=` when empty).
    EncodeFlag {
        /// A JSON object of strings.
        json: String,
    },
    /// Parse an OPENSHIFT_IMG_OVERRIDES value into {"src": ["m1", "m2"]}, or null.
    DecodeEnv {
        #[arg(allow_hyphen_values = true)]
        value: String,
    },
    /// Turn {"src": ["m1", "m2"]} into an OPENSHIFT_IMG_OVERRIDES value (mirror order kept).
    EncodeEnv {
        /// A JSON object of string lists.
        json: String,
    },
    /// Rewrite IMAGE with HyperShift's strict longest-prefix rule of --registry-overrides.
    Replace {
        #[arg(allow_hyphen_values = true)]
        image: String,
        /// A --registry-overrides value; repeat to merge several, as the flag does.
        #[arg(
            long = "overrides",
            value_name = "VALUE",
            required = true,
            allow_hyphen_values = true
        )]
        overrides: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum MirrorsCommand {
    /// Where a pull of IMAGE goes: {"image", "source", "candidates", "blocked"}. IMAGE `-` reads one
    /// reference per line from stdin and prints JSON Lines.
    Explain {
        /// An image reference, or `-` for stdin.
        #[arg(allow_hyphen_values = true)]
        image: String,
        #[command(flatten)]
        inputs: MirrorInputs,
        /// The operators' live translation: digest-only mirrors are also tried for tag references.
        #[arg(long)]
        live: bool,
    },
    /// Merge mirror files into one ImageDigestMirrorSet (and ImageTagMirrorSet), deterministically.
    Merge {
        /// YAML files with ImageDigestMirrorSet, ImageTagMirrorSet and ImageContentSourcePolicy documents.
        #[arg(required_unless_present = "registries_conf")]
        files: Vec<PathBuf>,
        /// containers-registries.conf(5) v2 files to merge in as well.
        #[arg(long = "registries-conf", value_name = "FILE")]
        registries_conf: Vec<PathBuf>,
        /// metadata.name of the objects written.
        #[arg(long, default_value = "merged")]
        name: String,
    },
    /// Render the rules as a containers-registries.conf(5) v2 TOML document.
    RegistriesConf {
        #[command(flatten)]
        inputs: MirrorInputs,
    },
}

#[derive(Debug, Args)]
struct MirrorInputs {
    /// YAML file with ImageDigestMirrorSet, ImageTagMirrorSet and ImageContentSourcePolicy documents
    /// (multi-document and `kind: List` accepted). Repeatable.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    files: Vec<PathBuf>,
    /// A containers-registries.conf(5) v2 TOML file. Repeatable.
    #[arg(long = "registries-conf", value_name = "FILE")]
    registries_conf: Vec<PathBuf>,
}

/// Runs one command. `stdin` is read only by `mirrors explain -`; warnings go to `stderr`.
pub fn run(cli: Cli, stdin: &mut dyn BufRead, stdout: &mut dyn Write, stderr: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Image(ImageCommand::Parse { reference }) => {
            let r = ImageRef::parse(&reference)?;
            json_line(
                stdout,
                &ParsedImage {
                    registry: r.registry(),
                    repository: r.repository(),
                    tag: r.tag(),
                    digest: r.digest(),
                },
            )
        }
        Command::Overrides(cmd) => overrides(cmd, stdout),
        Command::Mirrors(MirrorsCommand::Explain { image, inputs, live }) => {
            let set = load(&inputs.files, &inputs.registries_conf, stderr)?;
            let mode = if live { MatchMode::Live } else { MatchMode::Node };
            if image == "-" {
                explain_lines(&set, mode, stdin, stdout)
            } else {
                explain_one(&set, mode, &image, stdout)
            }
        }
        Command::Mirrors(MirrorsCommand::Merge {
            files,
            registries_conf,
            name,
        }) => {
            let set = load(&files, &registries_conf, stderr)?;
            let rendered = render_mirror_sets(&set, &name);
            for warning in &rendered.warnings {
                writeln!(stderr, "warning: {warning}")?;
            }
            stdout.write_all(rendered.to_yaml().as_bytes())?;
            Ok(())
        }
        Command::Release(ReleaseCommand::Info(args)) => {
            let set = load(&args.files, &args.registries_conf, stderr)?;
            release::info(&args, set, stdout)
        }
        Command::Mirrors(MirrorsCommand::RegistriesConf { inputs }) => {
            let set = load(&inputs.files, &inputs.registries_conf, stderr)?;
            stdout.write_all(registries_conf::render(&set).as_bytes())?;
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct ParsedImage<'a> {
    registry: &'a str,
    repository: &'a str,
    tag: Option<&'a str>,
    digest: Option<&'a str>,
}

fn overrides(cmd: OverridesCommand, stdout: &mut dyn Write) -> Result<()> {
    match cmd {
        OverridesCommand::DecodeFlag { value } => json_line(stdout, &RegistryOverrides::parse_flag(&value)?),
        OverridesCommand::EncodeFlag { json } => {
            let map: BTreeMap<String, String> = serde_json::from_str(&json).with_context(
                || "expected a JSON object of strings, e.g. {\"quay.io\": \"mirror.example.com\"}",
            )?;
            writeln!(
                stdout,
                "{}",
                map.into_iter().collect::<RegistryOverrides>().to_flag()
            )?;
            Ok(())
        }
        OverridesCommand::DecodeEnv { value } => json_line(stdout, &ImageOverrides::parse_env(&value)),
        OverridesCommand::EncodeEnv { json } => {
            let map: BTreeMap<String, Vec<String>> = serde_json::from_str(&json).with_context(
                || "expected a JSON object of string lists, e.g. {\"quay.io\": [\"mirror.example.com\"]}",
            )?;
            writeln!(stdout, "{}", map.into_iter().collect::<ImageOverrides>().to_env())?;
            Ok(())
        }
        OverridesCommand::Replace { image, overrides } => {
            let mut map = RegistryOverrides::new();
            for value in &overrides {
                map.merge_flag(value)
                    .with_context(|| "invalid --overrides value")?;
            }
            writeln!(stdout, "{}", map.replace(&image))?;
            Ok(())
        }
    }
}

/// Loads every input into one rule set. The CLI does not know whose mirrors the files describe,
/// so it builds a data-plane set and passes the matching mode explicitly.
fn load(files: &[PathBuf], confs: &[PathBuf], stderr: &mut dyn Write) -> Result<MirrorSet<DataPlane>> {
    let mut builder = MirrorSetBuilder::new();
    for path in files {
        let text = read(path)?;
        let docs = parse_documents(&text).with_context(|| path.display().to_string())?;
        for doc in &docs {
            if let MirrorDocument::Other { kind, name } = doc {
                writeln!(
                    stderr,
                    "warning: {}: skipping {kind} {name:?} (not a mirror set)",
                    path.display()
                )?;
            }
            builder
                .add_document(doc)
                .with_context(|| path.display().to_string())?;
        }
    }
    for path in confs {
        let text = read(path)?;
        let conf = RegistriesConf::parse(&text).with_context(|| path.display().to_string())?;
        for warning in conf.warnings() {
            writeln!(stderr, "warning: {}: {warning}", path.display())?;
        }
        builder.add_registries_conf(&path.display().to_string(), &conf)?;
    }
    Ok(builder.build())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[derive(Serialize)]
struct Explained<'a> {
    image: &'a str,
    source: Option<&'a str>,
    candidates: &'a [String],
    blocked: bool,
}

#[derive(Serialize)]
struct ExplainError<'a> {
    image: &'a str,
    error: String,
}

fn explain_to(
    set: &MirrorSet<DataPlane>,
    mode: MatchMode,
    image: &ImageRef,
    out: &mut dyn Write,
) -> Result<()> {
    let r = set.resolve_with(image, mode);
    let explained = Explained {
        image: r.image.as_str(),
        source: r.rule.map(|rule| rule.source.as_str()),
        candidates: &r.candidates,
        blocked: r.blocked,
    };
    json_line(out, &explained)
}

fn explain_one(set: &MirrorSet<DataPlane>, mode: MatchMode, image: &str, out: &mut dyn Write) -> Result<()> {
    explain_to(set, mode, &ImageRef::parse(image)?, out)
}

fn explain_lines(
    set: &MirrorSet<DataPlane>,
    mode: MatchMode,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut out = std::io::BufWriter::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if stdin.read_line(&mut line).context("cannot read stdin")? == 0 {
            break;
        }
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match ImageRef::parse(text) {
            Ok(image) => explain_to(set, mode, &image, &mut out)?,
            Err(e) => json_line(
                &mut out,
                &ExplainError {
                    image: text,
                    error: e.to_string(),
                },
            )?,
        }
    }
    out.flush()?;
    Ok(())
}

fn json_line(out: &mut dyn Write, value: &impl Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// `error: …` on one line, whatever the error chain holds.
pub fn one_line_error(e: &anyhow::Error) -> String {
    format!("{e:#}").replace(['\n', '\r'], " ")
}
