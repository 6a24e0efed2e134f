//! What the desktop app calls, against the emulator through the real SDK and WebSocket: a
//! terminal from StartSession to its end, a watched tunnel with live figures, Session documents
//! with their typed parameters, and a tunnel through a Port document of the account's own.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use airlock_core::aws::{Aws, StartRequest};
use airlock_core::monitor::{self, TunnelEvent};
use airlock_core::profiles::{Forward, Profile};
use airlock_core::session::{OpenError, PortDocument, TunnelSpec};
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
            if let Some(TunnelEvent::Figures { total: figures, .. }) = events.recv().await {
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

fn group_profile(node_port: u16, remote_port: u16) -> Profile {
    Profile {
        name: "stack".into(),
        aws_profile: None,
        region: None,
        target: WEB.into(),
        remote_port: node_port,
        remote_host: None,
        local_port: 0,
        bind: [127, 0, 0, 1].into(),
        sessions: 1,
        auto_start: false,
        keep_alive: false,
        more_forwards: vec![Forward {
            remote_port,
            remote_host: Some("127.0.0.1".into()),
            local_port: 0,
        }],
    }
}

async fn echo_through(addr: SocketAddr, size: usize) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let sent: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    stream.write_all(&sent).await.unwrap();
    let mut back = vec![0u8; size];
    within("the echo", stream.read_exact(&mut back)).await.unwrap();
    assert!(back == sent, "the echo through {addr} differs");
}

/// Waits for every session the service has seen to end, and returns them.
async fn all_ended(emulator: &RunningEmulator) -> Vec<ssm_emulator::service::SessionRecord> {
    let mut ended = Vec::new();
    for record in emulator.service().sessions() {
        ended.push(within("a session's end", emulator.service().session_ended(&record.id)).await);
    }
    ended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_starts_and_stops_together_with_each_forwards_figures() {
    let (emulator, aws) = emulator(Fleet::default_fleet()).await;
    let (on_node, behind) = (echo_server().await, echo_server().await);
    let profile = group_profile(on_node, behind);
    let group = within("the group", aws.forward_group(&profile.tunnel_specs())).await.unwrap();
    let lines: Vec<(SocketAddr, String)> =
        group.lines().into_iter().map(|(a, d)| (a, d.to_owned())).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].1, format!("{WEB} port {on_node}"));
    assert_eq!(lines[1].1, format!("127.0.0.1:{behind} through {WEB}"));
    assert_eq!(emulator.service().sessions().len(), 2, "a session a forward");

    let (handle, mut events) = monitor::watch(group);
    echo_through(lines[0].0, 3000).await;
    echo_through(lines[1].0, 5000).await;
    let forwards = within("figures of each forward", async {
        loop {
            if let Some(TunnelEvent::Figures { forwards, .. }) = events.recv().await {
                if forwards.iter().map(|f| f.figures.bytes_down).collect::<Vec<_>>() == [3000, 5000]
                {
                    return forwards;
                }
            }
        }
    })
    .await;
    assert_eq!(forwards[0].local_address, lines[0].0.to_string());
    assert_eq!(forwards[1].destination, lines[1].1);
    assert_eq!(forwards[1].figures.bytes_up, 5000);

    handle.stop().await;
    let ended = all_ended(&emulator).await;
    assert_eq!(ended.len(), 2);
    assert!(
        ended.iter().all(|r| r.reason.as_deref() == Some("Airlock profile stack")),
        "{ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_whose_second_forward_cannot_start_starts_none() {
    let (emulator, aws) = emulator(Fleet::default_fleet()).await;
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut profile = group_profile(echo_server().await, echo_server().await);
    profile.more_forwards[0].local_port = taken.local_addr().unwrap().port();
    let error = within("the group", aws.forward_group(&profile.tunnel_specs())).await.unwrap_err();
    assert_eq!((error.number, error.count), (2, 2));
    assert!(matches!(error.source, OpenError::PortInUse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(
        message.starts_with("forward 2 of 2 (127.0.0.1:")
            && message.ends_with("the group's other forwards were stopped"),
        "{message}"
    );
    let ended = all_ended(&emulator).await;
    assert_eq!(ended.len(), 1, "the first forward's session was started and ended: {ended:?}");
    let empty = aws.forward_group(&[]).await.unwrap_err();
    assert!(matches!(empty.source, OpenError::Invalid(_)), "{empty:?}");
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
