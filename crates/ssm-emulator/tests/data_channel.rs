//! The agent end of the data channel against Airlock's own driver, over real WebSockets, a real
//! pty and real TCP: shells, commands, multiplexed and basic tunnels, and tunnels under drop,
//! duplication, reordering and socket kills with resume. The control plane is not involved here
//! (tests/api.rs covers it); sessions are registered directly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::datachannel::{
    self, Command, DriverConfig, Ending, Endpoint, Notice, Resume, ResumeFuture, SessionChannel,
};
use airlock_core::network::{Network, NetworkSettings, TrustSettings};
use airlock_core::tunnel::Tunnel;
use ssm_emulator::agent::socket::{routes, Attached, DataChannelState, SessionDirectory};
use ssm_emulator::agent::{self, AgentSpec, SessionHandle};
use ssm_emulator::faults::{DirectionFaults, FaultConfig, Faults};
use ssm_emulator::metrics::Metrics;
use ssm_emulator::testkit::{transfer_client, transfer_server};
use ssm_emulator::tls::Authority;
use ssm_protocol::handshake::{PortMode, SessionKind};
use ssm_protocol::payload::TerminalSize;
use tokio::net::TcpListener;

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(240);

struct Entry {
    token: String,
    spec: AgentSpec,
    handle: Option<SessionHandle>,
}

#[derive(Default)]
struct Directory {
    sessions: Mutex<HashMap<String, Entry>>,
    metrics: Arc<Metrics>,
    next_token: Mutex<u64>,
}

impl Directory {
    fn add(&self, id: &str, spec: AgentSpec) -> String {
        let token = self.fresh_token();
        self.sessions
            .lock()
            .unwrap()
            .insert(id.into(), Entry { token: token.clone(), spec, handle: None });
        token
    }

    fn fresh_token(&self) -> String {
        let mut n = self.next_token.lock().unwrap();
        *n += 1;
        format!("token-{n}")
    }

    /// What ResumeSession does: a new token for a live session.
    fn rotate(&self, id: &str) -> Option<String> {
        let token = self.fresh_token();
        let mut sessions = self.sessions.lock().unwrap();
        let entry = sessions.get_mut(id)?;
        if entry.handle.as_ref().is_some_and(|h| !h.is_running()) {
            return None; // as the service answers for a session that has ended
        }
        entry.token = token.clone();
        Some(token)
    }
}

impl SessionDirectory for Directory {
    fn attach(&self, session_id: &str, token: &str) -> Result<Attached, String> {
        let mut sessions = self.sessions.lock().unwrap();
        let entry = sessions.get_mut(session_id).ok_or("no such session")?;
        if entry.token != token {
            return Err("the token is not valid for this session".into());
        }
        let handle = match &entry.handle {
            Some(handle) => handle.clone(),
            None => {
                let handle = agent::spawn(entry.spec.clone(), self.metrics.clone(), |_| {});
                entry.handle = Some(handle.clone());
                handle
            }
        };
        Ok(Attached { handle, rate_limited: false })
    }
}

struct DirectoryResume(Arc<Directory>);

impl Resume for DirectoryResume {
    fn resume<'a>(&'a mut self, session_id: &'a str) -> ResumeFuture<'a> {
        Box::pin(async move { Ok(self.0.rotate(session_id)) })
    }
}

struct Emulator {
    addr: SocketAddr,
    directory: Arc<Directory>,
    faults: Arc<Faults>,
    /// Trusts the authority the data channel is served under.
    network: Network,
}

/// The data-channel routes alone, served over TLS (`wss://`) as the service serves them.
async fn emulator() -> Emulator {
    let directory = Arc::new(Directory::default());
    let faults = Arc::new(Faults::default());
    let state = DataChannelState {
        directory: directory.clone(),
        faults: faults.clone(),
        metrics: directory.metrics.clone(),
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let authority = Authority::generate(addr.ip(), &[]).unwrap();
    let network = Network::new(&NetworkSettings {
        trust: TrustSettings::only(authority.ca_pem().as_bytes().to_vec(), "the test authority"),
        ..NetworkSettings::default()
    })
    .unwrap();
    let listener = authority.listen(listener, None);
    tokio::spawn(async move { axum::serve(listener, routes(state)).await });
    Emulator { addr, directory, faults, network }
}

fn spec(session_type: &str, properties: serde_json::Value, agent_version: &str) -> AgentSpec {
    AgentSpec {
        session_id: String::new(),
        agent_version: agent_version.into(),
        session_type: session_type.into(),
        properties,
        shell: vec!["/bin/sh".into()],
        paced: false,
        idle_timeout: Duration::from_secs(600),
        handler_ready_delay: Duration::ZERO,
        instance_id: "i-0a1b2c3d4e5f60001".into(),
        kms_key_id: None,
        kms: None,
        run_as: None,
        shell_profile: String::new(),
        windows: false,
        max_duration: None,
    }
}

async fn open(emulator: &Emulator, id: &str, mut spec: AgentSpec) -> SessionChannel {
    spec.session_id = id.into();
    let token = emulator.directory.add(id, spec);
    let endpoint = Endpoint {
        session_id: id.into(),
        stream_url: format!("wss://{}/v1/data-channel/{id}?role=publish_subscribe", emulator.addr),
        token,
        target: "i-0a1b2c3d4e5f60001".into(),
    };
    let config = DriverConfig { message_rate: None, ..DriverConfig::new(emulator.network.clone()) };
    datachannel::connect(endpoint, Box::new(DirectoryResume(emulator.directory.clone())), config)
        .await
        .expect("the data channel opens")
}

/// Reads notices until `done` says so; fails if the session ends first.
async fn until(session: &mut SessionChannel, mut done: impl FnMut(&Notice) -> bool) {
    loop {
        let notice = session.notices.recv().await.expect("the driver ended without a notice");
        if done(&notice) {
            return;
        }
        if let Notice::Ended(ending) = notice {
            panic!("the session ended early: {ending}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shell_echoes_resizes_and_ends_when_the_shell_exits() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let mut session = open(
            &emulator,
            "shell-1",
            spec("Standard_Stream", serde_json::Value::Null, "3.3.1142.0"),
        )
        .await;
        let mut screen = String::new();
        until(
            &mut session,
            |n| matches!(n, Notice::Ready(ready) if ready.kind == SessionKind::Shell),
        )
        .await;
        session.commands.send(Command::Resize(TerminalSize { cols: 101, rows: 33 })).await.unwrap();
        session.commands.send(Command::Data(b"stty size; echo $((6*7))\n".to_vec())).await.unwrap();
        until(&mut session, |n| {
            if let Notice::Data(bytes) = n {
                screen.push_str(&String::from_utf8_lossy(bytes));
            }
            screen.contains("33 101") && screen.contains("42")
        })
        .await;
        session.commands.send(Command::Data(b"exit 3\n".to_vec())).await.unwrap();
        let mut ending = None;
        until(&mut session, |n| {
            if let Notice::Ended(e) = n {
                ending = Some(e.clone());
                return true;
            }
            false
        })
        .await;
        assert_eq!(ending, Some(Ending::Closed { output: String::new() }));
    })
    .await
    .expect("hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_session_ends_as_the_service_ends_it() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let mut idle = spec("Standard_Stream", serde_json::Value::Null, "3.3.1142.0");
        idle.idle_timeout = Duration::from_millis(500);
        let mut session = open(&emulator, "idle-1", idle).await;
        let ending = loop {
            match session.notices.recv().await.expect("the driver ended without a notice") {
                Notice::Ended(ending) => break ending,
                _ => continue,
            }
        };
        assert!(matches!(ending, Ending::Closed { .. }), "{ending:?}");
        // The service no longer resumes it.
        assert_eq!(emulator.directory.rotate("idle-1"), None);
    })
    .await
    .expect("hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_command_reports_its_output_and_exit_code() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let properties = serde_json::json!({ "commands": "echo out; echo err >&2; exit 7", "separateOutputStream": "true" });
        let mut session = open(&emulator, "cmd-1", spec("NonInteractiveCommands", properties, "3.3.1142.0")).await;
        let (mut out, mut err, mut code) = (Vec::new(), Vec::new(), None);
        until(&mut session, |n| {
            match n {
                Notice::Data(b) => out.extend_from_slice(b),
                Notice::Stderr(b) => err.extend_from_slice(b),
                Notice::Exit(c) => code = Some(*c),
                _ => {}
            }
            matches!(n, Notice::Ended(_))
        })
        .await;
        assert_eq!(out, b"out\n");
        assert_eq!(err, b"err\n");
        assert_eq!(code, Some(7));
    })
    .await
    .expect("hung");
}

async fn tunnel(
    emulator: &Emulator,
    id: &str,
    agent_version: &str,
    port: u16,
) -> (Tunnel, PortMode) {
    let properties = serde_json::json!({ "portNumber": port.to_string(), "type": "LocalPortForwarding", "localPortNumber": "0" });
    let mut session = open(emulator, id, spec("Port", properties, agent_version)).await;
    let mut kind = None;
    until(&mut session, |n| {
        if let Notice::Ready(airlock_core::datachannel::Ready { kind: k, .. }) = n {
            kind = Some(k.clone());
            return true;
        }
        false
    })
    .await;
    let Some(SessionKind::Port(port)) = kind else { panic!("not a port session: {kind:?}") };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mode = port.mode;
    (Tunnel::start(listener, session, &port).expect("a forwarding session"), mode)
}

async fn run_transfers(tunnel: &Tunnel, connections: u64, size: usize) {
    let addr = tunnel.local_addr();
    let clients: Vec<_> =
        (0..connections).map(|i| tokio::spawn(transfer_client(addr, i, size))).collect();
    for client in clients {
        client.await.expect("a transfer task panicked").expect("a transfer failed");
    }
}

const MIB: usize = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mux_tunnel_moves_16_mib_each_way_on_8_connections() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let port = transfer_server(16 * MIB).await;
        let (tunnel, mode) = tunnel(&emulator, "mux-1", "3.3.1142.0", port).await;
        assert_eq!(mode, PortMode::Mux { keep_alive: false });
        run_transfers(&tunnel, 8, 16 * MIB).await;
        let stats = tunnel.stats();
        assert_eq!(stats.total_connections.load(std::sync::atomic::Ordering::Relaxed), 8);
    })
    .await
    .expect("hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn basic_tunnel_carries_connections_one_after_another() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let port = transfer_server(16 * MIB).await;
        let (tunnel, mode) = tunnel(&emulator, "basic-1", "3.0.161.0", port).await;
        assert_eq!(mode, PortMode::Basic);
        run_transfers(&tunnel, 8, 16 * MIB).await;
    })
    .await
    .expect("hung");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mux_tunnel_survives_loss_duplication_reordering_and_socket_kills() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let lossy = DirectionFaults {
            drop: 0.01,
            duplicate: 0.01,
            reorder: 0.01,
            ..DirectionFaults::default()
        };
        emulator
            .faults
            .set(FaultConfig {
                to_client: lossy.clone(),
                to_agent: lossy,
                close_after_frames: Some(60_000),
                ..FaultConfig::default()
            })
            .unwrap();
        let port = transfer_server(16 * MIB).await;
        let (tunnel, _) = tunnel(&emulator, "mux-faults", "3.3.1142.0", port).await;
        run_transfers(&tunnel, 8, 16 * MIB).await;
        let metrics = emulator.directory.metrics.snapshot();
        assert!(
            metrics.links_killed >= 2,
            "the socket must have been killed at least twice, was {}",
            metrics.links_killed
        );
        assert!(metrics.resends > 0, "1 % loss must cause resends");
    })
    .await
    .expect("hung");
}
