//! The HTTPS listener's TLS: TLS 1.2 and 1.3 with ring's default suites (exactly the ECDHE
//! AES-GCM and ChaCha20-Poly1305 suites upstream allows), HTTP/1.1 by ALPN, no client
//! certificates, and a certificate re-read from its files when they change.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink, so the files are polled (their
//! contents hashed every [`RELOAD_INTERVAL`]) rather than watched for events. A pair that does not
//! load (a key that does not match, a half-written file) is reported once and the previous
//! certificate stays in use.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest as _, Sha256};
use tracing::{info, warn};

/// How often the certificate files are looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// Why a certificate pair does not load. Names files, never their contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {file}: {reason}")]
    Read { file: String, reason: String },
    #[error("{file} holds no PEM certificate")]
    NoCertificate { file: String },
    #[error("{file} holds no usable PEM private key")]
    NoKey { file: String },
    #[error("the key in {key} does not match the certificate in {cert}")]
    Mismatch { cert: String, key: String },
}

/// The certificate in use, swapped when the files change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<(Arc<CertifiedKey>, [u8; 32])>,
}

impl ReloadingCert {
    /// Loads the pair once; an error here stops start-up.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Self>, TlsError> {
        let (key, fingerprint) = load_pair(cert_file, key_file)?;
        Ok(Arc::new(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new((key, fingerprint)),
        }))
    }

    /// Re-reads the files; `Ok(true)` when a new certificate is now in use.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let fingerprint = fingerprint(&self.cert_file, &self.key_file)?;
        if fingerprint == self.lock_read().1 {
            return Ok(false);
        }
        let (key, fingerprint) = load_pair(&self.cert_file, &self.key_file)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = (key, fingerprint);
        Ok(true)
    }

    /// Polls the files until the task is dropped.
    pub fn spawn_reloader(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            let mut last_error = None;
            loop {
                tokio::time::sleep(RELOAD_INTERVAL).await;
                match this.reload() {
                    Ok(true) => {
                        info!(cert = %this.cert_file.display(), "serving certificate reloaded");
                        last_error = None;
                    }
                    Ok(false) => last_error = None,
                    Err(e) => {
                        let text = e.to_string();
                        if last_error.as_ref() != Some(&text) {
                            warn!(error = %text, "serving certificate not reloaded; the previous one stays in use");
                        }
                        last_error = Some(text);
                    }
                }
            }
        })
    }

    fn lock_read(&self) -> std::sync::RwLockReadGuard<'_, (Arc<CertifiedKey>, [u8; 32])> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.lock_read().0))
    }
}

/// The listener's rustls configuration.
pub fn server_config(cert: Arc<ReloadingCert>) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        // The ring provider always offers TLS 1.2 and 1.3.
        .unwrap_or_else(|_| unreachable!("ring supports TLS 1.2 and 1.3"))
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        file: path.display().to_string(),
        reason: e.kind().to_string(),
    })
}

fn fingerprint(cert_file: &Path, key_file: &Path) -> Result<[u8; 32], TlsError> {
    let mut hash = Sha256::new();
    hash.update(read(cert_file)?);
    hash.update([0]);
    hash.update(read(key_file)?);
    Ok(hash.finalize().into())
}

fn load_pair(cert_file: &Path, key_file: &Path) -> Result<(Arc<CertifiedKey>, [u8; 32]), TlsError> {
    let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
    let name = |p: &Path| p.display().to_string();
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .filter_map(Result::ok)
        .collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            file: name(cert_file),
        });
    }
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey { file: name(key_file) })?;
    let signing = any_supported_type(&key).map_err(|_| TlsError::NoKey { file: name(key_file) })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| TlsError::Mismatch {
        cert: name(cert_file),
        key: name(key_file),
    })?;
    let mut hash = Sha256::new();
    hash.update(&cert_pem);
    hash.update([0]);
    hash.update(&key_pem);
    Ok((Arc::new(certified), hash.finalize().into()))
}

#[cfg(test)]
mod tests {
    use hypershift_testkit::TestCa;

    use super::*;

    #[test]
    fn pairs_load_reload_and_bad_pairs_keep_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        let ca = TestCa::new("t");
        let (c1, k1) = ca.issue(&["one.invalid"]);
        std::fs::write(&cert, &c1).unwrap();
        std::fs::write(&key, &k1).unwrap();
        let loaded = ReloadingCert::load(&cert, &key).unwrap();
        assert!(!loaded.reload().unwrap(), "unchanged files are not a reload");

        let (c2, k2) = ca.issue(&["two.invalid"]);
        // A certificate without its key: refused, the first pair stays.
        std::fs::write(&cert, &c2).unwrap();
        let err = loaded.reload().unwrap_err();
        assert!(matches!(err, TlsError::Mismatch { .. }), "{err}");
        assert!(!err.to_string().contains("BEGIN"), "{err}");
        std::fs::write(&key, &k2).unwrap();
        assert!(loaded.reload().unwrap());

        std::fs::write(&key, "not a key").unwrap();
        assert!(matches!(loaded.reload().unwrap_err(), TlsError::NoKey { .. }));
        std::fs::write(&cert, "nothing").unwrap();
        assert!(matches!(
            ReloadingCert::load(&cert, &key).unwrap_err(),
            TlsError::NoCertificate { .. }
        ));
        assert!(matches!(
            ReloadingCert::load(&dir.path().join("missing"), &key).unwrap_err(),
            TlsError::Read { .. }
        ));
    }
}
