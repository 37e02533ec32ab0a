//! The ignition server's CA and serving certificate.
//!
//! Generated once and kept in Secrets; reused on every reconcile so that rendering stays
//! deterministic. The serving certificate is issued again only when its names change, its CA
//! changes, or it has less than 30 days left. Key generation and "today" happen here, in the
//! dereference step, never in the builders.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::{Timestamp, ToSpan as _};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};

/// Annotation: the names the serving certificate was issued for.
pub const NAMES_ANNOTATION: &str = "hypershift.openshift.io/serving-cert-names";
/// Annotation: the last day it is valid.
pub const NOT_AFTER_ANNOTATION: &str = "hypershift.openshift.io/serving-cert-not-after";
/// Annotation: the hash of the CA that signed it.
pub const CA_ANNOTATION: &str = "hypershift.openshift.io/serving-cert-ca-hash";

/// The ignition server's PKI as PEM text. `Debug` never shows the private keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IgnitionPki {
    pub ca_cert: String,
    pub ca_key: String,
    pub serving_cert: String,
    pub serving_key: String,
    /// Annotations recorded on the serving-certificate Secret.
    pub serving_names: String,
    pub serving_not_after: String,
}

impl std::fmt::Debug for IgnitionPki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IgnitionPki")
            .field("serving_names", &self.serving_names)
            .field("serving_not_after", &self.serving_not_after)
            .finish_non_exhaustive()
    }
}

impl IgnitionPki {
    /// The annotations that let the next reconcile decide whether to reuse the certificate.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (NAMES_ANNOTATION.to_owned(), self.serving_names.clone()),
            (NOT_AFTER_ANNOTATION.to_owned(), self.serving_not_after.clone()),
            (
                CA_ANNOTATION.to_owned(),
                hypershift_mirrors::sha256_digest(self.ca_cert.as_bytes()),
            ),
        ])
    }

    /// Reuses what the Secrets hold when still good, otherwise generates what is missing.
    pub fn reconcile(
        ca: Option<&Secret>,
        serving: Option<&Secret>,
        names: &[String],
        now: Timestamp,
    ) -> Result<Self, String> {
        let today = now.to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC).date();
        let (ca_cert, ca_key) = match tls_pair(ca) {
            Some(pair) => pair,
            None => generate_ca(today)?,
        };
        let wanted_names = names.join(",");
        let annotations = serving.and_then(|s| s.metadata.annotations.as_ref());
        let annotation = |k: &str| annotations.and_then(|a| a.get(k)).cloned().unwrap_or_default();
        let fresh = annotation(NOT_AFTER_ANNOTATION)
            .parse::<Date>()
            .ok()
            .and_then(|not_after| today.checked_add(30.days()).ok().map(|limit| not_after > limit))
            .unwrap_or(false);
        if let Some((serving_cert, serving_key)) = tls_pair(serving)
            && fresh
            && annotation(NAMES_ANNOTATION) == wanted_names
            && annotation(CA_ANNOTATION) == hypershift_mirrors::sha256_digest(ca_cert.as_bytes())
        {
            let serving_not_after = annotation(NOT_AFTER_ANNOTATION);
            return Ok(Self {
                ca_cert,
                ca_key,
                serving_cert,
                serving_key,
                serving_names: wanted_names,
                serving_not_after,
            });
        }
        let (serving_cert, serving_key, not_after) = issue(&ca_cert, &ca_key, names, today)?;
        Ok(Self {
            ca_cert,
            ca_key,
            serving_cert,
            serving_key,
            serving_names: wanted_names,
            serving_not_after: not_after.to_string(),
        })
    }
}

fn tls_pair(secret: Option<&Secret>) -> Option<(String, String)> {
    let data = secret?.data.as_ref()?;
    let text = |k: &str| {
        data.get(k)
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .filter(|s| !s.is_empty())
    };
    Some((text("tls.crt")?, text("tls.key")?))
}

/// Sets a certificate's validity to whole days, from `from` to `to`.
fn validity(params: &mut CertificateParams, from: Date, to: Date) -> Result<(), String> {
    let ymd = |d: Date| -> Result<(i32, u8, u8), String> {
        Ok((
            i32::from(d.year()),
            u8::try_from(d.month()).map_err(|e| e.to_string())?,
            u8::try_from(d.day()).map_err(|e| e.to_string())?,
        ))
    };
    let ((y1, m1, d1), (y2, m2, d2)) = (ymd(from)?, ymd(to)?);
    params.not_before = date_time_ymd(y1, m1, d1);
    params.not_after = date_time_ymd(y2, m2, d2);
    Ok(())
}

fn generate_ca(today: Date) -> Result<(String, String), String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ignition-server-ca");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(
        &mut params,
        today.checked_sub(1.day()).map_err(|e| e.to_string())?,
        today.checked_add(10.years()).map_err(|e| e.to_string())?,
    )?;
    let key = KeyPair::generate().map_err(|e| format!("cannot generate the CA key: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot sign the CA: {e}"))?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn issue(
    ca_cert: &str,
    ca_key: &str,
    names: &[String],
    today: Date,
) -> Result<(String, String, Date), String> {
    let ca_key = KeyPair::from_pem(ca_key).map_err(|e| format!("ignition-server CA key: {e}"))?;
    let issuer = Issuer::from_ca_cert_pem(ca_cert, ca_key)
        .map_err(|e| format!("ignition-server CA certificate: {e}"))?;
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(|e| format!("serving certificate names {names:?}: {e}"))?;
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().map_or("ignition-server", String::as_str),
    );
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let not_after = today.checked_add(2.years()).map_err(|e| e.to_string())?;
    validity(
        &mut params,
        today.checked_sub(1.day()).map_err(|e| e.to_string())?,
        not_after,
    )?;
    let key = KeyPair::generate().map_err(|e| format!("cannot generate the serving key: {e}"))?;
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(|e| format!("cannot sign the serving certificate: {e}"))?;
    Ok((cert.pem(), key.serialize_pem(), not_after))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use k8s_openapi::ByteString;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    use super::*;

    fn secret(cert: &str, key: &str, annotations: BTreeMap<String, String>) -> Secret {
        Secret {
            metadata: ObjectMeta {
                annotations: Some(annotations),
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([
                ("tls.crt".to_owned(), ByteString(cert.as_bytes().to_vec())),
                ("tls.key".to_owned(), ByteString(key.as_bytes().to_vec())),
            ])),
            ..Secret::default()
        }
    }

    #[test]
    fn generated_once_then_reused_until_names_change() {
        let names = vec![
            "ignition-server.clusters-a.svc".to_owned(),
            "127.0.0.1".to_owned(),
        ];
        let now = Timestamp::now();
        let first = IgnitionPki::reconcile(None, None, &names, now).unwrap();
        assert!(first.ca_cert.contains("BEGIN CERTIFICATE") && first.serving_key.contains("PRIVATE KEY"));
        assert!(
            !format!("{first:?}").contains("PRIVATE KEY"),
            "Debug shows no key"
        );
        let ca = secret(&first.ca_cert, &first.ca_key, BTreeMap::new());
        let serving = secret(&first.serving_cert, &first.serving_key, first.annotations());
        assert_eq!(
            IgnitionPki::reconcile(Some(&ca), Some(&serving), &names, now).unwrap(),
            first
        );

        let renamed = IgnitionPki::reconcile(Some(&ca), Some(&serving), &names[..1], now).unwrap();
        assert_eq!(renamed.ca_cert, first.ca_cert, "the CA is kept");
        assert_ne!(
            renamed.serving_cert, first.serving_cert,
            "a new certificate for the new names"
        );

        let expiring = BTreeMap::from([
            (NAMES_ANNOTATION.to_owned(), names.join(",")),
            (NOT_AFTER_ANNOTATION.to_owned(), "2000-01-01".to_owned()),
            (
                CA_ANNOTATION.to_owned(),
                hypershift_mirrors::sha256_digest(first.ca_cert.as_bytes()),
            ),
        ]);
        let old = secret(&first.serving_cert, &first.serving_key, expiring);
        assert_ne!(
            IgnitionPki::reconcile(Some(&ca), Some(&old), &names, now)
                .unwrap()
                .serving_cert,
            first.serving_cert
        );
    }

    fn accepted_for(pki: &IgnitionPki, name: &str) -> bool {
        hypershift_testkit::accepted_for(pki.ca_cert.as_bytes(), pki.serving_cert.as_bytes(), name)
    }

    #[test]
    fn the_serving_certificate_names_the_published_address() {
        let published = crate::hostedcluster::validate::serving_names("clusters-a", Some("127.0.0.2"));
        let pki = IgnitionPki::reconcile(None, None, &published, Timestamp::now()).unwrap();
        assert!(
            accepted_for(&pki, "127.0.0.2"),
            "the NodePort address, as an IP SAN"
        );
        assert!(accepted_for(&pki, "ignition-server.clusters-a.svc"));
        assert!(!accepted_for(&pki, "127.0.0.3"));
        assert!(!accepted_for(&pki, "127.0.0.1"), "no loopback name by default");
        let route = crate::hostedcluster::validate::serving_names(
            "clusters-a",
            Some("ignition.apps.example.invalid"),
        );
        let pki = IgnitionPki::reconcile(None, None, &route, Timestamp::now()).unwrap();
        assert!(accepted_for(&pki, "ignition.apps.example.invalid"));
    }
}
