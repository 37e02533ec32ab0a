use clap::Parser;
use hypershift_mirrors::contract::{IMAGE_OVERRIDES_ENV, MirrorCarriers};
use hypershift_mirrors::{ImageOverrides, RegistryOverrides};
use proptest::prelude::*;

use super::*;
use crate::config::{AdminArgs, KubeArgs, RegistryArgs};

fn token_secret() -> TokenSecret {
    TokenSecret {
        name: "token-workers-1a2b3c4d".into(),
        namespace: "clusters-example".into(),
        node_pool: "clusters/workers".into(),
        token: "6f1c2a9e-1111-4222-8333-944445555666".into(),
        old_token: Some("0a0b0c0d-1111-4222-8333-944445555666".into()),
        generated_at: "2026-12-01T10:00:00Z".parse().unwrap(),
        expires_at: None,
        release: "quay.invalid/openshift-release-dev/ocp-release@sha256:aa".into(),
        config: "kind: ImageDigestMirrorSet\n---\nkind: MachineConfig\n".into(),
        config_hash: "1a2b3c4d".into(),
        pull_secret_hash: hash_simple(b"{}"),
        additional_trust_bundle_hash: hash_simple(b""),
        hc_configuration_hash: hash_simple(b""),
        upgrade_type: "Replace".into(),
    }
}

#[test]
fn hash_simple_matches_hypershift() {
    // Vectors from spec/olm-dataplane-ignition.md §0.1.
    assert_eq!(hash_simple(b""), "811c9dc5");
    assert_eq!(hash_simple(b"test-ca-bundle"), "196fecff");
    assert_eq!(
        hash_simple(b"test config4.7.0pull-secrettrust-bundleglobal config"),
        "bb196408"
    );
}

#[test]
fn compress_and_encode_round_trips() {
    let encoded = compress_and_encode(b"kind: MachineConfig\n");
    assert_eq!(
        decode_and_decompress(encoded.as_bytes()).unwrap(),
        b"kind: MachineConfig\n"
    );
    assert_eq!(compress_and_encode(b""), "");
    assert_eq!(decode_and_decompress(b"").unwrap(), b"");
    assert_eq!(decode_and_decompress(b"not base64!"), None);
    assert_eq!(decode_and_decompress(b"aGVsbG8="), None, "base64 but not gzip");
}

#[test]
fn a_token_secret_reads_back_as_written() {
    let t = token_secret();
    let secret = t.to_secret("hypershift-operator");
    assert_eq!(TokenSecret::from_secret(&secret).unwrap(), t);
    let labels = secret.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[keys::NODE_POOL_LABEL], "workers");
    assert_eq!(labels[crate::meta::MANAGED_BY_LABEL], "hypershift-operator");
    let annotations = secret.metadata.annotations.as_ref().unwrap();
    assert_eq!(annotations[keys::IGNITION_CONFIG_ANNOTATION], "true");
    assert_eq!(
        annotations[keys::TOKEN_GENERATION_ANNOTATION],
        "2026-12-01T10:00:00Z"
    );
    assert!(!annotations.contains_key(keys::TOKEN_EXPIRATION_ANNOTATION));
    let expiring = TokenSecret {
        expires_at: Some("2026-12-01T12:00:00Z".parse().unwrap()),
        old_token: None,
        ..t
    };
    assert_eq!(
        TokenSecret::from_secret(&expiring.to_secret("m")).unwrap(),
        expiring
    );
}

#[test]
fn a_malformed_token_secret_is_named_by_secret_and_key() {
    let mut s = token_secret().to_secret("m");
    s.data.as_mut().unwrap().remove("token");
    assert_eq!(
        TokenSecret::from_secret(&s).unwrap_err().to_string(),
        "token Secret clusters-example/token-workers-1a2b3c4d has no \"token\" key"
    );
    let mut s = token_secret().to_secret("m");
    s.data
        .as_mut()
        .unwrap()
        .insert("config".into(), ByteString(b"plain text".to_vec()));
    assert_eq!(
        TokenSecret::from_secret(&s).unwrap_err(),
        TokenSecretError::NotCompressed {
            secret: "clusters-example/token-workers-1a2b3c4d".into(),
            key: "config"
        }
    );
    let mut s = token_secret().to_secret("m");
    s.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(keys::TOKEN_GENERATION_ANNOTATION.into(), "yesterday".into());
    assert!(matches!(
        TokenSecret::from_secret(&s),
        Err(TokenSecretError::BadTime { .. })
    ));
}

#[test]
fn debug_never_shows_tokens() {
    let text = format!("{:?}", token_secret());
    assert!(!text.contains("6f1c2a9e") && !text.contains("0a0b0c0d"), "{text}");
}

#[test]
fn the_payload_status_patch_is_read_back_by_the_node_pool_side() {
    let mut secret = token_secret().to_secret("m");
    assert_eq!(PayloadStatus::from_secret(&secret), None);
    let status = PayloadStatus {
        reason: "InvalidConfig".into(),
        message: "failed to decode and decompress config".into(),
    };
    let patched: Secret = serde_json::from_value(status.to_merge_patch()).unwrap();
    secret.data.as_mut().unwrap().extend(patched.data.unwrap());
    assert_eq!(PayloadStatus::from_secret(&secret), Some(status));
    assert!(PayloadStatus::generated().is_generated());
}

/// What the control-plane-operator's and the ignition-server's command lines are parsed with:
/// the shared flag groups they flatten, plus their own flags (the binaries' own round-trip tests
/// use their real `Cli`).
#[derive(Debug, Parser)]
struct Receiving {
    #[arg(value_parser = ["run", "start"])]
    command: String,
    #[arg(long)]
    namespace: String,
    #[arg(long)]
    hosted_control_plane: Option<String>,
    #[arg(long)]
    addr: Option<SocketAddr>,
    #[arg(long)]
    cert_file: Option<String>,
    #[arg(long)]
    key_file: Option<String>,
    #[command(flatten)]
    kube: KubeArgs,
    #[command(flatten)]
    admin: AdminArgs,
    #[command(flatten)]
    registry: RegistryArgs,
}

fn carriers(flag: &str, env: &str) -> MirrorCarriers {
    MirrorCarriers {
        registry_overrides: RegistryOverrides::parse_flag(flag).unwrap(),
        image_overrides: ImageOverrides::parse_env(env).unwrap_or_default(),
    }
}

#[test]
fn the_command_lines_round_trip_through_the_receiving_flag_groups() {
    for (flag, env) in [
        ("=", "="),
        (
            "quay.invalid/openshift=mirror.invalid/ocp",
            "quay.invalid/a=m1.invalid/a,quay.invalid/a=m2.invalid/a",
        ),
        ("a.invalid=b.invalid,c.invalid/x=d.invalid/y", "="),
    ] {
        let cpo = ControlPlaneOperatorArgs {
            namespace: "clusters-example".into(),
            hosted_control_plane: "example".into(),
            admin_addr: "0.0.0.0:8080".parse().unwrap(),
            carriers: carriers(flag, env),
            registry_ca_bundle: Some("/etc/pki/registry-ca/ca-bundle.crt".into()),
        };
        let args = cpo.to_args();
        assert!(args.contains(&format!("--registry-overrides={flag}")), "{args:?}");
        let parsed =
            Receiving::try_parse_from(std::iter::once("control-plane-operator".to_owned()).chain(args))
                .unwrap();
        assert_eq!(parsed.command, "run");
        assert_eq!(parsed.namespace, cpo.namespace);
        assert_eq!(parsed.hosted_control_plane.as_deref(), Some("example"));
        assert_eq!(parsed.admin.admin_addr, Some(cpo.admin_addr));
        assert_eq!(
            parsed.registry.registry_ca_bundle.as_deref(),
            Some(std::path::Path::new("/etc/pki/registry-ca/ca-bundle.crt"))
        );
        let back = MirrorCarriers::receive(
            Some(&cpo.image_overrides_env()),
            &parsed.registry.registry_overrides,
        )
        .unwrap();
        assert_eq!(back, cpo.carriers);

        let ign = IgnitionServerArgs {
            namespace: "clusters-example".into(),
            addr: "0.0.0.0:9090".parse().unwrap(),
            cert_file: "/var/run/secrets/ignition/serving-cert/tls.crt".into(),
            key_file: "/var/run/secrets/ignition/serving-cert/tls.key".into(),
            admin_addr: "0.0.0.0:8081".parse().unwrap(),
            carriers: carriers(flag, env),
            registry_ca_bundle: None,
        };
        let args = ign.to_args();
        let at = args.iter().position(|a| a == "--registry-overrides").unwrap();
        assert_eq!(args[at + 1], flag, "two arguments, as upstream renders them");
        let parsed =
            Receiving::try_parse_from(std::iter::once("ignition-server".to_owned()).chain(args)).unwrap();
        assert_eq!(parsed.command, "start");
        assert_eq!(parsed.addr, Some(ign.addr));
        assert_eq!(parsed.cert_file.as_deref(), Some(ign.cert_file.as_str()));
        assert_eq!(parsed.registry.registry_ca_bundle, None);
        let back = MirrorCarriers::receive(
            Some(&ign.image_overrides_env()),
            &parsed.registry.registry_overrides,
        )
        .unwrap();
        assert_eq!(back, ign.carriers);
    }
    assert_eq!(IMAGE_OVERRIDES_ENV, "OPENSHIFT_IMG_OVERRIDES");
}

/// Every window of 4 or more characters of `secret` that appears in `message`.
fn leaked<'a>(secret: &'a str, message: &str) -> Option<&'a str> {
    let chars: Vec<(usize, char)> = secret.char_indices().collect();
    (0..chars.len()).find_map(|i| {
        let end = chars.get(i + 4).map_or(secret.len(), |(e, _)| *e);
        (i + 4 <= chars.len())
            .then(|| &secret[chars[i].0..end])
            .filter(|w| message.contains(w))
    })
}

fn secret_value() -> impl Strategy<Value = String> {
    // Secret material: long random strings from an alphabet that never spells the fixed words of
    // our messages.
    "[0-9QXZqxz+/=]{8,40}"
}

proptest! {
    #[test]
    fn malformed_token_secrets_never_leak_a_value(
        token in secret_value(),
        old in secret_value(),
        config in prop::collection::vec(any::<u8>(), 0..64),
        release in secret_value(),
        generation in secret_value(),
        drop_key in 0usize..5,
        bad_utf8 in any::<bool>(),
    ) {
        let mut s = token_secret().to_secret("m");
        let data = s.data.as_mut().unwrap();
        data.insert("token".into(), ByteString(token.clone().into_bytes()));
        data.insert("old_token".into(), ByteString(old.clone().into_bytes()));
        data.insert("release".into(), ByteString(release.clone().into_bytes()));
        data.insert("config".into(), ByteString(config));
        if bad_utf8 {
            let mut b = token.clone().into_bytes();
            b.push(0xff);
            data.insert("token".into(), ByteString(b));
        }
        let key = ["token", "old_token", "release", "config", "config-hash"][drop_key];
        data.remove(key);
        s.metadata.annotations.as_mut().unwrap().insert(keys::TOKEN_GENERATION_ANNOTATION.into(), generation.clone());
        if let Err(e) = TokenSecret::from_secret(&s) {
            let message = e.to_string();
            for value in [&token, &old, &release] {
                prop_assert!(leaked(value, &message).is_none(), "{message} leaks {value}");
            }
        }
    }

    #[test]
    fn malformed_ca_bundles_never_leak_their_content(
        body in "[0-9QXZqxz+/=!]{8,200}",
        prefix in "[0-9QXZqxz]{8,40}",
        shape in 0usize..4,
    ) {
        let text = match shape {
            0 => format!("{prefix}\n-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"),
            1 => format!("-----BEGIN CERTIFICATE-----\n{body}\n"),
            2 => format!("-----BEGIN CERTIFICATE {prefix}\n{body}\n-----END CERTIFICATE-----\n"),
            _ => format!("{prefix}{body}"),
        };
        if let Err(e) = crate::ca_bundle::parse(text.as_bytes()) {
            let message = e.to_string();
            prop_assert!(leaked(&body, &message).is_none(), "{message}");
            prop_assert!(leaked(&prefix, &message).is_none(), "{message}");
        }
    }
}
