//! The engine's benchmark: `scripts/bench` (or `cargo bench --workspace --bench engine`).
//!
//! Starts the emulator in-process and measures Airlock's engine against it, each figure beside
//! a baseline taken in the same run:
//! - tunnel download and upload on one connection, paced (the agent's 1 KiB/ms pacing and the
//!   service's message-rate limit, as on AWS) and unpaced, against a direct loopback copy;
//! - 8 parallel downloads through a tunnel of 4 pooled sessions, against the same with 1;
//! - keystroke echo round trip in a shell, against a shell in a local pty;
//! - time from StartSession to a usable local port, against a bare StartSession call;
//! - the client's CPU seconds per GB moved, against a direct loopback copy's.
//!
//! Three tokio runtimes keep the parts apart so each one's CPU time can be read from its own
//! threads (`/proc/thread-self`, Linux): Airlock's engine, the emulator, and the TCP peers.
//! Prints a Markdown table for the README.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_core::aws::{Aws, DirectEndpoint, StartRequest};
use airlock_core::datachannel::{Command, DriverConfig, Notice};
use airlock_core::session::TunnelSpec;
use ssm_emulator::fleet::Fleet;
use ssm_emulator::testkit::{download, echo_server, one_way_server, upload};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;

const MIB: usize = 1024 * 1024;
const WEB: &str = "i-0a1b2c3d4e5f60001"; // agent 3.3.1142.0: multiplexed

/// A runtime whose worker threads are recorded, so their CPU time can be summed.
struct Part {
    runtime: Runtime,
    threads: Arc<Mutex<Vec<String>>>,
}

impl Part {
    fn new(name: &str) -> Part {
        let threads = Arc::new(Mutex::new(Vec::new()));
        let record = threads.clone();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(name)
            .on_thread_start(move || {
                if let Ok(path) = std::fs::read_link("/proc/thread-self") {
                    record
                        .lock()
                        .expect("not poisoned")
                        .push(format!("/proc/{}/schedstat", path.display()));
                }
            })
            .enable_all()
            .build()
            .expect("a tokio runtime");
        Part { runtime, threads }
    }

    /// CPU time of this part's threads so far (Linux scheduler statistics).
    fn cpu(&self) -> Duration {
        let threads = self.threads.lock().expect("not poisoned").clone();
        let nanos: u64 = threads
            .iter()
            .filter_map(|path| std::fs::read_to_string(path).ok())
            .filter_map(|text| text.split_whitespace().next().and_then(|n| n.parse::<u64>().ok()))
            .sum();
        Duration::from_nanos(nanos)
    }
}

fn megabytes_per_second(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

struct Row {
    what: String,
    airlock: String,
    baseline: String,
    ratio: String,
}

fn throughput_row(what: &str, airlock: f64, baseline_what: &str, baseline: f64) -> Row {
    Row {
        what: what.into(),
        airlock: format!("{airlock:.2} MB/s"),
        baseline: format!("{baseline:.0} MB/s ({baseline_what})"),
        ratio: format!("{:.3}×", airlock / baseline),
    }
}

fn main() {
    // `cargo test --all-targets` runs this binary without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("the engine benchmark runs with `scripts/bench` (cargo bench); skipped under cargo test");
        return;
    }
    let peers = Part::new("peers");
    let emulator_part = Part::new("emulator");
    let airlock = Part::new("airlock");
    let mut rows = Vec::new();

    let paced = emulator_part
        .runtime
        .block_on(Emulator::start(EmulatorConfig {
            fleet: Fleet::default_fleet(),
            paced: true,
            ..EmulatorConfig::default()
        }))
        .expect("emulator");
    let unpaced = emulator_part
        .runtime
        .block_on(Emulator::start(EmulatorConfig {
            fleet: Fleet::default_fleet(),
            paced: false,
            ..EmulatorConfig::default()
        }))
        .expect("emulator");
    let server = SocketAddr::from(([127, 0, 0, 1], peers.runtime.block_on(one_way_server())));

    // The floor: a direct loopback copy between the peers.
    let direct_size = 256 * MIB;
    let cpu_before = peers.cpu();
    let started = Instant::now();
    peers.runtime.block_on(download(server, direct_size)).expect("direct download");
    let direct_down = started.elapsed();
    let started = Instant::now();
    peers.runtime.block_on(upload(server, direct_size)).expect("direct upload");
    let direct_up = started.elapsed();
    let direct_cpu_per_gb =
        (peers.cpu() - cpu_before).as_secs_f64() / (2.0 * direct_size as f64 / 1e9);
    let (direct_down, direct_up) = (
        megabytes_per_second(direct_size, direct_down),
        megabytes_per_second(direct_size, direct_up),
    );
    eprintln!("direct loopback: {direct_down:.0} MB/s down, {direct_up:.0} MB/s up");

    // One connection, each direction, paced as on AWS.
    let aws_paced = Aws::direct(&far_side(&paced)).expect("config");
    let size = 8 * MIB;
    let (down, up) = one_connection(
        &airlock,
        &peers,
        &aws_paced,
        aws_paced.driver_config(),
        server.port(),
        size,
    );
    rows.push(throughput_row(
        "download, 1 connection, paced",
        megabytes_per_second(size, down),
        "direct loopback",
        direct_down,
    ));
    rows.push(throughput_row(
        "upload, 1 connection, paced",
        megabytes_per_second(size, up),
        "direct loopback",
        direct_up,
    ));

    // The same unpaced: what the engine itself can carry. Client CPU is measured here.
    let aws_unpaced = Aws::direct(&far_side(&unpaced)).expect("config");
    let size = 64 * MIB;
    let cpu_before = airlock.cpu();
    let (down, up) = one_connection(
        &airlock,
        &peers,
        &aws_unpaced,
        DriverConfig { message_rate: None, ..aws_unpaced.driver_config() },
        server.port(),
        size,
    );
    let client_cpu_per_gb = (airlock.cpu() - cpu_before).as_secs_f64() / (2.0 * size as f64 / 1e9);
    rows.push(throughput_row(
        "download, 1 connection, unpaced",
        megabytes_per_second(size, down),
        "direct loopback",
        direct_down,
    ));
    rows.push(throughput_row(
        "upload, 1 connection, unpaced",
        megabytes_per_second(size, up),
        "direct loopback",
        direct_up,
    ));

    // Eight parallel downloads, paced: one session against a pool of four.
    let size = 2 * MIB;
    let one = parallel_downloads(&airlock, &peers, &aws_paced, server.port(), 1, 8, size);
    let four = parallel_downloads(&airlock, &peers, &aws_paced, server.port(), 4, 8, size);
    let (a, b) = (megabytes_per_second(8 * size, four), megabytes_per_second(8 * size, one));
    rows.push(Row {
        what: "8 parallel downloads, paced, 4 pooled sessions".into(),
        airlock: format!("{a:.2} MB/s"),
        baseline: format!("{b:.2} MB/s (1 session)"),
        ratio: format!("{:.2}×", a / b),
    });

    // Keystroke echo.
    let echo = keystroke_echo(&airlock, &aws_paced, 100);
    let local = local_pty_echo(100);
    rows.push(Row {
        what: "keystroke echo round trip (median of 100)".into(),
        airlock: format!("{:.2} ms", echo.as_secs_f64() * 1e3),
        baseline: format!("{:.2} ms (local pty)", local.as_secs_f64() * 1e3),
        ratio: format!("{:.1}×", echo.as_secs_f64() / local.as_secs_f64()),
    });

    // StartSession to a usable local port.
    let echo_port = peers.runtime.block_on(echo_server());
    let (ready, bare) = time_to_port(&airlock, &aws_paced, echo_port, 5);
    rows.push(Row {
        what: "StartSession to a usable local port (median of 5)".into(),
        airlock: format!("{:.1} ms", ready.as_secs_f64() * 1e3),
        baseline: format!("{:.1} ms (StartSession call alone)", bare.as_secs_f64() * 1e3),
        ratio: format!("{:.1}×", ready.as_secs_f64() / bare.as_secs_f64()),
    });

    rows.push(Row {
        what: "client CPU per GB moved (unpaced, both directions)".into(),
        airlock: format!("{client_cpu_per_gb:.2} s/GB"),
        baseline: format!("{direct_cpu_per_gb:.2} s/GB (direct loopback copy, both ends)"),
        ratio: format!("{:.1}×", client_cpu_per_gb / direct_cpu_per_gb),
    });

    let date = std::process::Command::new("date")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    println!("\nAirlock engine against the in-process emulator ({cores} cores, {date}):\n");
    println!("| measurement | Airlock | baseline (same run) | ratio |");
    println!("|---|---|---|---|");
    for row in rows {
        println!("| {} | {} | {} | {} |", row.what, row.airlock, row.baseline, row.ratio);
    }
    drop((paced, unpaced));
}

/// A one-session tunnel to `port`; times a download and then an upload of `size` bytes.
fn one_connection(
    airlock: &Part,
    peers: &Part,
    aws: &Aws,
    config: DriverConfig,
    port: u16,
    size: usize,
) -> (Duration, Duration) {
    let tunnel =
        airlock.runtime.block_on(aws.forward_with(&spec(port, 1), config)).expect("tunnel");
    let addr = tunnel.local_addr();
    let started = Instant::now();
    peers.runtime.block_on(download(addr, size)).expect("download through the tunnel");
    let down = started.elapsed();
    let started = Instant::now();
    peers.runtime.block_on(upload(addr, size)).expect("upload through the tunnel");
    let up = started.elapsed();
    airlock.runtime.block_on(tunnel.stop());
    eprintln!(
        "1 connection: {:.2} MB/s down, {:.2} MB/s up",
        megabytes_per_second(size, down),
        megabytes_per_second(size, up)
    );
    (down, up)
}

fn spec(port: u16, sessions: usize) -> TunnelSpec {
    TunnelSpec {
        target: WEB.into(),
        remote_port: port,
        remote_host: None,
        local: SocketAddr::from(([127, 0, 0, 1], 0)),
        sessions,
        reason: Some("benchmark".into()),
        document: None,
        keep_alive: None,
    }
}

fn parallel_downloads(
    airlock: &Part,
    peers: &Part,
    aws: &Aws,
    port: u16,
    sessions: usize,
    connections: usize,
    size: usize,
) -> Duration {
    let tunnel = airlock.runtime.block_on(aws.forward(&spec(port, sessions))).expect("tunnel");
    let addr = tunnel.local_addr();
    let started = Instant::now();
    peers.runtime.block_on(async {
        let tasks: Vec<_> = (0..connections).map(|_| tokio::spawn(download(addr, size))).collect();
        for task in tasks {
            task.await.expect("a download task").expect("a download through the tunnel");
        }
    });
    let elapsed = started.elapsed();
    airlock.runtime.block_on(tunnel.stop());
    eprintln!(
        "{connections} downloads over {sessions} session(s): {:.2} MB/s",
        megabytes_per_second(connections * size, elapsed)
    );
    elapsed
}

/// Median time from a keystroke sent to its echo seen, in a shell with echo on.
fn keystroke_echo(airlock: &Part, aws: &Aws, rounds: usize) -> Duration {
    airlock.runtime.block_on(async {
        let mut session = aws
            .open(
                &StartRequest { target: WEB.into(), ..StartRequest::default() },
                aws.driver_config(),
            )
            .await
            .expect("a shell");
        // A marker proves the shell reads input; everything before it is the prompt.
        session
            .channel
            .commands
            .send(Command::Data(b"echo read''y\n".to_vec()))
            .await
            .expect("send");
        wait_for(&mut session.channel.notices, "ready").await;
        let mut samples = Vec::with_capacity(rounds);
        for i in 0..rounds {
            let key = b'a' + (i % 26) as u8;
            let started = Instant::now();
            session.channel.commands.send(Command::Data(vec![key])).await.expect("send");
            wait_for(&mut session.channel.notices, std::str::from_utf8(&[key]).expect("ascii"))
                .await;
            samples.push(started.elapsed());
        }
        let _ = session.terminate().await;
        median(samples)
    })
}

async fn wait_for(notices: &mut tokio::sync::mpsc::Receiver<Notice>, needle: &str) {
    let mut seen = String::new();
    while !seen.contains(needle) {
        match notices.recv().await {
            Some(Notice::Data(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Some(Notice::Ended(ending)) => panic!("the shell ended: {ending}"),
            Some(_) => {}
            None => panic!("the session's task stopped"),
        }
    }
}

/// The same echo measured on a local shell in a pty: the floor of any terminal.
fn local_pty_echo(rounds: usize) -> Duration {
    let pty =
        portable_pty::native_pty_system().openpty(portable_pty::PtySize::default()).expect("a pty");
    let mut child =
        pty.slave.spawn_command(portable_pty::CommandBuilder::new("/bin/sh")).expect("a shell");
    let mut reader = pty.master.try_clone_reader().expect("pty reader");
    let mut writer = pty.master.take_writer().expect("pty writer");
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let wait = |needle: &[u8]| {
        let mut seen = Vec::new();
        while !seen.windows(needle.len()).any(|w| w == needle) {
            seen.extend(rx.recv().expect("pty output"));
        }
    };
    writer.write_all(b"echo read''y\n").expect("pty write");
    wait(b"ready");
    let mut samples = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let key = b'a' + (i % 26) as u8;
        let started = Instant::now();
        writer.write_all(&[key]).expect("pty write");
        wait(&[key]);
        samples.push(started.elapsed());
    }
    let _ = child.kill();
    median(samples)
}

/// Median time from asking for a tunnel to the first echo through it, and of a bare
/// StartSession call.
fn time_to_port(airlock: &Part, aws: &Aws, echo_port: u16, rounds: usize) -> (Duration, Duration) {
    airlock.runtime.block_on(async {
        let mut ready = Vec::new();
        let mut bare = Vec::new();
        for _ in 0..rounds {
            let started = Instant::now();
            let tunnel = aws.forward(&spec(echo_port, 1)).await.expect("tunnel");
            let mut stream =
                tokio::net::TcpStream::connect(tunnel.local_addr()).await.expect("connect");
            stream.write_all(b"x").await.expect("write");
            let mut back = [0u8; 1];
            stream.read_exact(&mut back).await.expect("echo");
            ready.push(started.elapsed());
            tunnel.stop().await;

            let started = Instant::now();
            let endpoint =
                aws.start_session(&spec(echo_port, 1).start_request()).await.expect("StartSession");
            bare.push(started.elapsed());
            let _ = aws.terminate_session(&endpoint.session_id).await;
        }
        (median(ready), median(bare))
    })
}

/// The emulator as the engine reaches AWS: over TLS, trusting the emulator's own CA.
fn far_side(emulator: &RunningEmulator) -> DirectEndpoint {
    let key = emulator.credentials();
    DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    )
}
