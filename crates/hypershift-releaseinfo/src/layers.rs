//! Reading files out of image layers: gzip, zstd or plain tar, detected by their magic bytes.
//!
//! Layers are walked from the top (last) down; a file found in a higher layer is not replaced by
//! a lower one; the walk stops once every wanted file is found. Only regular files whose tar
//! name equals the wanted path exactly are taken (as HyperShift does; whiteouts are not
//! interpreted).

use std::collections::BTreeMap;
use std::io::Read;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// How a layer is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    None,
}

impl Compression {
    /// Detects the compression of a layer from its first bytes.
    pub fn detect(layer: &[u8]) -> Self {
        if layer.starts_with(GZIP_MAGIC) {
            Self::Gzip
        } else if layer.starts_with(ZSTD_MAGIC) {
            Self::Zstd
        } else {
            Self::None
        }
    }
}

/// Files taken from one layer: wanted path → content.
pub type Found = BTreeMap<String, Vec<u8>>;

/// Selects files by name.
pub trait Wanted {
    /// Whether `path` is wanted.
    fn wants(&self, path: &str) -> bool;
}

impl Wanted for [&str] {
    fn wants(&self, path: &str) -> bool {
        self.contains(&path)
    }
}

/// Every regular file under a directory prefix (`etc/mcc/templates/`).
#[derive(Debug, Clone, Copy)]
pub struct UnderDir<'a>(pub &'a str);

impl Wanted for UnderDir<'_> {
    fn wants(&self, path: &str) -> bool {
        path.strip_prefix(self.0).is_some_and(|rest| !rest.is_empty())
    }
}

/// The wanted regular files of one layer blob, skipping paths already in `found`.
pub fn read_layer(blob: &[u8], wanted: &(impl Wanted + ?Sized), found: &Found) -> Result<Found, String> {
    match Compression::detect(blob) {
        Compression::Gzip => read_tar(flate2::read::GzDecoder::new(blob), wanted, found),
        Compression::Zstd => {
            let decoder = ruzstd::decoding::StreamingDecoder::new(blob)
                .map_err(|e| format!("not a zstd stream: {e}"))?;
            read_tar(decoder, wanted, found)
        }
        Compression::None => read_tar(blob, wanted, found),
    }
}

fn read_tar(reader: impl Read, wanted: &(impl Wanted + ?Sized), found: &Found) -> Result<Found, String> {
    let mut archive = tar::Archive::new(reader);
    let mut out = Found::new();
    let entries = archive.entries().map_err(|e| format!("not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("corrupt tar entry: {e}"))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path_bytes();
        let Ok(path) = std::str::from_utf8(&path) else {
            continue;
        };
        let path = path.to_owned();
        if !wanted.wants(&path) || found.contains_key(&path) || out.contains_key(&path) {
            continue;
        }
        let mut content = Vec::new();
        entry
            .read_to_end(&mut content)
            .map_err(|e| format!("cannot read {path} from the layer: {e}"))?;
        out.insert(path, content);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_of(files: &[(&str, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, content) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(content.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, path, content.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_plain_gzip_and_zstd_layers() {
        let tar = tar_of(&[("a/x", "1"), ("a/y", "2"), ("b", "3")]);
        let zstd =
            ruzstd::encoding::compress_to_vec(tar.as_slice(), ruzstd::encoding::CompressionLevel::Fastest);
        for blob in [tar.clone(), gzip(&tar), zstd] {
            let found = read_layer(&blob, ["a/y", "b", "c"].as_slice(), &Found::new()).unwrap();
            assert_eq!(found.keys().collect::<Vec<_>>(), ["a/y", "b"]);
            assert_eq!(found["a/y"], b"2");
        }
        let under = read_layer(&tar, &UnderDir("a/"), &Found::new()).unwrap();
        assert_eq!(under.len(), 2);
    }

    #[test]
    fn files_found_in_higher_layers_are_not_replaced() {
        let tar = tar_of(&[("a", "lower")]);
        let mut found = Found::new();
        found.insert("a".into(), b"upper".to_vec());
        assert!(read_layer(&tar, ["a"].as_slice(), &found).unwrap().is_empty());
    }

    #[test]
    fn corrupt_layers_are_errors() {
        assert!(read_layer(b"\x1f\x8b\x08garbage", ["a"].as_slice(), &Found::new()).is_err());
        assert!(read_layer(b"\x28\xb5\x2f\xfdgarbage", ["a"].as_slice(), &Found::new()).is_err());
        let mut tar = tar_of(&[("a", "content")]);
        tar[150] ^= 0xff; // inside the first header: checksum mismatch
        assert!(read_layer(&tar, ["a"].as_slice(), &Found::new()).is_err());
    }
}
