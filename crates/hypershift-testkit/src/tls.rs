//! A throwaway certificate authority for loopback TLS servers in tests.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA that issues serving certificates for `127.0.0.1` and `localhost`.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (PEM), what clients trust.
    pub ca_pem: String,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

impl TestCa {
    /// A new CA.
    ///
    /// # Panics
    /// If key generation fails (never, with ring).
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("empty SAN list");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("generate a CA key");
        let cert = params.self_signed(&key).expect("self-sign the CA");
        Self {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A serving certificate and its key (both PEM) for `names` (DNS names or IP addresses).
    ///
    /// # Panics
    /// If a name is not a valid DNS name or IP address.
    pub fn issue(&self, names: &[&str]) -> (String, String) {
        let mut params = CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
            .expect("valid SAN names");
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or("server"));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("generate a key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("sign the certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Whether rustls' own verifier (webpki, what our clients use) accepts the certificate `cert_pem`
/// (its first certificate) for the server name `name`, trusting only `ca_pem`.
///
/// # Panics
/// When either PEM holds no certificate.
pub fn accepted_for(ca_pem: &[u8], cert_pem: &[u8], name: &str) -> bool {
    use rustls::client::danger::ServerCertVerifier as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(der.expect("a CA certificate")).expect("a usable CA");
    }
    let leaf = CertificateDer::pem_slice_iter(cert_pem)
        .next()
        .expect("a certificate")
        .expect("a PEM certificate");
    let Ok(server_name) = ServerName::try_from(name.to_owned()) else {
        return false;
    };
    rustls::client::WebPkiServerVerifier::builder_with_provider(
        std::sync::Arc::new(roots),
        std::sync::Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .expect("a verifier")
    .verify_server_cert(&leaf, &[], &server_name, &[], UnixTime::now())
    .is_ok()
}

/// One HTTPS/1.1 request to `addr` (`127.0.0.1:PORT`) trusting only `ca_pem`, as server name
/// `name`: (status, headers text, body). `Connection: close`, so the body is what follows the
/// headers.
///
/// # Errors
/// When the connection, the handshake or the exchange fails.
pub async fn https_get(
    addr: &str,
    ca_pem: &[u8],
    name: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    use anyhow::Context as _;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut roots = rustls::RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(der.context("a CA certificate")?)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let mut tls = connector
        .connect(ServerName::try_from(name.to_owned())?, tcp)
        .await
        .context("TLS handshake")?;
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(k);
        request.push_str(": ");
        request.push_str(v);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tls.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    // A server closing without close_notify is still an answer for a test.
    let _ = tls.read_to_end(&mut out).await;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the answer")?;
    let head = String::from_utf8_lossy(&out[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status code")?;
    Ok((status, head, out[split + 4..].to_vec()))
}
