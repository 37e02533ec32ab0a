//! `standin`: see the library's documentation.

use std::process::ExitCode;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

/// Where an image names the component it carries.
const COMPONENT_FILE: &str = "/etc/standin/component";

#[allow(
    clippy::print_stdout,
    reason = "--version prints to stdout, as every binary does"
)]
fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1..) == Some(&["--version".to_owned()][..]) {
        println!("standin {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let argv0 = argv.first().cloned().unwrap_or_default();
    let image_component = std::fs::read_to_string(COMPONENT_FILE).ok();
    let component = standin::component(image_component.as_deref(), &argv0);
    eprintln!("{}", standin::log_line(&component, &argv));
    if standin::is_one_shot(&argv0) {
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("standin: {component}: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(serve(&component, &argv))
}

async fn serve(component: &str, argv: &[String]) -> ExitCode {
    // Installed before anything else: as PID 1 of a container, a signal without a handler is
    // ignored.
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    else {
        eprintln!("standin: {component}: cannot handle signals");
        return ExitCode::FAILURE;
    };
    let app = axum::Router::new().fallback(|| async { "ok\n" });
    for port in standin::listen_ports(argv) {
        match TcpListener::bind(("0.0.0.0", port)).await {
            Ok(listener) => {
                eprintln!("standin: {component}: answering probes on port {port}");
                let app = app.clone();
                tokio::spawn(async move { axum::serve(listener, app).await });
            }
            Err(e) => {
                eprintln!("standin: {component}: cannot listen on port {port}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let name = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    };
    eprintln!("standin: {component}: stopping on {name}");
    ExitCode::SUCCESS
}
