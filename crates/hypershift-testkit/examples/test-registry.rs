//! Starts the test registry with the synthetic release 4.99.0 pushed in oc-mirror v2's layout,
//! writes what a client needs into DIR, prints a `hypershift release info` command, and stays
//! up until Ctrl-C. For trying the release lookup by hand:
//!
//! ```sh
//! cargo run -p hypershift-testkit --example test-registry -- /tmp/mirror
//! ```

use std::io::Write as _;
use std::path::PathBuf;

use hypershift_testkit::{SyntheticRelease, TestRegistry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "/tmp/hypershift-rs-mirror".into()),
    );
    std::fs::create_dir_all(&dir)?;
    hypershift_releaseinfo::install_crypto_provider();
    let registry = TestRegistry::start();
    let release = SyntheticRelease::new("4.99.0");
    release.push(&registry).await?;
    std::fs::write(
        dir.join("idms.yaml"),
        SyntheticRelease::idms_yaml("release-mirror", &registry.host, true),
    )?;
    std::fs::write(dir.join("pull-secret.json"), registry.pull_secret_json())?;
    std::fs::write(dir.join("ca.pem"), &registry.ca_pem)?;
    let d = dir.display();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "registry ready at {} (TLS, basic auth); files in {d}",
        registry.host
    )?;
    writeln!(
        out,
        "try: hypershift release info {} -f {d}/idms.yaml --pull-secret {d}/pull-secret.json --ca-bundle {d}/ca.pem",
        release.source_reference()
    )?;
    out.flush()?;
    tokio::signal::ctrl_c().await?;
    Ok(())
}
