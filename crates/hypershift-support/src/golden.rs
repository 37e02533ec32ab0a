//! Golden files for pure builders: an object is rendered as YAML and compared with the file
//! checked in beside the code. `UPDATE_GOLDEN=1` rewrites the files instead (then review the
//! diff). This is HyperShift's `CompareWithFixture`, in our YAML style.

use std::path::Path;

/// Compares `value` as YAML with `dir/<name>.yaml`.
///
/// # Panics
/// When they differ (with both texts in the message) or the file cannot be read or written.
pub fn assert_golden(dir: &Path, name: &str, value: &impl serde::Serialize) {
    let text = hypershift_api::yaml::to_string(value).expect("serialise to YAML");
    let path = dir.join(format!("{name}.yaml"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir).expect("create the golden directory");
        std::fs::write(&path, &text).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (run with UPDATE_GOLDEN=1 to create it)",
            path.display()
        )
    });
    assert!(
        expected == text,
        "{} differs from the rendered object (run with UPDATE_GOLDEN=1 to accept):\n--- expected\n{expected}\n--- rendered\n{text}",
        path.display()
    );
}
