//! CA bundles (PEM): checked once where they enter, with errors that never quote the bundle.
//!
//! A bundle is one or more `CERTIFICATE` blocks; other blocks and text between blocks are
//! ignored, as OpenSSL and Go's `x509.CertPool.AppendCertsFromPEM` do. Each certificate must
//! parse as an X.509 trust anchor. Errors say which block is wrong and how (by its position), and
//! never echo a line of the input: PEM parsers quote the offending line, and what reaches a
//! condition or a log must not carry input that may have been pasted from a Secret.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, PemObject as _};

/// Why a CA bundle was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaBundleError {
    #[error("no PEM certificate in it")]
    Empty,
    #[error("certificate {index}: a BEGIN line has no matching END line")]
    Unterminated { index: usize },
    #[error("certificate {index}: a malformed BEGIN line")]
    BadBegin { index: usize },
    #[error("certificate {index}: the body is not valid base64")]
    BadBase64 { index: usize },
    #[error("certificate {index}: larger than PEM allows")]
    TooLarge { index: usize },
    #[error("certificate {index}: not a valid X.509 certificate")]
    BadCertificate { index: usize },
}

/// The bundle's certificates (DER), or why it is not a usable bundle.
pub fn parse(bundle: &[u8]) -> Result<Vec<CertificateDer<'static>>, CaBundleError> {
    let mut out = Vec::new();
    for item in CertificateDer::pem_slice_iter(bundle) {
        let index = out.len() + 1;
        match item {
            Ok(der) => {
                let mut roots = rustls::RootCertStore::empty();
                if roots.add(der.clone()).is_err() {
                    return Err(CaBundleError::BadCertificate { index });
                }
                out.push(der);
            }
            Err(pem::Error::MissingSectionEnd { .. }) => return Err(CaBundleError::Unterminated { index }),
            Err(pem::Error::IllegalSectionStart { .. }) => return Err(CaBundleError::BadBegin { index }),
            Err(pem::Error::Base64Decode(_)) => return Err(CaBundleError::BadBase64 { index }),
            Err(pem::Error::SectionTooLarge) => return Err(CaBundleError::TooLarge { index }),
            // Reading from a slice does no IO, and the iterator does not report "no items".
            Err(_) => return Err(CaBundleError::BadCertificate { index }),
        }
    }
    if out.is_empty() {
        return Err(CaBundleError::Empty);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("../tests/data/ca.pem");

    #[test]
    fn a_bundle_of_certificates_with_text_between_them_is_read() {
        let two = format!("# one\n{CA}\nsome comment\n{CA}");
        assert_eq!(parse(two.as_bytes()).unwrap().len(), 2);
    }

    #[test]
    fn errors_name_the_block_not_its_content() {
        assert_eq!(parse(b"hello"), Err(CaBundleError::Empty));
        let cut = &CA[..CA.len() / 2];
        assert_eq!(
            parse(cut.as_bytes()),
            Err(CaBundleError::Unterminated { index: 1 })
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nc2VjcmV0IHZhbHVl!!!\n-----END CERTIFICATE-----\n";
        let err = parse(format!("{CA}{garbage}").as_bytes()).unwrap_err();
        assert_eq!(err, CaBundleError::BadBase64 { index: 2 });
        let not_x509 = "-----BEGIN CERTIFICATE-----\nc2VjcmV0IHZhbHVl\n-----END CERTIFICATE-----\n";
        assert_eq!(
            parse(not_x509.as_bytes()),
            Err(CaBundleError::BadCertificate { index: 1 })
        );
    }
}
