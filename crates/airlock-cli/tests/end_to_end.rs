//! Airlock's engine and the `airlock` binary against the emulator, through the real AWS SDK
//! (SigV4, endpoint override) and real WebSockets: shells, tunnels in both modes with 8
//! connections × 64 MiB each way, the remote-host document, ssh-proxy, a pool of 4 sessions,
//! transfers under 1 % drop, duplication and reordering with socket kills, and every bad input
//! giving its error.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use airlock_core::aws::{Aws, DirectEndpoint, StartRequest};
use airlock_core::datachannel::{Command, DriverConfig, Ending, Notice};
use airlock_core::session::{ForwardTunnel, OpenError, TunnelSpec};
use ssm_emulator::faults::{DirectionFaults, FaultConfig};
use ssm_emulator::fleet::{Fleet, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::testkit::{echo_server, transfer_client, transfer_server};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use ssm_protocol::payload::TerminalSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(600);
const MIB: usize = 1024 * 1024;
const WEB: &str = "i-0a1b2c3d4e5f60001"; // agent 3.3.1142.0: multiplexed
const LEGACY: &str = "i-0a1b2c3d4e5f60002"; // agent 3.0.161.0: basic

async fn emulator(paced: bool) -> RunningEmulator {
    Emulator::start(EmulatorConfig {
        fleet: Fleet::default_fleet(),
        paced,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

fn aws(emulator: &RunningEmulator) -> Aws {
    Aws::direct(&far_side(emulator)).unwrap()
}

fn far_side(emulator: &RunningEmulator) -> DirectEndpoint {
    let key = emulator.credentials();
    DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    )
}

fn spec(target: &str, port: u16, sessions: usize) -> TunnelSpec {
    TunnelSpec {
        target: target.into(),
        remote_port: port,
        remote_host: None,
        local: SocketAddr::from(([127, 0, 0, 1], 0)),
        sessions,
        reason: None,
        document: None,
        keep_alive: None,
    }
}

/// The emulator runs unpaced in the transfer tests; so does the client.
async fn unpaced_forward(aws: &Aws, spec: &TunnelSpec) -> Result<ForwardTunnel, OpenError> {
    aws.forward_with(spec, DriverConfig { message_rate: None, ..aws.driver_config() }).await
}

async fn transfers(tunnel: &ForwardTunnel, connections: u64, size: usize) {
    let addr = tunnel.local_addr();
    let clients: Vec<_> =
        (0..connections).map(|i| tokio::spawn(transfer_client(addr, i, size))).collect();
    for client in clients {
        client.await.expect("a transfer task panicked").expect("a transfer failed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shell_echoes_resizes_and_a_command_reports_its_exit_code() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let aws = aws(&emulator);
        let request = StartRequest { target: WEB.into(), ..StartRequest::default() };
        let mut session = aws.open(&request, aws.driver_config()).await.unwrap();
        session
            .channel
            .commands
            .send(Command::Resize(TerminalSize { cols: 97, rows: 31 }))
            .await
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Data(b"stty size; echo $((6*7))\n".to_vec()))
            .await
            .unwrap();
        let mut screen = String::new();
        while !(screen.contains("31 97") && screen.contains("42")) {
            match session.channel.notices.recv().await.unwrap() {
                Notice::Data(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
                Notice::Ended(ending) => panic!("{ending}"),
                _ => {}
            }
        }
        session.terminate().await.unwrap();

        let mut parameters = std::collections::HashMap::new();
        parameters.insert("command".to_owned(), vec!["echo done; exit 5".to_owned()]);
        let request = StartRequest {
            target: WEB.into(),
            document: Some("AWS-StartNonInteractiveCommand".into()),
            parameters,
            reason: Some("e2e".into()),
        };
        let mut session = aws.open(&request, aws.driver_config()).await.unwrap();
        let (mut output, mut code) = (Vec::new(), None);
        let ending = loop {
            match session.channel.notices.recv().await.unwrap() {
                Notice::Data(bytes) => output.extend(bytes),
                Notice::Exit(c) => code = Some(c),
                Notice::Ended(ending) => break ending,
                _ => {}
            }
        };
        assert_eq!(String::from_utf8_lossy(&output).trim(), "done");
        assert_eq!(code, Some(5));
        assert!(matches!(ending, Ending::Closed { .. }), "{ending:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shells_first_size_and_keystrokes_survive_a_handler_that_is_not_ready_yet() {
    tokio::time::timeout(HANG_GUARD, async {
        // The agent leaves input unacknowledged until its pty is ready; this fleet makes that
        // window 1.5 s wide, so the first messages are refused and must be sent again.
        let mut fleet = Fleet::default_fleet();
        fleet.handler_ready_delay_ms = 1500;
        let emulator =
            Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap();
        let aws = aws(&emulator);
        let mut session = aws
            .open(
                &StartRequest { target: WEB.into(), ..StartRequest::default() },
                aws.driver_config(),
            )
            .await
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Resize(TerminalSize { cols: 83, rows: 29 }))
            .await
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Data(b"stty size; echo ready-$((2*3))\n".to_vec()))
            .await
            .unwrap();
        let mut screen = String::new();
        until_screen(&mut session.channel.notices, &mut screen, "ready-6").await;
        assert!(screen.contains("29 83"), "the first size reached the pty: {screen}");
        let resent =
            session.channel.figures.messages_resent.load(std::sync::atomic::Ordering::Relaxed);
        assert!(resent > 0, "the refused input was sent again ({resent} resends)");
        session.terminate().await.unwrap();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn multiplexed_and_basic_tunnels_carry_8_connections_of_64_mib_each_way() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(false).await;
        let aws = aws(&emulator);
        let port = transfer_server(64 * MIB).await;
        for target in [WEB, LEGACY] {
            let tunnel = unpaced_forward(&aws, &spec(target, port, 1)).await.unwrap();
            let started = std::time::Instant::now();
            transfers(&tunnel, 8, 64 * MIB).await;
            eprintln!("{target}: 8 x 64 MiB each way in {:?}", started.elapsed());
            let figures = tunnel.figures();
            assert_eq!(figures.total_connections, 8);
            assert!(
                figures.bytes_up >= 8 * 64 * MIB as u64
                    && figures.bytes_down >= 8 * 64 * MIB as u64,
                "{figures:?}"
            );
            tunnel.stop().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_remote_host_document_reaches_a_host_through_the_node() {
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let port = transfer_server(4 * MIB).await;
    let through = TunnelSpec { remote_host: Some("127.0.0.1".into()), ..spec(WEB, port, 1) };
    let tunnel = within("opening the tunnel", unpaced_forward(&aws, &through)).await.unwrap();
    within("the transfers", transfers(&tunnel, 2, 4 * MIB)).await;
    let sessions = emulator.service().sessions();
    assert!(sessions.iter().any(|s| s.document == "AWS-StartPortForwardingSessionToRemoteHost"));
    within("stopping the tunnel", tunnel.stop()).await;

    // The agent refuses the instance metadata service: the session fails right after its
    // start, as on the real service, and the tunnel ends saying why.
    let refused = within(
        "opening the refused tunnel",
        aws.forward(&TunnelSpec {
            remote_host: Some("169.254.169.254".into()),
            ..spec(WEB, 80, 1)
        }),
    )
    .await
    .unwrap();
    let reason = within("the refused tunnel's end", refused.wait()).await;
    assert!(reason.contains("forbidden"), "{reason}");
}

/// A tunnel's target may be a node's name: the engine resolves it (for every front end), and a
/// name no node has fails before any session starts, saying what to give instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tunnel_to_a_node_name_reaches_that_node_and_an_unknown_name_says_so() {
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let echo = echo_server().await;
    let tunnel =
        within("a tunnel by name", unpaced_forward(&aws, &spec("web-1", echo, 1))).await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(tunnel.local_addr()).await.unwrap();
    stream.write_all(b"ping").await.unwrap();
    let mut back = [0u8; 4];
    within("the echo", stream.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"ping");
    tunnel.stop().await;
    assert!(
        emulator.service().sessions().iter().all(|s| s.target == WEB),
        "the session went to web-1's id"
    );

    let error = within("a tunnel to nobody", unpaced_forward(&aws, &spec("no-such-node", echo, 1)))
        .await
        .unwrap_err();
    assert!(
        matches!(error, OpenError::Target(airlock_core::inventory::TargetError::NoSuchName(_))),
        "{error:?}"
    );
    assert!(error.to_string().contains("give its id"), "{error}");
    assert_eq!(emulator.service().sessions().len(), 1, "no session for an unknown name");
}

/// Awaits `future` within the hang guard; a hang names the step that hung.
async fn within<F: std::future::Future>(step: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.unwrap_or_else(|_| panic!("hung: {step}"))
}

/// Regression: a local client that only receives, and reads slowly, used to stall a
/// multiplexed tunnel for good. Its writer's queue filled, the tunnel's loop kept the next
/// bytes back and waited, and nothing woke it when the queue drained (the client sent nothing
/// that would have). The agent's smux server had the same gap in the other direction.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_reader_that_only_receives_gets_every_byte() {
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let server = ssm_emulator::testkit::one_way_server().await;
    let tunnel =
        within("opening the tunnel", unpaced_forward(&aws, &spec(WEB, server, 1))).await.unwrap();
    let addr = tunnel.local_addr();
    let size = 16 * MIB;
    let readers: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let mut request = [b'D'; 9];
                request[1..].copy_from_slice(&(size as u64).to_be_bytes());
                stream.write_all(&request).await.unwrap();
                let mut received = 0;
                let mut buf = [0u8; 512];
                while received < size {
                    let n = stream.read(&mut buf).await.unwrap();
                    assert!(n > 0, "the tunnel closed after {received} bytes");
                    received += n;
                }
                received
            })
        })
        .collect();
    for reader in readers {
        assert_eq!(within("a slow download", reader).await.unwrap(), size);
    }
    tunnel.stop().await;
}

/// A connection closed while its destination still sends must not leave that data in the
/// session's shared receive buffer: if it did, the buffer would fill and every other
/// connection of the tunnel would stall (smux has no per-stream window in v1).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_closed_connections_late_data_does_not_stall_its_neighbours() {
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let server = ssm_emulator::testkit::one_way_server().await;
    let tunnel =
        within("opening the tunnel", unpaced_forward(&aws, &spec(WEB, server, 1))).await.unwrap();
    let addr = tunnel.local_addr();
    // Eight connections each ask for 64 MiB (sixteen times the receive buffer between them),
    // read the first bytes to know the data flows, and hang up.
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = [b'D'; 9];
        request[1..].copy_from_slice(&(64 * MIB as u64).to_be_bytes());
        stream.write_all(&request).await.unwrap();
        let mut first = [0u8; 1];
        within("the first byte of a download", stream.read_exact(&mut first)).await.unwrap();
    }
    // Their neighbours still move data both ways, checked byte for byte.
    within("a download after the hang-ups", ssm_emulator::testkit::download(addr, 8 * MIB))
        .await
        .unwrap();
    within("an upload after the hang-ups", ssm_emulator::testkit::upload(addr, 8 * MIB))
        .await
        .unwrap();
    let figures = tunnel.figures();
    assert_eq!(figures.total_connections, 10);
    assert!(
        figures.bytes_down < 8 * 64 * MIB as u64,
        "the hung-up downloads were not all carried: {figures:?}"
    );
    tunnel.stop().await;
}

/// Basic mode carries one connection at a time over a byte stream with no stream ids: what the
/// destination said to one connection and was still in flight when it closed must not be
/// handed to the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_basic_mode_no_byte_of_one_connection_reaches_the_next() {
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let server = ssm_emulator::testkit::tagged_server().await;
    let tunnel = within("opening the tunnel", unpaced_forward(&aws, &spec(LEGACY, server, 1)))
        .await
        .unwrap();
    let addr = tunnel.local_addr();
    let mut tags_seen = Vec::new();
    for round in 0..4 {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The agent dials again on the first data after a disconnect.
        stream.write_all(b"?").await.unwrap();
        let mut received = vec![0u8; 256 * 1024];
        within("a connection's bytes", stream.read_exact(&mut received)).await.unwrap();
        let tag = received[0];
        let strangers = received.iter().filter(|&&b| b != tag).count();
        assert_eq!(
            strangers, 0,
            "round {round}: {strangers} bytes of another connection among {tag:?}'s"
        );
        assert!(
            !tags_seen.contains(&tag),
            "round {round} got the bytes of an earlier connection ({})",
            tag as char
        );
        tags_seen.push(tag);
        drop(stream);
    }
    tunnel.stop().await;
}

/// A tunnel carries at most `MAX_CONNECTIONS` connections at once; the next is closed at once
/// and counted, and a closed one makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_beyond_the_cap_are_turned_away_and_counted() {
    use airlock_core::tunnel::MAX_CONNECTIONS;
    let emulator = emulator(false).await;
    let aws = aws(&emulator);
    let echo = echo_server().await;
    let tunnel =
        within("opening the tunnel", unpaced_forward(&aws, &spec(WEB, echo, 1))).await.unwrap();
    let addr = tunnel.local_addr();
    let mut open = Vec::new();
    for i in 0..MAX_CONNECTIONS {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let hello = format!("{i:08}");
        stream.write_all(hello.as_bytes()).await.unwrap();
        let mut back = [0u8; 8];
        within("an echo within the cap", stream.read_exact(&mut back)).await.unwrap();
        assert_eq!(&back, hello.as_bytes());
        open.push(stream);
    }
    let mut extra = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = extra.write_all(b"one too many").await;
    let mut buf = [0u8; 16];
    let n = within("the extra connection's end", extra.read(&mut buf)).await.unwrap_or(0);
    assert_eq!(n, 0, "the connection beyond the cap is closed without data");
    assert_eq!(tunnel.figures().turned_away_connections, 1);

    // One connection ends. The tunnel closes it both ways once it has let go of it, so its end
    // of file here says the room is free.
    let mut leaving = open.pop().unwrap();
    leaving.shutdown().await.unwrap();
    let mut rest = Vec::new();
    within("the tunnel's close of the leaving connection", leaving.read_to_end(&mut rest))
        .await
        .unwrap();
    let mut again = tokio::net::TcpStream::connect(addr).await.unwrap();
    again.write_all(b"again").await.unwrap();
    let mut back = [0u8; 5];
    within("an echo in the freed room", again.read_exact(&mut back)).await.unwrap();
    assert_eq!(&back, b"again");
    assert_eq!(tunnel.figures().turned_away_connections, 1, "nobody else was turned away");
    tunnel.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pool_of_four_sessions_spreads_connections_least_loaded_first() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let aws = aws(&emulator);
        let echo = echo_server().await;
        let tunnel = aws.forward(&spec(WEB, echo, 4)).await.unwrap();
        assert_eq!(tunnel.session_ids().len(), 4);
        // Eight connections at once, all opened before any carries a byte: the dispatcher
        // must count what it handed out, not what the sessions have picked up yet.
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(tokio::net::TcpStream::connect(tunnel.local_addr()).await.unwrap());
        }
        for (i, stream) in held.iter_mut().enumerate() {
            stream.write_all(&[i as u8; 100]).await.unwrap();
            let mut back = [0u8; 100];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(back, [i as u8; 100], "connection {i} is carried");
        }
        assert_eq!(
            tunnel.connections_per_session(),
            vec![2, 2, 2, 2],
            "least loaded first spreads 8 connections evenly"
        );
        assert_eq!(tunnel.figures().open_connections, 8);
        drop(held);
        tunnel.stop().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn transfers_survive_loss_duplication_reordering_and_three_socket_kills() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(false).await;
        let aws = aws(&emulator);
        let port = transfer_server(16 * MIB).await;
        let lossy = DirectionFaults {
            drop: 0.01,
            duplicate: 0.01,
            reorder: 0.01,
            ..DirectionFaults::default()
        };
        for target in [WEB, LEGACY] {
            let before = emulator.metrics().snapshot().links_killed;
            emulator
                .faults()
                .set(FaultConfig {
                    to_client: lossy.clone(),
                    to_agent: lossy.clone(),
                    close_after_frames: Some(40_000),
                    ..FaultConfig::default()
                })
                .unwrap();
            let tunnel = unpaced_forward(&aws, &spec(target, port, 1)).await.unwrap();
            transfers(&tunnel, 8, 16 * MIB).await;
            let kills = emulator.metrics().snapshot().links_killed - before;
            assert!(kills >= 3, "{target}: only {kills} socket kills");
            assert!(tunnel.figures().reconnects >= 3);
            emulator.faults().set(FaultConfig::default()).unwrap();
            tunnel.stop().await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_taken_local_port_and_bad_tunnels_fail_before_any_session_starts() {
    let emulator = emulator(true).await;
    let aws = aws(&emulator);
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = aws
        .forward(&TunnelSpec { local: taken.local_addr().unwrap(), ..spec(WEB, 80, 1) })
        .await
        .unwrap_err();
    assert!(matches!(error, OpenError::PortInUse { .. }), "{error}");
    assert!(error.to_string().contains("already in use"));
    assert!(matches!(aws.forward(&spec(WEB, 80, 0)).await, Err(OpenError::Invalid(_))));
    assert!(matches!(aws.forward(&spec(WEB, 0, 1)).await, Err(OpenError::Invalid(_))));
    assert!(emulator.service().sessions().is_empty());
    let offline = aws.forward(&spec("i-0a1b2c3d4e5f60003", 80, 1)).await.unwrap_err();
    assert!(offline.to_string().contains("not connected"), "{offline}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_link_is_noticed_and_replaced_without_losing_the_shell() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let aws = aws(&emulator);
        // Short heartbeat settings so the test does not wait the default 50 s; the mechanism
        // is the same.
        let config = DriverConfig {
            heartbeat: Duration::from_millis(200),
            dead_after: Duration::from_secs(2),
            ..aws.driver_config()
        };
        let mut session = aws
            .open(&StartRequest { target: WEB.into(), ..StartRequest::default() }, config)
            .await
            .unwrap();
        session.channel.commands.send(Command::Data(b"echo fir''st\n".to_vec())).await.unwrap();
        let mut screen = String::new();
        until_screen(&mut session.channel.notices, &mut screen, "first").await;
        // The link goes silent: no pongs, no acks, no output. The socket stays open, so
        // only the heartbeat can tell.
        emulator.faults().set(FaultConfig { silent: true, ..FaultConfig::default() }).unwrap();
        session.channel.commands.send(Command::Data(b"echo sec''ond\n".to_vec())).await.unwrap();
        loop {
            match session.channel.notices.recv().await.unwrap() {
                Notice::Reconnecting { reason, .. } => {
                    assert!(reason.contains("nothing heard"), "the heartbeat noticed it: {reason}");
                    break;
                }
                Notice::Ended(ending) => panic!("{ending}"),
                _ => {}
            }
        }
        emulator.faults().set(FaultConfig::default()).unwrap();
        // The keystrokes typed into the silent link arrive after the reconnect.
        until_screen(&mut session.channel.notices, &mut screen, "second").await;
        session.terminate().await.unwrap();
    })
    .await
    .unwrap();
}

/// A far side that stops reading (and falls silent, as a dead path does) while this end sends:
/// the socket's send buffers fill and writes block. They block in the socket's writer task
/// only, so the silence deadline still fires and the session reconnects; the input sent
/// meanwhile arrives after it, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_far_side_that_stops_reading_is_noticed_while_this_end_is_sending() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(false).await;
        let aws = aws(&emulator);
        let config = DriverConfig {
            heartbeat: Duration::from_millis(200),
            dead_after: Duration::from_secs(5),
            message_rate: None,
            ..aws.driver_config()
        };
        let mut session = aws
            .open(&StartRequest { target: WEB.into(), ..StartRequest::default() }, config)
            .await
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Data(
                b"stty raw -echo; head -c 33554432 | wc -c; stty sane; echo do''ne\n".to_vec(),
            ))
            .await
            .unwrap();
        let ready = session.ready().await.unwrap();
        assert_eq!(ready.kind, ssm_protocol::handshake::SessionKind::Shell);
        emulator.faults().set(FaultConfig { silent: true, ..FaultConfig::default() }).unwrap();
        // Far more than the window and every socket buffer on the way hold.
        let commands = session.channel.commands.clone();
        let sender = tokio::spawn(async move {
            for _ in 0..512 {
                if commands.send(Command::Data(vec![b'x'; 64 * 1024])).await.is_err() {
                    return;
                }
            }
        });
        loop {
            match session.channel.notices.recv().await.unwrap() {
                Notice::Reconnecting { reason, .. } => {
                    assert!(reason.contains("nothing heard"), "the deadline noticed it: {reason}");
                    break;
                }
                Notice::Ended(ending) => panic!("{ending}"),
                _ => {}
            }
        }
        emulator.faults().set(FaultConfig::default()).unwrap();
        sender.await.unwrap();
        let mut screen = String::new();
        until_screen(&mut session.channel.notices, &mut screen, "done").await;
        assert!(
            screen.contains(&(512 * 64 * 1024).to_string()),
            "every byte arrived once: {screen}"
        );
        session.terminate().await.unwrap();
    })
    .await
    .unwrap();
}

/// The address of the next `Listening on ADDR` line the CLI prints.
async fn listening_on(
    stdout: &mut tokio::io::BufReader<tokio::process::ChildStdout>,
) -> SocketAddr {
    let mut line = String::new();
    tokio::io::AsyncBufReadExt::read_line(stdout, &mut line).await.unwrap();
    line.trim().strip_prefix("Listening on ").unwrap_or_else(|| panic!("{line:?}")).parse().unwrap()
}

async fn until_screen(
    notices: &mut tokio::sync::mpsc::Receiver<Notice>,
    screen: &mut String,
    needle: &str,
) {
    while !screen.contains(needle) {
        match notices.recv().await.expect("the session's task stopped") {
            Notice::Data(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
            Notice::Ended(ending) => panic!("the session ended: {ending}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_nodes_list_with_names_and_tags_and_filter() {
    tokio::time::timeout(HANG_GUARD, async {
        let mut fleet = Fleet::default_fleet();
        fleet.extra_nodes = 10_000;
        let emulator =
            Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap();
        let aws = aws(&emulator);
        let listing = aws.list_nodes().await.unwrap();
        assert!(listing.gaps.is_empty(), "the demo key may call everything: {:?}", listing.gaps);
        let nodes = listing.nodes;
        assert_eq!(nodes.len(), emulator.service().nodes().len(), "every page is read");
        let sample =
            nodes.iter().find(|n| n.id == "i-00000f00000001234").expect("a synthetic node");
        assert_eq!(sample.name, "fleet-04660", "the Name tag comes from DescribeInstances");
        assert_eq!(sample.tags.get("team").map(String::as_str), Some("web"));
        assert_eq!(sample.state, "running");
        let onprem = nodes.iter().find(|n| n.is_on_premises()).expect("the on-premises node");
        assert!(
            !onprem.name.is_empty() && onprem.tags.contains_key("env"),
            "on-premises tags come from ListTagsForResource: {onprem:?}"
        );
        let filter = airlock_core::inventory::NodeFilter {
            text: "fleet-0".into(),
            tags: vec![airlock_core::inventory::NodeFilter::parse_tag("env=prod")],
            ping_status: Some("online".into()),
            ..Default::default()
        };
        let expected = emulator
            .service()
            .nodes()
            .iter()
            .filter(|n| {
                n.name.starts_with("fleet-0")
                    && n.tags.get("env").map(String::as_str) == Some("prod")
                    && n.ping_status == "Online"
            })
            .count();
        assert_eq!(filter.apply(&nodes).count(), expected);
    })
    .await
    .unwrap();
}

/// The `airlock` binary with the emulator as its AWS, reached as a user reaches AWS over TLS:
/// the endpoint in AWS_ENDPOINT_URL, the emulator's CA in a file named by AWS_CA_BUNDLE.
struct Cli {
    home: tempfile::TempDir,
    endpoint: String,
}

impl Cli {
    fn new(emulator: &RunningEmulator) -> Cli {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("emulator-ca.pem"),
            emulator.ca_pem().expect("the emulator serves TLS"),
        )
        .unwrap();
        Cli { home, endpoint: emulator.endpoint_url() }
    }

    fn ca_bundle(&self) -> std::path::PathBuf {
        self.home.path().join("emulator-ca.pem")
    }

    fn command(&self) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CA_BUNDLE", self.ca_bundle())
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str], input: &[u8]) -> (i32, String, String) {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(input).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

/// `AIRLOCK_LOG=trace` logs no key id. The same run with the capped modules named (which a user
/// may ask for) shows the probe can see one: the SDK and SigV4 do log it at trace level.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_trace_log_names_no_key_unless_the_signing_crates_are_asked_for() {
    let emulator = emulator(false).await;
    let cli = Cli::new(&emulator);
    let run = |log: &'static str| {
        let cli = &cli;
        async move {
            let mut command = cli.command();
            command.env("AIRLOCK_LOG", log).args([
                "shell",
                WEB,
                "--document",
                "AWS-StartNonInteractiveCommand",
                "--parameter",
                "command=echo traced",
            ]);
            let output = within(
                "a traced command",
                command.stdout(Stdio::piped()).stderr(Stdio::piped()).output(),
            )
            .await
            .unwrap();
            assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "traced");
            String::from_utf8_lossy(&output.stderr).into_owned()
        }
    };
    let trace = run("trace").await;
    assert!(trace.contains("TRACE") || trace.contains("DEBUG"), "a trace run logs: {trace}");
    if let Ok(dir) = std::env::var("AIRLOCK_TEST_LOGS") {
        // scripts/scan-logs scans it with the rest of the run's logs.
        std::fs::write(std::path::Path::new(&dir).join("cli-trace.log"), &trace).unwrap();
    }
    assert!(!trace.contains(DEMO_ACCESS_KEY_ID), "the key id is in a trace log");
    let asked = run("trace,aws_sigv4=trace,aws_smithy_runtime=trace,aws_smithy_runtime_api=trace,aws_runtime=trace").await;
    assert!(
        asked.contains(DEMO_ACCESS_KEY_ID),
        "the probe cannot see the key id even where it is logged"
    );
}

/// `airlock sessions` lists the place's active sessions, `airlock terminate` ends one, and
/// `airlock sessions --history` shows it ended, with its reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_lists_sessions_and_terminates_one() {
    let emulator = emulator(false).await;
    let cli = Cli::new(&emulator);
    let aws = aws(&emulator);
    let request = StartRequest {
        target: WEB.into(),
        reason: Some("patching web-1".into()),
        ..StartRequest::default()
    };
    let mut session = within("a shell", aws.open(&request, aws.driver_config())).await.unwrap();
    within("the shell ready", session.ready()).await.unwrap();
    let id = session.session_id.clone();

    let (code, out, err) = cli.run(&["sessions", "--json"], b"").await;
    assert_eq!(code, 0, "{err}");
    let active: serde_json::Value = serde_json::from_str(&out).unwrap();
    let listed = active
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id.as_str())
        .expect("the session is listed");
    assert_eq!(
        (listed["target"].as_str(), listed["reason"].as_str()),
        (Some(WEB), Some("patching web-1"))
    );
    assert!(listed["started"].as_str().unwrap().ends_with('Z'), "{listed}");

    let (code, _, err) = cli.run(&["terminate", &id], b"").await;
    assert_eq!(code, 0, "{err}");
    within("the agent's end of it", emulator.service().session_ended(&id)).await;
    let (_, out, _) = cli.run(&["sessions", "--json"], b"").await;
    assert!(!out.contains(&id), "no longer active: {out}");
    let (_, out, _) = cli.run(&["sessions", "--history"], b"").await;
    let line =
        out.lines().find(|l| l.contains(&id)).unwrap_or_else(|| panic!("in the history: {out}"));
    assert!(line.contains("Terminated") && line.contains("patching web-1"), "{line}");
    drop(session);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_lists_nodes_runs_shells_and_commands() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        let (code, out, _) = cli.run(&["nodes", "--json"], b"").await;
        assert_eq!(code, 0);
        let nodes: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(nodes.as_array().unwrap().len(), emulator.service().nodes().len());
        let (_, out, _) = cli.run(&["nodes", "--tag", "team=data", "--ping", "online"], b"").await;
        assert!(
            out.contains("legacy-db") && !out.contains("batch-old") && !out.contains("web-1"),
            "{out}"
        );

        let (code, out, err) = cli.run(&["shell", "web-1"], b"echo $((6*7))\nexit\n").await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("42"), "{out}");
        let (code, out, _) = cli
            .run(
                &[
                    "shell",
                    WEB,
                    "--document",
                    "AWS-StartNonInteractiveCommand",
                    "--parameter",
                    "command=echo hi; exit 4",
                ],
                b"",
            )
            .await;
        assert_eq!((code, out.trim()), (4, "hi"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ssh_proxy_carries_bytes_both_ways() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        let echo = echo_server().await;
        let mut child = cli
            .command()
            .args(["ssh-proxy", "web-1", "--port", &echo.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                stdin.write_all(&sent).await.unwrap();
                stdin // closing stdin ends the proxy; keep it until the echo is back
            })
        };
        let mut back = vec![0u8; sent.len()];
        stdout.read_exact(&mut back).await.unwrap();
        assert!(back == sent, "the echo through ssh-proxy differs");
        drop(writer.await.unwrap());
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cli_forwards_and_runs_saved_profiles() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        let echo = echo_server().await;
        let (code, _, err) = cli
            .run(
                &[
                    "profile",
                    "add",
                    "echo",
                    "web-1",
                    "--port",
                    &echo.to_string(),
                    "--sessions",
                    "2",
                ],
                b"",
            )
            .await;
        assert_eq!(code, 0, "{err}");
        let (_, out, _) = cli.run(&["profile", "list", "--json"], b"").await;
        let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(listed[0]["name"], "echo");
        assert_eq!(listed[0]["sessions"], 2);
        let (code, _, err) =
            cli.run(&["profile", "add", "echo", "web-1", "--port", "1"], b"").await;
        assert_eq!(code, 1);
        assert!(err.contains("exists already"), "{err}");

        let mut child =
            cli.command().args(["profile", "run", "echo"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let addr = listening_on(&mut stdout).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"through a saved profile").await.unwrap();
        let mut back = [0u8; 23];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"through a saved profile");
        child.start_kill().unwrap();
        child.wait().await.unwrap();

        let (code, _, _) = cli.run(&["profile", "remove", "echo"], b"").await;
        assert_eq!(code, 0);
        let (code, _, err) = cli.run(&["profile", "run", "echo"], b"").await;
        assert_eq!(code, 1);
        assert!(err.contains("no profile named"), "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profile_of_several_forwards_runs_and_stops_as_one() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        let (on_node, behind) = (echo_server().await, echo_server().await);
        let also = format!("127.0.0.1:{behind}");
        let args = ["profile", "add", "stack", "web-1", "--port", &on_node.to_string()];
        let (code, _, err) = cli.run(&[&args[..], &["--also", &also]].concat(), b"").await;
        assert_eq!(code, 0, "{err}");
        let (_, out, _) = cli.run(&["profile", "list", "--json"], b"").await;
        let listed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(listed[0]["more_forwards"][0]["remote_host"], "127.0.0.1");
        let (code, _, err) = cli
            .run(&["profile", "add", "bad", "web-1", "--port", "1", "--also", "db:x"], b"")
            .await;
        assert_eq!(code, 2, "clap refuses a bad --also: {err}");
        assert!(err.contains("[LOCAL:]HOST:PORT") || err.contains("remote port"), "{err}");

        let mut child = cli
            .command()
            .args(["profile", "run", "stack"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut addrs = Vec::new();
        for _ in 0..2 {
            addrs.push(listening_on(&mut stdout).await);
        }
        for (addr, text) in addrs.iter().zip([&b"to the node"[..], b"to the host behind it"]) {
            let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.write_all(text).await.unwrap();
            let mut back = vec![0u8; text.len()];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(back, text);
        }
        let sessions = emulator.service().sessions();
        assert_eq!(sessions.len(), 2, "a session a forward");

        let status = std::process::Command::new("kill")
            .args(["-INT", &child.id().unwrap().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).await.unwrap();
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}: {err}");
        assert!(err.contains("2 forwards, started together"), "{err}");
        assert!(
            err.contains(&format!("({also} through {WEB}): 1 connections, 21 bytes up")),
            "{err}"
        );
        for session in sessions {
            let record = emulator.service().session_ended(&session.id).await;
            assert_eq!(record.reason.as_deref(), Some("Airlock profile stack"));
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rdp_tunnels_to_a_windows_node_starts_the_client_on_it_and_shows_the_password() {
    use ssm_emulator::fleet::{DEMO_WINDOWS_KEY, DEMO_WINDOWS_PASSWORD};
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        // The node's "RDP port": an echo server (a node's port is a local one here).
        let rdp_port = echo_server().await;
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("win-1.pem");
        std::fs::write(&key, DEMO_WINDOWS_KEY).unwrap();
        // A stand-in RDP client found on the PATH as FreeRDP is: it writes down its arguments
        // and runs until a line arrives on its input (the CLI's, which it inherits).
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let record = dir.path().join("client-args");
        let client = bin.join("xfreerdp");
        std::fs::write(&client, "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$RDP_RECORD\"\nread line\n")
            .unwrap();
        std::fs::set_permissions(&client, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

        let mut child = cli
            .command()
            .args(["rdp", "win-1", "--port", &rdp_port.to_string(), "--key"])
            .arg(&key)
            .env("PATH", &path)
            .env("RDP_RECORD", &record)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let addr = listening_on(&mut stdout).await;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"an RDP client's bytes").await.unwrap();
        let mut back = [0u8; 21];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"an RDP client's bytes");
        drop(stream);

        // The client's input ends: it exits, and the tunnel stops with it.
        child.stdin.take().unwrap().write_all(b"done\n").await.unwrap();
        let mut err = String::new();
        child.stderr.take().unwrap().read_to_string(&mut err).await.unwrap();
        let status = child.wait().await.unwrap();
        assert!(status.success(), "{status:?}: {err}");
        assert!(
            err.contains(&format!("Password for Administrator: {DEMO_WINDOWS_PASSWORD}")),
            "{err}"
        );
        assert!(err.contains("The RDP client exited"), "{err}");
        let args = std::fs::read_to_string(&record).unwrap();
        assert_eq!(
            args,
            format!("/v:{addr}\n/u:Administrator\n"),
            "no password on its command line"
        );
        let sessions = emulator.service().sessions();
        assert_eq!(sessions.len(), 1);
        let record = emulator.service().session_ended(&sessions[0].id).await;
        assert_eq!(
            (record.target.as_str(), record.document.as_str()),
            ("i-0a1b2c3d4e5f60004", "AWS-StartPortForwardingSession")
        );

        // Its shell: the stand-in, fed as the Windows agent feeds PowerShell (each line end a
        // carriage return), still runs what is typed.
        let (code, out, err) = cli.run(&["shell", "win-1"], b"echo $((6*7))\nexit\n").await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("PS C:\\Windows\\system32>") && out.lines().any(|l| l.trim() == "42"),
            "{out}"
        );

        let (code, _, err) = cli.run(&["rdp", "web-1", "--no-client"], b"").await;
        assert_eq!(code, 1);
        assert!(err.contains("web-1 is a Linux node: RDP is for Windows nodes"), "{err}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_bad_input_gets_an_error_that_says_what_to_do() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(true).await;
        let cli = Cli::new(&emulator);
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let taken_port = taken.local_addr().unwrap().port().to_string();
        let cases: [(&[&str], &str); 6] = [
            (&["shell", "batch-old"], "not connected to Session Manager"),
            (&["shell", "i-0123456789abcdef9"], "not connected to Session Manager"),
            (&["shell", "web-1", "--document", "No-Such-Doc"], "does not exist"),
            (&["shell", "nobody"], "no node is named"),
            (&["forward", "web-1", "--port", "80", "--local-port", &taken_port], "already in use"),
            (&["shell", "web-1", "--parameter", "oops"], "KEY=VALUE"),
        ];
        for (args, needle) in cases {
            let (code, _, err) = cli.run(args, b"").await;
            assert_eq!(code, 1, "{args:?}: {err}");
            assert!(err.contains(needle), "{args:?} said {err:?}, expected {needle:?}");
        }
        let mut no_credentials = cli.command();
        no_credentials
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .args(["nodes"])
            .stderr(Stdio::piped());
        let output = no_credentials.output().await.unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1));
        assert!(err.contains("no usable AWS credentials"), "{err}");
        drop(taken);
    })
    .await
    .unwrap();
}

/// A web server on a free local port that answers every request with `body`.
async fn web_page(body: &'static str) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

/// `airlock socks`: curl, resolving names at the proxy's far side (`--socks5-hostname`),
/// reaches two web servers behind the node; connections to one destination share its session,
/// and each destination has its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn socks_reaches_two_destinations_through_the_node_a_session_each() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator(false).await;
        let cli = Cli::new(&emulator);
        let (first, second) = (web_page("first page").await, web_page("second page").await);
        let mut child = cli
            .command()
            .args(["socks", "web-1", "--port", "0"])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = tokio::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        tokio::io::AsyncBufReadExt::read_line(&mut stdout, &mut line).await.unwrap();
        let proxy: SocketAddr = line
            .trim()
            .strip_prefix("SOCKS5 proxy on ")
            .unwrap_or_else(|| panic!("{line:?}"))
            .parse()
            .unwrap();
        for (port, page) in [(first, "first page"), (second, "second page"), (first, "first page")]
        {
            let output = tokio::process::Command::new("curl")
                .args(["-sS", "--noproxy", "", "--socks5-hostname", &proxy.to_string()])
                .arg(format!("http://localhost:{port}/"))
                .env_remove("ALL_PROXY")
                .env_remove("all_proxy")
                .output()
                .await
                .expect("curl (installed by scripts/setup --for-tests)");
            assert!(
                output.status.success(),
                "curl to localhost:{port}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_eq!(String::from_utf8_lossy(&output.stdout), page);
        }
        let through: Vec<_> = emulator
            .service()
            .sessions()
            .into_iter()
            .filter(|s| s.document == "AWS-StartPortForwardingSessionToRemoteHost")
            .collect();
        assert_eq!(through.len(), 2, "a session for each destination, reused: {through:?}");
        assert!(through.iter().all(|s| s.target == WEB), "through web-1 by its Name tag");
        child.start_kill().unwrap();
        child.wait().await.unwrap();
    })
    .await
    .unwrap();
}
