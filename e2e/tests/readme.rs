//! The README's promises, checked by running them.

use std::process::{Command, Stdio};

use e2e::{binary, workspace_root};

/// The quick-start command the README gives runs the CLI over the shipped examples and explains
/// every listed image, one JSON line each.
#[test]
fn readme_quick_start_explains_the_example_images() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).expect("README.md");
    let prefix = "cargo run -q -p hypershift-cli -- ";
    let line = readme
        .lines()
        .find(|l| l.starts_with(prefix) && l.contains("mirrors explain"))
        .expect("the README gives a `cargo run -q -p hypershift-cli -- mirrors explain` quick start");
    let (command, stdin_file) = line[prefix.len()..]
        .split_once(" < ")
        .expect("the command reads stdin from a file");
    let stdin = std::fs::File::open(workspace_root().join(stdin_file.trim())).expect("the stdin file exists");
    let out = Command::new(binary("hypershift"))
        .args(command.split_whitespace())
        .current_dir(workspace_root())
        .stdin(Stdio::from(stdin))
        .output()
        .expect("hypershift runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let images = std::fs::read_to_string(workspace_root().join(stdin_file.trim())).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines.len(),
        images.lines().filter(|l| !l.trim().is_empty()).count()
    );
    // The release payload is served from the mirror only: its source is never contacted.
    let release = &lines[0];
    assert_eq!(release["blocked"], true);
    assert!(
        release["candidates"][0]
            .as_str()
            .unwrap()
            .starts_with("mirror.registry.invalid:8443/openshift/release-images@")
    );
}
