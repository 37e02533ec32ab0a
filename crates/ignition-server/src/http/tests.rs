//! The router without a cluster or a socket: the auth matrix, paths, methods, headers.

use axum::body::to_bytes;
use axum::http::Request;
use base64::Engine as _;
use tower::ServiceExt as _;

use super::*;
use crate::store::Payload;

const TOKEN: &str = "0b7e8e52-6b0a-4a3b-9d44-3f1b5b7a1c11";

fn state() -> (
    HttpState,
    mpsc::UnboundedReceiver<String>,
    prometheus_client::registry::Registry,
) {
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = Metrics::register(&mut registry);
    let (tx, rx) = mpsc::unbounded_channel();
    let store = PayloadStore::default();
    store.set(
        Arc::new(Payload {
            bytes: br#"{"ignition":{"version":"3.2.0"}}"#.to_vec().into(),
            digest: "sha256:x".into(),
            node_pool: "clusters/workers".into(),
            secret: "token-workers-abcd1234".into(),
            uid: "u".into(),
            inputs: "i".into(),
        }),
        &[TOKEN],
        None,
    );
    (
        HttpState {
            store,
            metrics,
            reached: tx,
        },
        rx,
        registry,
    )
}

fn bearer(token: &str) -> String {
    format!(
        "Bearer {}",
        base64::engine::general_purpose::STANDARD.encode(token)
    )
}

async fn call(
    state: &HttpState,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (parts, body) = response.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap();
    (
        parts.status,
        parts.headers,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn exposition(registry: &prometheus_client::registry::Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

#[tokio::test]
async fn a_known_token_gets_its_payload_and_is_reported_once() {
    let (state, mut reached, registry) = state();
    let auth = bearer(TOKEN);
    for path in ["/ignition", "/ignition?arch=x86_64", "/ignitionfoo"] {
        let (status, headers, body) = call(
            &state,
            "GET",
            path,
            &[
                ("Authorization", &auth),
                ("NodePool", "clusters/workers"),
                ("TargetConfigVersionHash", "abcd1234"),
            ],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json; charset=utf-8");
        assert_eq!(body, r#"{"ignition":{"version":"3.2.0"}}"#);
    }
    // Without the NodePool header (an older pointer config) the token alone decides.
    let (status, _, _) = call(&state, "GET", "/ignition", &[("Authorization", &auth)]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = call(&state, "HEAD", "/ignition", &[("Authorization", &auth)]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, ""));
    assert_eq!(reached.try_recv().unwrap(), "token-workers-abcd1234");
    assert!(reached.try_recv().is_err(), "reported once");
    assert!(exposition(&registry).contains(r#"ign_server_get_request_total{nodePool="clusters/workers"} 5"#));
}

#[tokio::test]
async fn every_refusal_is_the_same_401_without_detail() {
    let (state, mut reached, registry) = state();
    let other = bearer("6f3c7a4e-0000-4000-8000-000000000000");
    let good = bearer(TOKEN);
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("missing", vec![]),
        ("basic", vec![("Authorization", "Basic dXNlcjpwYXNz")]),
        ("lowercase scheme", vec![("Authorization", "bearer x")]),
        ("empty", vec![("Authorization", "Bearer ")]),
        ("not base64", vec![("Authorization", "Bearer !!!")]),
        ("unpadded", vec![("Authorization", "Bearer YWJj=")]),
        (
            "raw token, not base64 of it",
            vec![("Authorization", "Bearer 0b7e8e52-6b0a-4a3b-9d44-3f1b5b7a1c11")],
        ),
        ("unknown", vec![("Authorization", other.as_str())]),
        (
            "another pool",
            vec![("Authorization", good.as_str()), ("NodePool", "clusters/other")],
        ),
    ];
    for (what, headers) in &cases {
        let (status, h, body) = call(&state, "GET", "/ignition", headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(body, "Unauthorized\n", "{what}");
        assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
        assert!(!body.contains("ignition") && !body.contains("workers"));
    }
    assert!(reached.try_recv().is_err());
    let text = exposition(&registry);
    for reason in ["no_bearer", "bad_encoding", "unknown_token", "node_pool_mismatch"] {
        assert!(
            text.contains(&format!("ign_server_unauthorized_total{{reason=\"{reason}\"}}")),
            "{reason}\n{text}"
        );
    }
    // An expired Secret's token opens nothing.
    let past: Timestamp = "2020-01-01T00:00:00Z".parse().unwrap();
    let payload = state.store.payload_of("token-workers-abcd1234").unwrap();
    state.store.set(payload, &[TOKEN], Some(past));
    let (status, _, _) = call(&state, "GET", "/ignition", &[("Authorization", &good)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn paths_methods_and_bodies() {
    let (state, _rx, _registry) = state();
    let auth = bearer(TOKEN);
    for path in ["/", "/ignition/", "/ignition/x", "/other", "/healthz/"] {
        let (status, _, body) = call(&state, "GET", path, &[("Authorization", &auth)]).await;
        assert_eq!(
            (status, body.as_str()),
            (StatusCode::NOT_FOUND, "404 page not found\n"),
            "{path}"
        );
    }
    for method in ["GET", "POST", "DELETE"] {
        let (status, _, body) = call(&state, method, "/healthz", &[]).await;
        assert_eq!((status, body.as_str()), (StatusCode::OK, ""), "{method}");
    }
    let (status, headers, _) = call(&state, "POST", "/ignition", &[("Authorization", &auth)]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(headers[header::ALLOW], "GET, HEAD");
    let (status, _, _) = call(
        &state,
        "GET",
        "/ignition",
        &[("Authorization", &auth), ("Content-Length", "5")],
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[test]
fn the_path_rule_is_upstreams() {
    for (path, ok) in [
        ("/ignition", true),
        ("/ignitionfoo", true),
        ("/ignition.json", true),
        ("/ignition/", false),
        ("/ignition/x", false),
        ("/Ignition", false),
        ("/x/ignition", false),
    ] {
        assert_eq!(is_payload_path(path), ok, "{path}");
    }
}
