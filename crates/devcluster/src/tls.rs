//! TLS material: a CA (kept in the state directory, so a restarted server keeps the same trust
//! root and its kubeconfig stays valid) and a fresh serving certificate for `localhost`,
//! `127.0.0.1` and `::1`, signed by it; plus the rustls server configuration (ring, TLS 1.2 and
//! 1.3, ALPN `h2` and `http/1.1`).

use std::path::Path;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::error::StartError;

/// The CA and the serving certificate.
#[derive(Debug)]
pub struct Pki {
    /// CA certificate, PEM (what clients trust).
    pub ca_pem: String,
    cert_der: CertificateDer<'static>,
    key_der: Vec<u8>,
}

fn tls_err(e: impl std::fmt::Display) -> StartError {
    StartError::Tls(e.to_string())
}

fn ca_params() -> Result<CertificateParams, StartError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(tls_err)?;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::CommonName, "devcluster CA");
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(p)
}

pub(crate) fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file_err = |source| StartError::File {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(file_err)?;
    f.write_all(contents.as_bytes()).map_err(file_err)
}

/// Loads the CA from `dir` (or creates and saves one) and issues a serving certificate.
pub fn load_or_create(dir: &Path) -> Result<Pki, StartError> {
    let (ca_crt, ca_key) = (dir.join("ca.crt"), dir.join("ca.key"));
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| StartError::File {
            action: "read",
            path: p.to_path_buf(),
            source,
        })
    };
    let (ca_pem, ca_key_pair) = if ca_crt.is_file() && ca_key.is_file() {
        (
            read(&ca_crt)?,
            KeyPair::from_pem(&read(&ca_key)?).map_err(tls_err)?,
        )
    } else {
        let key = KeyPair::generate().map_err(tls_err)?;
        let cert = ca_params()?.self_signed(&key).map_err(tls_err)?;
        let pem = cert.pem();
        write_private(&ca_key, &key.serialize_pem())?;
        std::fs::write(&ca_crt, &pem).map_err(|source| StartError::File {
            action: "write",
            path: ca_crt.clone(),
            source,
        })?;
        (pem, key)
    };
    // The issuer is rebuilt from the same parameters and key, so certificates chain to the saved CA.
    let issuer = Issuer::new(ca_params()?, ca_key_pair);
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(tls_err)?;
    leaf.distinguished_name.push(DnType::CommonName, "devcluster");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let leaf_key = KeyPair::generate().map_err(tls_err)?;
    let cert = leaf.signed_by(&leaf_key, &issuer).map_err(tls_err)?;
    Ok(Pki {
        ca_pem,
        cert_der: cert.der().clone(),
        key_der: leaf_key.serialize_der(),
    })
}

/// The rustls server configuration for the serving certificate.
pub fn server_config(pki: &Pki) -> Result<Arc<rustls::ServerConfig>, StartError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone()));
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(tls_err)?
        .with_no_client_auth()
        .with_single_cert(vec![pki.cert_der.clone()], key)
        .map_err(tls_err)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_reused_from_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.ca_pem, second.ca_pem);
        assert_ne!(first.cert_der, second.cert_der, "serving certificates are fresh");
        server_config(&second).unwrap();
    }
}
