//! The end-to-end tier: the flagship scenario ([`flagship`], run by `cargo xtask demo`) and
//! helpers for tests that run the workspace's built binaries as separate processes, the way
//! users and clusters run them.
//!
//! `cargo xtask test` builds every binary before running this crate's tests; run alone,
//! `cargo build --workspace --bins && cargo test -p e2e` does the same.

pub mod flagship;
pub mod kit;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The path of a built binary of this workspace (debug profile).
///
/// # Panics
/// When the binary has not been built: the message says how to build it.
pub fn binary(name: &str) -> PathBuf {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace_root().join("target"), PathBuf::from);
    let path = target.join("debug").join(name);
    assert!(
        path.is_file(),
        "{} is missing: build the binaries first (`cargo build --workspace --bins`; `cargo xtask test` does)",
        path.display()
    );
    path
}
