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
