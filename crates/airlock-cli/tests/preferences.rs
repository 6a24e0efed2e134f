//! KMS-encrypted sessions and Session Manager preferences, end to end: Airlock's engine and the
//! `airlock` binary against the emulator over TLS, with the fleet's KMS key named in the
//! preferences. An encrypted shell and an encrypted interactive command (echo, resize, a large
//! output byte-exact, an exit code), a port session on the same fleet left unencrypted, a
//! reconnect of an encrypted session with nothing lost, each KMS failure's message, Run As,
//! the idle timeout, the maximum duration and the shell profile.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use airlock_core::aws::{Aws, DirectEndpoint, StartRequest};
use airlock_core::datachannel::{Command, Ending, Notice, Ready};
use airlock_core::session::{OpenError, OpenSession, TunnelSpec};
use sha2::{Digest, Sha256};
use ssm_emulator::faults::FaultConfig;
use ssm_emulator::fleet::{Fleet, KmsKeySpec, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::testkit::echo_server;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use ssm_protocol::payload::TerminalSize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001";
const LEGACY: &str = "i-0a1b2c3d4e5f60002"; // agent 3.0.161.0: basic port forwarding
const KEY_ID: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
const ALIAS: &str = "alias/session-manager";

/// The default fleet with a KMS key that the preferences name, as an organisation that
/// encrypts its sessions has it.
fn encrypted_fleet() -> Fleet {
    let mut fleet = Fleet::default_fleet();
    fleet.kms_keys.push(KmsKeySpec { id: KEY_ID.into(), alias: Some(ALIAS.into()), enabled: true });
    fleet.preferences.kms_key_id = ALIAS.into();
    fleet
}

async fn emulator(fleet: Fleet) -> RunningEmulator {
    Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap()
}

fn aws(emulator: &RunningEmulator) -> Aws {
    let key = emulator.credentials();
    Aws::direct(&DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    ))
    .unwrap()
}

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.expect("the test hung")
}

async fn open(
    aws: &Aws,
    document: Option<&str>,
    parameters: &[(&str, &str)],
) -> (OpenSession, Ready) {
    let parameters: HashMap<String, Vec<String>> =
        parameters.iter().map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()])).collect();
    let request = StartRequest {
        target: WEB.into(),
        document: document.map(str::to_owned),
        parameters,
        reason: None,
    };
    let mut session = aws.open(&request, aws.driver_config()).await.expect("the session starts");
    let ready = session.ready().await.expect("the session is ready");
    (session, ready)
}

/// Output until `needle` shows (or the session ends, which fails the test).
async fn until(session: &mut OpenSession, screen: &mut Vec<u8>, needle: &str) {
    while !String::from_utf8_lossy(screen).contains(needle) {
        match session.channel.notices.recv().await.expect("the session's task stopped") {
            Notice::Data(bytes) => screen.extend(bytes),
            Notice::Ended(ending) => panic!(
                "the session ended before {needle:?}: {ending}; saw {:?}",
                String::from_utf8_lossy(screen)
            ),
            _ => {}
        }
    }
}

/// Everything a session says until it ends, and how it ended.
async fn to_the_end(session: &mut OpenSession) -> (Vec<u8>, Option<i32>, Ending) {
    let (mut output, mut code) = (Vec::new(), None);
    loop {
        match session.channel.notices.recv().await.expect("the session's task stopped") {
            Notice::Data(bytes) => output.extend(bytes),
            Notice::Exit(c) => code = Some(c),
            Notice::Ended(ending) => return (output, code, ending),
            _ => {}
        }
    }
}

fn assert_encrypted(ready: &Ready) {
    assert_eq!(ready.encrypted_with.as_deref(), Some(ALIAS), "the key the preferences name");
    assert_eq!(
        ready.customer_message, "This session is encrypted using AWS KMS.",
        "the agent's HandshakeComplete message"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_shell_echoes_and_resizes() {
    within(async {
        let emulator = emulator(encrypted_fleet()).await;
        let aws = aws(&emulator);
        let (mut session, ready) = open(&aws, None, &[]).await;
        assert_encrypted(&ready);
        session
            .channel
            .commands
            .send(Command::Resize(TerminalSize { cols: 91, rows: 27 }))
            .await
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Data(b"stty size; echo sealed-$((40+2))\n".to_vec()))
            .await
            .unwrap();
        let mut screen = Vec::new();
        until(&mut session, &mut screen, "sealed-42").await;
        assert!(String::from_utf8_lossy(&screen).contains("27 91"), "the size reached the pty");
        session.terminate().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn encrypted_commands_carry_a_large_output_byte_exact_and_their_exit_code() {
    within(async {
        let emulator = emulator(encrypted_fleet()).await;
        let aws = aws(&emulator);
        // Non-interactive: pipes, so the output is exactly what the command wrote.
        let (mut session, ready) = open(
            &aws,
            Some("AWS-StartNonInteractiveCommand"),
            &[("command", "seq 1 200000; exit 3")],
        )
        .await;
        assert_encrypted(&ready);
        let (output, code, ending) = to_the_end(&mut session).await;
        let expected: String = (1..=200_000).map(|n| format!("{n}\n")).collect();
        assert_eq!(output.len(), expected.len(), "every byte of {} came through", expected.len());
        assert_eq!(Sha256::digest(&output), Sha256::digest(expected.as_bytes()), "byte-exact");
        assert_eq!(code, Some(3));
        assert!(matches!(ending, Ending::Closed { .. }), "{ending:?}");

        // Interactive: a pty, so keystrokes and a resize reach it.
        let (mut session, ready) = open(
            &aws,
            Some("AWS-StartInteractiveCommand"),
            &[("command", "read line; stty size; echo got-$line")],
        )
        .await;
        assert_encrypted(&ready);
        session
            .channel
            .commands
            .send(Command::Resize(TerminalSize { cols: 70, rows: 20 }))
            .await
            .unwrap();
        session.channel.commands.send(Command::Data(b"kms\r".to_vec())).await.unwrap();
        let mut screen = Vec::new();
        until(&mut session, &mut screen, "got-kms").await;
        assert!(
            String::from_utf8_lossy(&screen).contains("20 70"),
            "{}",
            String::from_utf8_lossy(&screen)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_port_session_on_the_same_fleet_is_not_encrypted() {
    within(async {
        let emulator = emulator(encrypted_fleet()).await;
        let aws = aws(&emulator);
        let echo = echo_server().await;
        let (_, ready) = open(
            &aws,
            Some("AWS-StartPortForwardingSession"),
            &[("portNumber", &echo.to_string())],
        )
        .await;
        assert_eq!(ready.encrypted_with, None, "the agent never encrypts Port sessions");
        let spec = TunnelSpec {
            target: WEB.into(),
            remote_port: echo,
            remote_host: None,
            local: SocketAddr::from(([127, 0, 0, 1], 0)),
            sessions: 1,
            reason: None,
            document: None,
            keep_alive: None,
        };
        let tunnel = aws.forward(&spec).await.unwrap();
        let mut stream = tokio::net::TcpStream::connect(tunnel.local_addr()).await.unwrap();
        stream.write_all(b"plain port").await.unwrap();
        let mut back = [0u8; 10];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"plain port");
        tunnel.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_encrypted_session_resumes_after_socket_kills_with_nothing_lost() {
    within(async {
        let emulator = emulator(encrypted_fleet()).await;
        let aws = aws(&emulator);
        let (mut session, ready) = open(&aws, None, &[]).await;
        assert_encrypted(&ready);
        // Every socket dies after 40 frames; the session resumes on a new one each time, with
        // its keys and its sequence numbers, and the agent's output goes on where it was.
        emulator
            .faults()
            .set(FaultConfig { close_after_frames: Some(40), ..FaultConfig::default() })
            .unwrap();
        session
            .channel
            .commands
            .send(Command::Data(
                b"for i in $(seq 1 20000); do echo line-$i; done; echo done-$((1+1))\n".to_vec(),
            ))
            .await
            .unwrap();
        let mut screen = Vec::new();
        let mut reconnects = 0;
        while !String::from_utf8_lossy(&screen).contains("done-2") {
            match session.channel.notices.recv().await.expect("the session's task stopped") {
                Notice::Data(bytes) => screen.extend(bytes),
                Notice::Reconnected => reconnects += 1,
                Notice::Ended(ending) => panic!("{ending}"),
                _ => {}
            }
        }
        emulator.faults().set(FaultConfig::default()).unwrap();
        let text = String::from_utf8_lossy(&screen);
        assert!(
            reconnects >= 2 && emulator.metrics().snapshot().links_killed >= 2,
            "the sockets were killed ({reconnects} reconnects)"
        );
        for i in 1..=20000 {
            assert!(text.contains(&format!("line-{i}\r\n")), "line-{i} was lost");
        }
        session.terminate().await.unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_kms_failure_says_what_to_do() {
    within(async {
        let ended = |result: Result<(OpenSession, Ready), OpenError>| -> String {
            match result {
                Ok(_) => panic!("the session was expected to fail"),
                Err(error) => error.to_string(),
            }
        };
        let start = |aws: Aws| async move {
            let request = StartRequest { target: WEB.into(), ..StartRequest::default() };
            let mut session = aws.open(&request, aws.driver_config()).await?;
            let ready = session.ready().await?;
            Ok::<_, OpenError>((session, ready))
        };

        // The caller may not use the key.
        let mut fleet = encrypted_fleet();
        fleet.credentials[0].deny = vec!["kms:GenerateDataKey".into()];
        let emulator = emulator(fleet).await;
        let message = ended(start(aws(&emulator)).await);
        assert!(
            message.contains(&format!("the session needs kms:GenerateDataKey on {ALIAS}")),
            "{message}"
        );
        assert!(message.contains("IAM policy"), "{message}");
        let id = emulator.service().sessions().pop().unwrap().id;
        let session = emulator.service().session_ended(&id).await;
        assert_eq!(session.status, ssm_emulator::service::Status::Failed);
        let details = session.details.unwrap_or_default();
        assert!(details.contains("failed on client"), "the agent was told and ended it: {details}");

        // The key is disabled.
        let mut fleet = encrypted_fleet();
        fleet.kms_keys[0].enabled = false;
        let emulator = self::emulator(fleet).await;
        let message = ended(start(aws(&emulator)).await);
        assert!(message.contains("is disabled") && message.contains("enable it"), "{message}");

        // The preferences name a key that does not exist.
        let mut fleet = encrypted_fleet();
        fleet.preferences.kms_key_id = "alias/gone".into();
        let emulator = self::emulator(fleet).await;
        let message = ended(start(aws(&emulator)).await);
        assert!(message.contains("alias/gone") && message.contains("does not exist"), "{message}");

        // The node's agent decrypts with another target id: its own failure comes back.
        let mut fleet = encrypted_fleet();
        fleet.nodes[0].kms_target_id = Some("ecs:cluster_task_runtime".into());
        let emulator = self::emulator(fleet).await;
        let message = ended(start(aws(&emulator)).await);
        assert!(
            message
                .contains("Encountered error while initiating handshake. Fetching data key failed"),
            "the agent's words: {message}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_as_runs_the_shell_as_that_user_and_fails_as_the_agent_does_without_it() {
    within(async {
        let am_root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let mut fleet = Fleet::default_fleet();
        fleet.preferences.run_as_enabled = true;
        fleet.preferences.run_as_default_user = "nobody".into();
        let emulator = emulator(fleet).await;
        let aws = aws(&emulator);
        let request = StartRequest { target: WEB.into(), ..StartRequest::default() };
        let mut session = aws.open(&request, aws.driver_config()).await.unwrap();
        if am_root {
            session.ready().await.unwrap();
            session
                .channel
                .commands
                .send(Command::Data(b"echo user-$(id -un)\n".to_vec()))
                .await
                .unwrap();
            let mut screen = Vec::new();
            until(&mut session, &mut screen, "user-nobody").await;
            session.terminate().await.unwrap();
        } else {
            // The agent must be root to run shells as another user, and says so.
            let message = session.ready().await.unwrap_err().to_string();
            assert!(message.contains("must run as root to use RunAs"), "{message}");
        }

        // A user that does not exist: the agent's message ends the session.
        let mut fleet = Fleet::default_fleet();
        fleet.preferences.run_as_enabled = true;
        fleet.preferences.run_as_default_user = "nobody".into();
        fleet.credentials[0].run_as = Some("no-such-user-4f2a".into());
        let emulator = self::emulator(fleet).await;
        let aws = self::aws(&emulator);
        let mut session = aws.open(&request, aws.driver_config()).await.unwrap();
        let message = session.ready().await.unwrap_err().to_string();
        let expected = if am_root {
            "failed to start pty since RunAs user no-such-user-4f2a does not exist"
        } else {
            "must run as root to use RunAs"
        };
        assert!(
            message.contains(expected),
            "the caller's SSMSessionRunAs tag wins over the default user: {message}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_idle_timeout_the_maximum_duration_and_the_shell_profile_apply() {
    within(async {
        // An emulated minute of half a second: the preferences' one-minute timeouts pass quickly.
        let mut fleet = Fleet::default_fleet();
        fleet.minute_seconds = 0.5;
        fleet.preferences.idle_session_timeout = "1".into();
        fleet.preferences.shell_profile.linux = "export PROFILE_RAN=yes-it-did".into();
        let emulator = emulator(fleet).await;
        let aws = aws(&emulator);
        let (mut session, _) = open(&aws, None, &[]).await;
        // The marker's colons appear only in the output, not in the echoed profile or command.
        session
            .channel
            .commands
            .send(Command::Data(b"echo profile:$PROFILE_RAN:\n".to_vec()))
            .await
            .unwrap();
        let mut screen = Vec::new();
        until(&mut session, &mut screen, "profile:yes-it-did:").await;
        // Then nothing more is typed.
        let (_, _, ending) = to_the_end(&mut session).await;
        assert_eq!(
            ending,
            Ending::Closed {
                output: "Your session timed out due to inactivity and has been terminated.".into()
            }
        );

        let mut fleet = Fleet::default_fleet();
        fleet.minute_seconds = 0.5;
        fleet.preferences.max_session_duration = "2".into();
        let emulator = self::emulator(fleet).await;
        let aws = self::aws(&emulator);
        let (mut session, _) = open(&aws, None, &[]).await;
        // Busy all along: the maximum duration ends it anyway.
        session
            .channel
            .commands
            .send(Command::Data(b"while true; do echo busy; sleep 0.05; done\n".to_vec()))
            .await
            .unwrap();
        let (_, _, ending) = to_the_end(&mut session).await;
        assert_eq!(
            ending,
            Ending::Closed {
                output: "Your session has reached its maximum duration and has been terminated."
                    .into()
            }
        );
        let record = emulator.service().sessions().pop().unwrap();
        assert_eq!(record.details.as_deref(), Some("maximum session duration"));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keep_alive_keeps_an_idle_tunnel_past_the_idle_timeout() {
    within(async {
        // An emulated minute of two seconds; the preferences' idle timeout is one minute.
        let mut fleet = Fleet::default_fleet();
        fleet.minute_seconds = 2.0;
        fleet.preferences.idle_session_timeout = "1".into();
        let emulator = emulator(fleet).await;
        let aws = aws(&emulator);
        let echo = echo_server().await;
        let spec = |keep_alive: Option<Duration>| TunnelSpec {
            target: WEB.into(),
            remote_port: echo,
            remote_host: None,
            local: SocketAddr::from(([127, 0, 0, 1], 0)),
            sessions: 1,
            reason: None,
            document: None,
            keep_alive,
        };
        let kept = aws.forward(&spec(Some(Duration::from_millis(100)))).await.unwrap();
        // Two tunnels without keep-alive, one after the other, each closed for being idle: the
        // kept one, as idle as they were, lives through both.
        for _ in 0..2 {
            let idle = aws.forward(&spec(None)).await.unwrap();
            let reason = idle.wait().await;
            assert!(reason.contains("timed out due to inactivity"), "{reason}");
        }
        assert!(kept.is_running(), "the kept tunnel was closed");
        let mut stream = tokio::net::TcpStream::connect(kept.local_addr()).await.unwrap();
        stream.write_all(b"still here").await.unwrap();
        let mut back = [0u8; 10];
        stream.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"still here");
        kept.stop().await;

        // A node whose agent forwards one connection at a time cannot carry the heartbeat.
        let legacy = TunnelSpec { target: LEGACY.into(), ..spec(Some(Duration::from_millis(100))) };
        let refused = aws.forward(&legacy).await.unwrap_err().to_string();
        assert!(refused.contains("keep-alive needs a multiplexed tunnel"), "{refused}");
        assert!(
            emulator.service().sessions().iter().all(|s| !s.status.is_active()),
            "the refused tunnel's session was terminated"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn airlock_shell_says_the_session_is_encrypted() {
    within(async {
        let emulator = emulator(encrypted_fleet()).await;
        let home = tempfile::tempdir().unwrap();
        let bundle = home.path().join("emulator-ca.pem");
        std::fs::write(&bundle, emulator.ca_pem().unwrap()).unwrap();
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("AWS_ENDPOINT_URL", emulator.endpoint_url())
            .env("AWS_CA_BUNDLE", &bundle)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
            .args(["shell", "web-1"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut child = output;
        child.stdin.take().unwrap().write_all(b"echo $((6*7))\nexit\n").await.unwrap();
        let output = child.wait_with_output().await.unwrap();
        let (out, err) =
            (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "{err}");
        assert!(out.contains("42"), "{out}");
        assert!(
            err.contains(&format!(
                "[airlock] This session is encrypted using AWS KMS. (KMS key {ALIAS})"
            )),
            "{err}"
        );
    })
    .await;
}
