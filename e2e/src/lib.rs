//! The end-to-end tier: the flagship scenario ([`flagship`], run by `cargo xtask demo`) and
//! helpers for tests that run the workspace's built binaries as separate processes, the way
//! users and clusters run them.
//!
//! `cargo xtask test` builds every binary before running this crate's tests; run alone,
//! `cargo build --workspace --bins && cargo test -p e2e` does the same.

pub mod flagship;

pub use hypershift_testkit::{binary, workspace_root};
