//! How our objects are written as YAML, everywhere (rendered manifests, generated CRDs, CLI
//! output): kubectl's style, with long strings on one line rather than folded.

use serde::Serialize;

/// Serialises `value` as one YAML document.
pub fn to_string<T: Serialize>(value: &T) -> Result<String, serde_saphyr::SerializeError> {
    let options = serde_saphyr::ser_options! { prefer_block_scalars: false };
    serde_saphyr::to_string_with_options(value, options)
}

#[cfg(test)]
mod tests {
    #[test]
    fn long_strings_stay_on_one_line() {
        let long = "x".repeat(200);
        let text = super::to_string(&serde_json::json!({"a": long, "b": "two\nlines"})).unwrap();
        assert_eq!(text.lines().next().unwrap(), format!("a: {long}"));
        let back: serde_json::Value = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(back["b"], "two\nlines");
    }
}
