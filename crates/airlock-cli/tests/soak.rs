//! The soak: bytes through a multiplexed tunnel, both ways at once, while the emulator drops,
//! duplicates and reorders 1 % of the frames each way and kills the socket every 20,000
//! frames. Every byte is checked by SHA-256. The size is `AIRLOCK_SOAK_MIB` each way (16 by
//! default, which the test command runs); `scripts/soak [MIB]` runs it larger and the README
//! records a 1024 MiB run.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use airlock_core::aws::{Aws, DirectEndpoint};
use airlock_core::datachannel::DriverConfig;
use airlock_core::session::TunnelSpec;
use ssm_emulator::faults::{DirectionFaults, FaultConfig};
use ssm_emulator::fleet::Fleet;
use ssm_emulator::testkit::{transfer_client, transfer_server, Pattern};
use ssm_emulator::{Emulator, EmulatorConfig};

const MIB: usize = 1024 * 1024;
const CONNECTIONS: u64 = 4;
/// A guard against a hung run, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(6 * 3600);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tunnel_soaks_up_loss_duplication_reordering_and_socket_kills() {
    let mib: usize =
        std::env::var("AIRLOCK_SOAK_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(16);
    let per_connection = mib * MIB / CONNECTIONS as usize;
    let emulator = Emulator::start(EmulatorConfig {
        fleet: Fleet::default_fleet(),
        paced: false,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let key = emulator.credentials();
    let aws = Aws::direct(&DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    ))
    .unwrap();
    let port = transfer_server(per_connection).await;
    let lossy = DirectionFaults {
        drop: 0.01,
        duplicate: 0.01,
        reorder: 0.01,
        ..DirectionFaults::default()
    };
    emulator
        .faults()
        .set(FaultConfig {
            to_client: lossy.clone(),
            to_agent: lossy,
            close_after_frames: Some(20_000),
            ..FaultConfig::default()
        })
        .unwrap();
    let spec = TunnelSpec {
        target: "i-0a1b2c3d4e5f60001".into(),
        remote_port: port,
        remote_host: None,
        local: SocketAddr::from(([127, 0, 0, 1], 0)),
        sessions: 1,
        reason: None,
        document: None,
        keep_alive: None,
    };
    let tunnel = aws
        .forward_with(&spec, DriverConfig { message_rate: None, ..aws.driver_config() })
        .await
        .unwrap();
    let started = Instant::now();
    let addr = tunnel.local_addr();
    let clients: Vec<_> =
        (0..CONNECTIONS).map(|i| tokio::spawn(transfer_client(addr, i, per_connection))).collect();
    tokio::time::timeout(HANG_GUARD, async {
        for client in clients {
            client.await.expect("a transfer task panicked").expect("a transfer failed");
        }
    })
    .await
    .expect("the soak hung");
    let elapsed = started.elapsed();
    let figures = tunnel.figures();
    let kills = emulator.metrics().snapshot().links_killed;
    tunnel.stop().await;

    println!(
        "soak: {mib} MiB each way over {CONNECTIONS} connections in {:.1} s",
        elapsed.as_secs_f64()
    );
    println!(
        "soak: sent {} bytes, received {} bytes through the tunnel",
        figures.bytes_up, figures.bytes_down
    );
    for i in 0..CONNECTIONS {
        println!(
            "soak: connection {i}: up sha256 {} down sha256 {} (both checked at the far end)",
            hex(&Pattern::digest(i, per_connection)[..8]),
            hex(&Pattern::digest(i + 1000, per_connection)[..8])
        );
    }
    println!(
        "soak: {kills} socket kills survived, {} reconnects, {} messages resent by the agent",
        figures.reconnects,
        tunnel_resends(&emulator)
    );
    let moved = (per_connection as u64) * CONNECTIONS;
    assert!(figures.bytes_up >= moved && figures.bytes_down >= moved, "{figures:?}");
    assert!(
        kills >= 1 && figures.reconnects >= kills,
        "every kill was survived by a reconnect: {kills} kills, {figures:?}"
    );
}

/// The agent side's count of frames it sent again.
fn tunnel_resends(emulator: &ssm_emulator::RunningEmulator) -> u64 {
    emulator.metrics().snapshot().resends
}
