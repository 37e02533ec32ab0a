//! `--registry-overrides`: source prefix → one replacement prefix.
//!
//! Parsing follows pflag's `StringToString` exactly (spec/overrides.md §4.1):
//! 1. no `=` at all: error;
//! 2. exactly one `=`: no comma splitting, surrounding `"` trimmed, one pair;
//! 3. two or more: the value is one CSV record (Go `encoding/csv`), each field split at its first `=`;
//! 4. later duplicates win; repeated flags merge into one map;
//! 5. `=` gives `{"": ""}`, HyperShift's spelling of "no overrides".
//!
//! Serialisation (§4.2): `k=v` strings sorted byte-wise as whole strings, joined by `,`; `=` when empty.
//! `Replace` (§2.4): the longest non-empty key that matches on a boundary wins.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::go_csv;

/// Why a `--registry-overrides` value was rejected (pflag's wording).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagError {
    #[error("{0:?} must be formatted as key=value")]
    NotKeyValue(String),
    #[error("{0}")]
    Csv(#[from] go_csv::CsvError),
}

/// The `--registry-overrides` map. Sorted, so it serialises the same way every time.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct RegistryOverrides(BTreeMap<String, String>);

impl RegistryOverrides {
    /// An empty map (what the flag holds when it is not given).
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one flag value.
    pub fn parse_flag(value: &str) -> Result<Self, FlagError> {
        let mut o = Self::new();
        o.merge_flag(value)?;
        Ok(o)
    }

    /// Adds one more occurrence of the flag (pflag merges repeated occurrences).
    pub fn merge_flag(&mut self, value: &str) -> Result<(), FlagError> {
        let pairs = match value.matches('=').count() {
            0 => return Err(FlagError::NotKeyValue(value.to_owned())),
            1 => vec![value.trim_matches('"').to_owned()],
            _ => go_csv::read_record(value)?,
        };
        let mut parsed = Vec::with_capacity(pairs.len());
        for pair in &pairs {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| FlagError::NotKeyValue(pair.clone()))?;
            parsed.push((k.to_owned(), v.to_owned()));
        }
        self.0.extend(parsed);
        Ok(())
    }

    /// The flag value HyperShift writes: sorted `k=v` pairs joined by `,`, or `=` when empty.
    pub fn to_flag(&self) -> String {
        if self.0.is_empty() {
            return "=".to_owned();
        }
        let mut pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.sort_unstable();
        pairs.join(",")
    }

    /// HyperShift's `registryoverride.Replace`: rewrites `image` with the longest non-empty key
    /// that equals it or is followed by `/`, `@`, or `:` (the latter only when the key holds a `/`,
    /// since after a bare host a `:` starts a port). Unchanged when nothing matches.
    pub fn replace<'a>(&self, image: &'a str) -> Cow<'a, str> {
        let best = self
            .0
            .iter()
            .filter(|(source, _)| prefix_matches(image, source))
            .max_by_key(|(source, _)| source.len());
        match best {
            Some((source, target)) => Cow::Owned(format!("{target}{}", &image[source.len()..])),
            None => Cow::Borrowed(image),
        }
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The entries, sorted by source.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The map itself.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

impl FromIterator<(String, String)> for RegistryOverrides {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

fn prefix_matches(image: &str, source: &str) -> bool {
    if source.is_empty() || !image.starts_with(source) {
        return false;
    }
    match image.as_bytes().get(source.len()) {
        None | Some(b'/' | b'@') => true,
        Some(b':') => source.contains('/'),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(value: &str) -> Vec<(String, String)> {
        RegistryOverrides::parse_flag(value)
            .unwrap_or_else(|e| panic!("{value:?}: {e}"))
            .0
            .into_iter()
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn pflag_rules() {
        assert_eq!(map("a=b"), pairs(&[("a", "b")]));
        // Exactly one '=': never split on commas, quotes trimmed.
        assert_eq!(map("a=b,c"), pairs(&[("a", "b,c")]));
        assert_eq!(map("\"\"a=b\""), pairs(&[("a", "b")]));
        // Two or more: one CSV record.
        assert_eq!(map("a=b,c=d"), pairs(&[("a", "b"), ("c", "d")]));
        assert_eq!(map("\"a=b,x\",c=d"), pairs(&[("a", "b,x"), ("c", "d")]));
        assert_eq!(map("a=b=c"), pairs(&[("a", "b=c")]));
        assert_eq!(map("a=1,a=2"), pairs(&[("a", "2")]));
        assert_eq!(map("="), pairs(&[("", "")]));
        assert_eq!(map("=,="), pairs(&[("", "")]));
        assert_eq!(map("a="), pairs(&[("a", "")]));
    }

    #[test]
    fn pflag_errors() {
        let err = |v: &str| RegistryOverrides::parse_flag(v).unwrap_err().to_string();
        assert_eq!(err(""), "\"\" must be formatted as key=value");
        assert_eq!(err("quay.io"), "\"quay.io\" must be formatted as key=value");
        assert_eq!(err("a=b,c,d=e"), "\"c\" must be formatted as key=value");
        assert_eq!(
            err("a=b,c\"d=e"),
            "parse error on line 1, column 6: bare \" in non-quoted-field"
        );
    }

    #[test]
    fn repeated_flags_merge() {
        let mut o = RegistryOverrides::parse_flag("a=1").unwrap();
        o.merge_flag("b=2,a=3").unwrap();
        assert_eq!(
            o.0.into_iter().collect::<Vec<_>>(),
            pairs(&[("a", "3"), ("b", "2")])
        );
    }

    #[test]
    fn serialisation_sorts_whole_pairs() {
        let o: RegistryOverrides = [("quay.io".into(), "m1".into()), ("quay.io/x".into(), "m2".into())]
            .into_iter()
            .collect();
        // '/' sorts before '=', so the longer key comes first.
        assert_eq!(o.to_flag(), "quay.io/x=m2,quay.io=m1");
        assert_eq!(RegistryOverrides::new().to_flag(), "=");
        assert_eq!(RegistryOverrides::parse_flag("=").unwrap().to_flag(), "=");
    }

    #[test]
    fn replace_is_strict_longest_prefix() {
        let o = RegistryOverrides::parse_flag(
            "quay.io=mirror.io/quay,quay.io/openshift-release-dev=mirror.io/ocp,localhost:5000=l.io,registry/x=r.io",
        )
        .unwrap();
        let r = |i: &str| o.replace(i).into_owned();
        assert_eq!(r("quay.io/a/b:1"), "mirror.io/quay/a/b:1");
        assert_eq!(
            r("quay.io/openshift-release-dev/ocp-release@sha256:x"),
            "mirror.io/ocp/ocp-release@sha256:x"
        );
        assert_eq!(r("quay.io.example.com/a"), "quay.io.example.com/a");
        assert_eq!(r("quay.io:5000/a"), "quay.io:5000/a");
        assert_eq!(r("quay.io"), "mirror.io/quay");
        assert_eq!(r("localhost:5000/a"), "l.io/a");
        assert_eq!(r("localhost/a"), "localhost/a");
        // After a path, ':' starts a tag.
        assert_eq!(r("registry/x:1"), "r.io:1");
        assert_eq!(r("registry/xy:1"), "registry/xy:1");
        assert_eq!(r(""), "");
        // An empty key never matches.
        assert_eq!(
            RegistryOverrides::parse_flag("=").unwrap().replace("quay.io/a"),
            "quay.io/a"
        );
        // A key with a trailing '/' matches only itself.
        let t = RegistryOverrides::parse_flag("quay.io/=x").unwrap();
        assert_eq!(t.replace("quay.io/a"), "quay.io/a");
        assert_eq!(t.replace("quay.io/"), "x");
    }
}
