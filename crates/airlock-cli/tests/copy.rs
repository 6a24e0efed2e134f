//! File copy through Session Manager (`airlock cp`, and the engine's `transfer` under it)
//! against the emulator over TLS: a file of every byte value up and back down byte-exact, the
//! node's path not writable, a file missing on the node, a transfer cut by the service and one
//! cancelled, each leaving no partial file here, and a cancelled upload naming the node's.
//!
//! The emulator's node runs its commands on this machine, so the node's paths are this
//! machine's and the test reads what arrived there directly.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use airlock_core::aws::{Aws, DirectEndpoint};
use airlock_core::transfer::CopyError;
use sha2::{Digest, Sha256};
use ssm_emulator::fleet::{DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001";

async fn within<F: std::future::Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.unwrap_or_else(|_| panic!("{what} hung"))
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

/// Every byte value, in an order that is not a pattern base64 could flatter.
fn awkward_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if i < 256 {
                i as u8
            } else {
                state as u8
            }
        })
        .collect()
}

/// `airlock ARGS` reaching the emulator as a user reaches AWS.
async fn airlock(emulator: &RunningEmulator, home: &Path, args: &[&str]) -> (bool, String) {
    let ca = home.join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem().unwrap()).unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("AWS_ENDPOINT_URL", emulator.endpoint_url())
        .env("AWS_CA_BUNDLE", &ca)
        .env("AWS_REGION", emulator.region())
        .env("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
        .stdin(Stdio::null())
        .output();
    let output = within("airlock cp", output).await.unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

fn partials_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("airlock-partial"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_of_every_byte_goes_up_and_comes_back_byte_exact() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let here = tempfile::tempdir().unwrap();
    let node = tempfile::tempdir().unwrap(); // the node's directory (the same machine)
    let contents = awkward_bytes(300 * 1024 + 1); // not a multiple of 3: base64 padding
    let local = here.path().join("blob.bin");
    std::fs::write(&local, &contents).unwrap();

    let to = format!("{WEB}:{}/", node.path().display());
    let (ok, stderr) = airlock(&emulator, here.path(), &["cp", local.to_str().unwrap(), &to]).await;
    assert!(ok, "{stderr}");
    let arrived = std::fs::read(node.path().join("blob.bin")).unwrap();
    assert!(arrived == contents, "the upload arrived changed ({} bytes)", arrived.len());
    assert!(stderr.contains(&hex(&contents)), "the digest is said: {stderr}");
    assert!(partials_in(node.path()).is_empty());

    let from = format!("{WEB}:{}/blob.bin", node.path().display());
    let back = here.path().join("back");
    std::fs::create_dir(&back).unwrap();
    let (ok, stderr) =
        airlock(&emulator, here.path(), &["cp", &from, back.to_str().unwrap()]).await;
    assert!(ok, "{stderr}");
    let returned = std::fs::read(back.join("blob.bin")).unwrap();
    assert!(returned == contents, "the download arrived changed ({} bytes)", returned.len());
    assert!(partials_in(&back).is_empty());
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_paths_on_either_side_are_said_and_leave_nothing() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let here = tempfile::tempdir().unwrap();
    let local = here.path().join("small.txt");
    std::fs::write(&local, b"small\n").unwrap();

    // /proc takes no new files, even from root.
    let to = format!("{WEB}:/proc/airlock-no-such-dir/small.txt");
    let (ok, stderr) = airlock(&emulator, here.path(), &["cp", local.to_str().unwrap(), &to]).await;
    assert!(!ok);
    assert!(
        stderr.contains("cannot be written") && stderr.contains("/proc/airlock-no-such-dir"),
        "{stderr}"
    );

    let missing = here.path().join("not-there");
    let from = format!("{WEB}:{}", missing.display());
    let (ok, stderr) =
        airlock(&emulator, here.path(), &["cp", &from, here.path().to_str().unwrap()]).await;
    assert!(!ok);
    assert!(stderr.contains("is not a file this session's user can read"), "{stderr}");
    assert!(partials_in(here.path()).is_empty(), "{:?}", partials_in(here.path()));
    assert!(!here.path().join("not-there").exists());

    let (ok, stderr) = airlock(&emulator, here.path(), &["cp", "a", "b"]).await;
    assert!(!ok && stderr.contains("NODE:PATH"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_download_cut_by_the_service_or_cancelled_removes_its_partial_file() {
    // Paced, so 2 MiB of base64 takes seconds: there is time to cut it.
    let emulator =
        Emulator::start(EmulatorConfig { paced: true, ..EmulatorConfig::default() }).await.unwrap();
    let aws = aws(&emulator);
    let node = tempfile::tempdir().unwrap();
    let source = node.path().join("big.bin");
    std::fs::write(&source, awkward_bytes(2 * 1024 * 1024)).unwrap();
    let here = tempfile::tempdir().unwrap();
    let destination = here.path().join("big.bin");

    // The service terminates the session once the first bytes have arrived.
    let (first, mut arrived) = tokio::sync::mpsc::unbounded_channel();
    let service = emulator.service().clone();
    let cutter = tokio::spawn(async move {
        arrived.recv().await;
        for session in service.sessions() {
            service.terminate_session(&session.id);
        }
    });
    let result = within(
        "the cut download",
        aws.download(
            WEB,
            source.to_str().unwrap(),
            &destination,
            None,
            move |p| {
                if p.done > 0 {
                    let _ = first.send(());
                }
            },
            std::future::pending(),
        ),
    )
    .await;
    cutter.await.unwrap();
    match result {
        Err(CopyError::Cut { partial, .. }) => {
            assert!(partial.contains("was removed"), "{partial}")
        }
        other => panic!("expected a cut transfer, got {other:?}"),
    }
    assert!(!destination.exists());
    assert!(partials_in(here.path()).is_empty(), "{:?}", partials_in(here.path()));

    // Cancelled by the user once bytes move.
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    let mut cancel_tx = Some(cancel_tx);
    let result = within(
        "the cancelled download",
        aws.download(
            WEB,
            source.to_str().unwrap(),
            &destination,
            None,
            move |p| {
                if p.done > 0 {
                    if let Some(tx) = cancel_tx.take() {
                        let _ = tx.send(());
                    }
                }
            },
            async {
                let _ = cancel_rx.await;
            },
        ),
    )
    .await;
    match result {
        Err(CopyError::Cancelled { partial }) => {
            assert!(partial.contains("was removed"), "{partial}")
        }
        other => panic!("expected a cancelled transfer, got {other:?}"),
    }
    assert!(!destination.exists());
    assert!(partials_in(here.path()).is_empty());

    // An upload cancelled once bytes move names the node's partial file, which the node chose.
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    let mut cancel_tx = Some(cancel_tx);
    let to = format!("{}/", node.path().display());
    let result = within(
        "the cancelled upload",
        aws.upload(
            WEB,
            &source,
            &to,
            None,
            move |p| {
                if p.done > 0 {
                    if let Some(tx) = cancel_tx.take() {
                        let _ = tx.send(());
                    }
                }
            },
            async {
                let _ = cancel_rx.await;
            },
        ),
    )
    .await;
    let expected = format!("{}/big.bin.airlock-partial", node.path().display());
    match result {
        Err(CopyError::Cancelled { partial }) => assert!(partial.contains(&expected), "{partial}"),
        other => panic!("expected a cancelled upload, got {other:?}"),
    }
}
