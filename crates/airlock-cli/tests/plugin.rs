//! Airlock as `session-manager-plugin`, driven by the real AWS CLI (version 1, from PyPI;
//! `scripts/setup --for-tests` installs it) against the emulator over TLS: `aws ssm
//! start-session` finds the `airlock` binary on its PATH under the plugin's name, asks its
//! version, hands it the session in the environment, and the shell and the tunnel run on
//! Airlock's engine, with the plugin's lines on stdout.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ssm_emulator::fleet::{DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::testkit::echo_server;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001"; // agent 3.3.1142.0: multiplexed port forwarding

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.unwrap_or_else(|_| panic!("{what} hung"))
}

/// The AWS CLI that scripts/setup installs.
fn aws_cli() -> PathBuf {
    let tools = std::env::var_os("AIRLOCK_TOOLS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/airlock-tools")
    });
    let aws = tools.join("awscli/bin/aws");
    assert!(
        aws.is_file(),
        "the AWS CLI is not at {}: run scripts/setup --for-tests (or scripts/test) first",
        aws.display()
    );
    aws
}

/// A user's machine: a home with the emulator's CA in it, and a PATH whose
/// session-manager-plugin is a link to the `airlock` binary, as the README says to make it.
struct Machine {
    home: tempfile::TempDir,
    endpoint: String,
}

impl Machine {
    fn new(emulator: &RunningEmulator) -> Machine {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(home.path().join("ca.pem"), emulator.ca_pem().expect("TLS")).unwrap();
        let bin = home.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(
            env!("CARGO_BIN_EXE_airlock"),
            bin.join("session-manager-plugin"),
        )
        .unwrap();
        Machine { home, endpoint: emulator.endpoint_url() }
    }

    fn bin(&self) -> PathBuf {
        self.home.path().join("bin")
    }

    /// `aws ARGS` with the emulator as AWS, reached as AWS is: AWS_ENDPOINT_URL, a CA in
    /// AWS_CA_BUNDLE, keys in the environment.
    fn aws(&self, args: &[&str]) -> tokio::process::Command {
        let path = format!("{}:/usr/local/bin:/usr/bin:/bin", self.bin().display());
        let mut command = tokio::process::Command::new(aws_cli());
        command
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CA_BUNDLE", self.home.path().join("ca.pem"))
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
            .env("AIRLOCK_LOG", "airlock=debug")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }
}

fn session_id_in(stdout: &str) -> String {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("Starting session with SessionId: "))
        .unwrap_or_else(|| panic!("no Starting line in {stdout:?}"));
    line.trim().to_owned()
}

#[test]
fn the_binary_under_the_plugins_name_answers_the_installation_checks() {
    let machine_bin = tempfile::tempdir().unwrap();
    let plugin = machine_bin.path().join("session-manager-plugin");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_airlock"), &plugin).unwrap();
    let run = |args: &[&str]| std::process::Command::new(&plugin).args(args).output().unwrap();
    let alone = run(&[]);
    assert!(alone.status.success());
    assert!(String::from_utf8_lossy(&alone.stdout).contains("installed successfully"));
    let version = run(&["--version"]);
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    assert!(
        version.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())),
        "the AWS CLI reads a version of digits and dots: {version:?}"
    );
    let bad = run(&["{}", "us-east-1", "StartSession", "", r#"{"Target":"i-1"}"#, ""]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no SessionId"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_ssm_start_session_runs_a_shell_through_airlock() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let machine = Machine::new(&emulator);
    let mut child = machine.aws(&["ssm", "start-session", "--target", WEB]).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"echo through-$((6*7))\nexit\n").await.unwrap();
    drop(stdin);
    let output = within("the shell", child.wait_with_output()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "aws exited {:?}: {stdout}\n{stderr}", output.status);
    let session_id = session_id_in(&stdout);
    assert!(stdout.contains("through-42"), "{stdout}");
    assert!(stdout.contains(&format!("Exiting session with sessionId: {session_id}.")), "{stdout}");
    // The CLI trusted the reported version and passed the token in the environment, not in
    // the arguments where any local user's `ps` sees it.
    assert!(
        stderr.contains("StartSession response came in AWS_SSM_START_SESSION_RESPONSE"),
        "{stderr}"
    );
    assert!(!stderr.contains("outdated SessionManagerPlugin"), "{stderr}");
    let record = emulator.service().session_ended(&session_id).await;
    assert_eq!(record.target, WEB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_ssm_start_session_forwards_a_port_through_airlock_until_interrupted() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let machine = Machine::new(&emulator);
    let echo = echo_server().await;
    let parameters = format!(r#"{{"portNumber":["{echo}"],"localPortNumber":["0"]}}"#);
    let mut command = machine.aws(&[
        "ssm",
        "start-session",
        "--target",
        WEB,
        "--document-name",
        "AWS-StartPortForwardingSession",
        "--parameters",
        &parameters,
    ]);
    // Its own process group, so the interrupt reaches the CLI and the plugin as a terminal's
    // Ctrl-C does.
    command.process_group(0);
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    let port = within("the port line", async {
        loop {
            let line =
                lines.next_line().await.unwrap().unwrap_or_else(|| panic!("stdout ended: {seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if let Some(rest) = line.strip_prefix("Port ") {
                let port = rest.split_whitespace().next().unwrap();
                break port.parse::<u16>().unwrap();
            }
        }
    })
    .await;
    let session_id = session_id_in(&seen);
    assert!(seen.contains(&format!("opened for sessionId {session_id}.")), "{seen}");
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("Waiting for connections..."));

    // Two connections at once, each carrying its own bytes there and back.
    let mut connections = Vec::new();
    for i in 0..2u8 {
        connections.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let sent: Vec<u8> = (0..256 * 1024u32).map(|n| (n as u8) ^ i).collect();
            let (mut read, mut write) = stream.split();
            let (_, received) = tokio::join!(write.write_all(&sent), async {
                let mut received = vec![0u8; sent.len()];
                read.read_exact(&mut received).await.unwrap();
                received
            });
            assert!(received == sent, "connection {i} came back changed");
        }));
    }
    for connection in connections {
        within("a connection", connection).await.unwrap();
    }

    let group = child.id().unwrap().to_string();
    let status = std::process::Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status()
        .unwrap();
    assert!(status.success());
    let status = within("the interrupted tunnel", child.wait()).await.unwrap();
    let mut rest = String::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        rest.push_str(&line);
        rest.push('\n');
    }
    assert!(status.success(), "aws exited {status:?}: {rest}");
    assert!(rest.contains("Terminate signal received, exiting."), "{rest}");
    assert!(rest.contains(&format!("Exiting session with sessionId: {session_id}.")), "{rest}");
    let record = within("the termination", emulator.service().session_ended(&session_id)).await;
    assert_eq!(record.target, WEB);
}
