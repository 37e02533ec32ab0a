//! A network namespace per pod, for real (root and iproute2, as a kubelet needs): two pods bind
//! the same port without colliding, a port bound in one is not reachable from the other, and the
//! node's loopback service is reached from inside each at the same `127.0.0.1:PORT`. Fails loudly
//! when `ip netns` cannot run.

#![allow(clippy::unwrap_used, reason = "a panic is the failure report")]

use std::io::{Read as _, Write as _};

use devcluster::runner::netns::PodNetwork;
use tokio::io::AsyncWriteExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_have_their_own_loopback_and_reach_the_node_s_services_on_theirs() {
    // The node's service: answers "node" to every connection.
    let node = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let node_port = node.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = node.accept().await {
            let _ = s.write_all(b"node\n").await;
        }
    });
    let pid = std::process::id();
    let a = PodNetwork::create(&format!("devcluster-test-a-{pid}"), &[node_port]).unwrap();
    let b = PodNetwork::create(&format!("devcluster-test-b-{pid}"), &[node_port]).unwrap();
    assert!(a.path().exists());
    assert_eq!(
        a.podman_network(),
        format!("ns:/run/netns/devcluster-test-a-{pid}")
    );

    // The same port in both pods.
    let in_a = a.bind(8080).unwrap();
    let _in_b = b.bind(8080).unwrap();
    assert!(a.bind(8080).is_err(), "a port is bound once per pod");
    // Reachable inside its own pod only.
    let _only_a = a.bind(9999).unwrap();
    a.connect(9999).unwrap();
    let refused = b.connect(9999).unwrap_err();
    assert!(refused.contains("refused"), "{refused}");
    let accept = std::thread::spawn(move || in_a.accept().map(|_| ()));
    a.connect(8080).unwrap();
    accept.join().unwrap().unwrap();

    // The node's service through each pod's loopback, on the node's port.
    for pod in [&a, &b] {
        let mut s = tokio::task::block_in_place(|| pod.connect(node_port)).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, "node\n");
        let _ = s.write_all(b"bye");
    }

    let path = a.path();
    drop(a);
    assert!(!path.exists(), "the namespace is deleted with its pod");
}
