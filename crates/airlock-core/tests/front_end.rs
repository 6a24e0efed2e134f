//! What the desktop app calls, against the emulator through the real SDK and WebSocket: a
//! terminal from StartSession to its end, a watched tunnel with live figures, Session documents
//! with their typed parameters, and a tunnel through a Port document of the account's own.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use airlock_core::aws::{Aws, StartRequest};
use airlock_core::monitor::{self, TunnelEvent};
use airlock_core::session::{PortDocument, TunnelSpec};
use airlock_core::terminal::{open_terminal, Stage, TerminalEvent, TerminalState};
use ssm_emulator::fleet::{DocumentSpec, Fleet};
use ssm_emulator::testkit::echo_server;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use ssm_protocol::payload::TerminalSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001";

async fn emulator(fleet: Fleet) -> (RunningEmulator, Aws) {
    let emulator =
        Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap();
    let aws = Aws::direct(&common::far_side(&emulator)).unwrap();
    (emulator, aws)
}

async fn within<F: std::future::Future>(step: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.unwrap_or_else(|_| panic!("hung: {step}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_reports_its_stages_output_and_end() {
    let (emulator, aws) = emulator(Fleet::default_fleet()).await;
    let request = StartRequest { target: WEB.into(), ..StartRequest::default() };
    let (terminal, mut events, _done) = open_terminal(
        aws.clone(),
        request,
        aws.driver_config(),
        Some(TerminalSize { cols: 101, rows: 33 }),
    );
    let mut states = Vec::new();
    let mut screen = String::new();
    let mut typed = false;
    within("the shell's answer", async {
        while !screen.contains("33 101") || !screen.contains("42") {
            match events.recv().await.expect("the terminal's task stopped") {
                TerminalEvent::State(state) => {
                    if matches!(state, TerminalState::Connected { .. }) && !typed {
                        terminal.input(b"stty size; echo $((6*7))\n".to_vec());
                        typed = true;
                    }
                    assert!(!matches!(state, TerminalState::Ended { .. }), "{state:?}");
                    states.push(state);
                }
                TerminalEvent::Output(bytes) | TerminalEvent::Stderr(bytes) => {
                    terminal.ack(bytes.len());
                    screen.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
    })
    .await;
    assert_eq!(
        states[..3],
        [
            TerminalState::Connecting(Stage::StartingSession),
            TerminalState::Connecting(Stage::OpeningDataChannel),
            TerminalState::Connecting(Stage::WaitingForAgent)
        ],
        "the stages come in order"
    );
    let TerminalState::Connected { session_id, encrypted_with: None, .. } = &states[3] else {
        panic!("{states:?}")
    };
    terminal.close();
    let end = within("the end", async {
        loop {
            if let Some(TerminalEvent::State(state @ TerminalState::Ended { .. })) =
                events.recv().await
            {
                return state;
            }
        }
    })
    .await;
    assert!(matches!(end, TerminalState::Ended { by_user: true, .. }), "{end:?}");
    let record = emulator
        .service()
        .sessions()
        .into_iter()
        .find(|s| &s.id == session_id)
        .expect("the session is known");
    // The service records the end before the client hears channel_closed; the tab ends after
    // TerminateSession has returned, which may be before the agent has finished (Terminating).
    assert!(
        ["Terminating", "Terminated"].contains(&record.status.as_str()),
        "closing a tab terminates the session on the service, not {}",
        record.status.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_to_an_offline_node_ends_saying_what_to_do() {
    let (_emulator, aws) = emulator(Fleet::default_fleet()).await;
    let request = StartRequest { target: "i-0a1b2c3d4e5f60003".into(), ..StartRequest::default() };
    let (_terminal, mut events, _done) = open_terminal(
        aws.clone(),
        request,
        aws.driver_config(),
        Some(TerminalSize { cols: 80, rows: 24 }),
    );
    let end = within("the end", async {
        loop {
            if let Some(TerminalEvent::State(state @ TerminalState::Ended { .. })) =
                events.recv().await
            {
                return state;
            }
        }
    })
    .await;
    let TerminalState::Ended { reason, by_user: false, .. } = end else { panic!("{end:?}") };
    assert!(reason.contains("not connected to Session Manager"), "{reason}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_tunnel_reports_figures_and_its_end() {
    let (_emulator, aws) = emulator(Fleet::default_fleet()).await;
    let echo = echo_server().await;
    let spec = TunnelSpec {
        target: WEB.into(),
        remote_port: echo,
        remote_host: None,
        local: SocketAddr::from(([127, 0, 0, 1], 0)),
        sessions: 2,
        reason: None,
        document: None,
        keep_alive: None,
    };
    let tunnel = within("the tunnel", aws.forward(&spec)).await.unwrap();
    let (handle, mut events) = monitor::watch(tunnel);
    let mut stream = tokio::net::TcpStream::connect(handle.local_addr()).await.unwrap();
    stream.write_all(&[7u8; 5000]).await.unwrap();
    let mut back = vec![0u8; 5000];
    within("the echo", stream.read_exact(&mut back)).await.unwrap();
    let figures = within("figures showing the echo", async {
        loop {
            if let Some(TunnelEvent::Figures(figures)) = events.recv().await {
                if figures.bytes_down >= 5000 {
                    return figures;
                }
            }
        }
    })
    .await;
    assert_eq!(
        (figures.bytes_up, figures.open_connections, figures.live_sessions),
        (5000, 1, 2),
        "{figures:?}"
    );
    handle.stop().await;
    let end = within("the end", async {
        loop {
            match events.recv().await {
                Some(TunnelEvent::Ended { reason, by_user }) => return (reason, by_user),
                Some(_) => {}
                None => panic!("no end reported"),
            }
        }
    })
    .await;
    assert_eq!(end, ("stopped".to_owned(), true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_list_with_their_types_and_a_custom_port_document_forwards() {
    let mut fleet = Fleet::default_fleet();
    fleet.documents.push(DocumentSpec {
        name: "Team-Echo".into(),
        content: r#"{"schemaVersion": "1.0", "description": "The team's echo service", "sessionType": "Port",
          "parameters": {"portNumber": {"type": "String", "description": "Where it listens"}},
          "properties": {"portNumber": "{{ portNumber }}", "type": "LocalPortForwarding", "localPortNumber": "0"}}"#
            .into(),
    });
    let (_emulator, aws) = emulator(fleet).await;
    let documents = aws.list_session_documents().await.unwrap();
    let names: Vec<&str> = documents.iter().map(|d| d.name.as_str()).collect();
    assert!(
        names.contains(&"AWS-StartPortForwardingSessionToRemoteHost")
            && names.contains(&"Team-Echo"),
        "{names:?}"
    );
    assert_eq!(
        documents.last().map(|d| d.name.as_str()),
        Some("Team-Echo"),
        "the account's own come after Amazon's"
    );

    let remote = aws.document_details("AWS-StartPortForwardingSessionToRemoteHost").await.unwrap();
    assert_eq!(remote.session_type, "Port");
    let host = remote.parameters.iter().find(|p| p.name == "host").expect("a host parameter");
    assert_eq!(host.default, None, "host has no default: the form must ask for it");
    let team = aws.document_details("Team-Echo").await.unwrap();
    assert_eq!(
        (team.session_type.as_str(), team.description.as_str()),
        ("Port", "The team's echo service")
    );
    assert!(aws
        .document_details("No-Such-Document")
        .await
        .unwrap_err()
        .to_string()
        .contains("does not exist"));

    let echo = echo_server().await;
    let parameters =
        team.start_parameters(&HashMap::from([("portNumber".to_owned(), echo.to_string())]));
    let spec = TunnelSpec {
        target: WEB.into(),
        remote_port: 0,
        remote_host: None,
        local: SocketAddr::from(([127, 0, 0, 1], 0)),
        sessions: 1,
        reason: Some("custom document".into()),
        document: Some(PortDocument { name: "Team-Echo".into(), parameters }),
        keep_alive: None,
    };
    let tunnel = within("the tunnel", aws.forward(&spec)).await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(tunnel.local_addr()).await.unwrap();
    stream.write_all(b"through the team's document").await.unwrap();
    let mut back = [0u8; 27];
    within("the echo", stream.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"through the team's document");
    tunnel.stop().await;
}
