//! Credentials end to end, against the emulator's STS and the real OS keyring (Secret Service;
//! `scripts/test` runs a private GNOME Keyring on its own D-Bus session): keys stored and read
//! back through the Secret Service, a role chain whose MFA code is asked once and whose session
//! is reused from the keyring, and credentials expiring under an open shell and tunnel, then a
//! forced reconnect that succeeds after a refresh that asks the user again.
//!
//! Every keyring entry uses a profile name unique to the run and is removed at the end.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_core::aws::{AwsError, StartRequest};
use airlock_core::aws_profiles::ProfileFiles;
use airlock_core::credentials::{Answer, CredentialError, KeyPair, Prompt, Prompter, Vault};
use airlock_core::datachannel::{Command, DriverConfig, Notice};
use airlock_core::session::TunnelSpec;
use ssm_emulator::faults::FaultConfig;
use ssm_emulator::fleet::{Fleet, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::testkit::echo_server;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001";

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Answers MFA prompts with `code`, counting them; runs `on_ask` at each (after the first).
#[derive(Clone)]
struct Scripted {
    code: &'static str,
    asked: Arc<AtomicUsize>,
    prompts: Arc<Mutex<Vec<Prompt>>>,
    on_later_ask: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Scripted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripted").finish_non_exhaustive()
    }
}

impl Scripted {
    fn new(code: &'static str) -> Scripted {
        Scripted {
            code,
            asked: Arc::default(),
            prompts: Arc::default(),
            on_later_ask: Arc::new(|| {}),
        }
    }
    fn asked(&self) -> usize {
        self.asked.load(Ordering::SeqCst)
    }
}

impl Prompter for Scripted {
    fn ask(&self, prompt: Prompt) -> Answer {
        self.prompts.lock().unwrap().push(prompt);
        if self.asked.fetch_add(1, Ordering::SeqCst) > 0 {
            (self.on_later_ask)();
        }
        let code = self.code.to_owned();
        Box::pin(async move { Ok(code) })
    }
}

/// Keyring entries removed when the test ends, however it ends.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for profile in &self.0 {
            let _ = Vault.remove(profile);
        }
    }
}

async fn emulator() -> RunningEmulator {
    Emulator::start(EmulatorConfig {
        fleet: Fleet::default_fleet(),
        paced: false,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap()
}

/// A config where `base` keeps the emulator's demo keys in the keyring, `admin` assumes the
/// MFA-guarded Admin role from it, and `chained` assumes ReadOnly from `admin`.
async fn keyring_chain(base: &str, admin: &str, chained: &str) -> ProfileFiles {
    let (b, keys) = (
        base.to_owned(),
        KeyPair {
            access_key_id: DEMO_ACCESS_KEY_ID.into(),
            secret_access_key: DEMO_SECRET_ACCESS_KEY.into(),
        },
    );
    tokio::task::spawn_blocking(move || Vault.store_keys(&b, &keys))
        .await
        .unwrap()
        .expect("the OS keyring stores keys (is a Secret Service running?)");
    let fleet = Fleet::default_fleet();
    let device = &fleet.mfa_devices[0].serial;
    ProfileFiles::parse(
        &format!(
            "[profile {base}]\ncredential_process = airlock credential-process {base}\n\
             [profile {admin}]\nrole_arn = arn:aws:iam::{account}:role/Admin\nsource_profile = {base}\nmfa_serial = {device}\nrole_session_name = alice\n\
             [profile {chained}]\nrole_arn = arn:aws:iam::{account}:role/ReadOnly\nsource_profile = {admin}\n",
            account = fleet.account
        ),
        "",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_in_and_read_from_the_secret_service() {
    let profile = unique("airlock-test-keys");
    let _cleanup = Cleanup(vec![profile.clone()]);
    let keys = KeyPair {
        access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
    };
    Vault
        .store_keys(&profile, &keys)
        .expect("the OS keyring stores keys (is a Secret Service running?)");
    assert_eq!(Vault.keys(&profile).unwrap(), Some(keys.clone()));

    // Another client of the Secret Service sees the entry: it is in the OS store, not in memory.
    let lookup = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "airlock", "username", &format!("keys:{profile}")])
        .output();
    let lookup =
        lookup.expect("secret-tool (libsecret-tools) is installed by scripts/setup --for-tests");
    let stored = String::from_utf8_lossy(&lookup.stdout);
    assert!(
        stored.contains("AKIAIOSFODNN7EXAMPLE"),
        "secret-tool found {:?} (stderr {:?})",
        stored.len(),
        String::from_utf8_lossy(&lookup.stderr)
    );

    assert!(Vault.remove(&profile).unwrap());
    assert_eq!(Vault.keys(&profile).unwrap(), None);
    assert!(!Vault.remove(&profile).unwrap(), "removing twice says there was nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_chain_with_mfa_asks_once_and_reuses_the_kept_session() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let (base, admin, chained) = (unique("airlock-test-base"), unique("airlock-test-admin"), unique("airlock-test-chained"));
        let _cleanup = Cleanup(vec![base.clone(), admin.clone(), chained.clone()]);
        let files = keyring_chain(&base, &admin, &chained).await;
        let prompter = Scripted::new("123456");

        let aws = common::with_profile(&emulator, &chained, files.clone(), Arc::new(prompter.clone()), None).unwrap();
        let identity = aws.whoami().await.unwrap();
        assert!(identity.arn.contains(":assumed-role/ReadOnly/"), "{}", identity.arn);
        assert_eq!(prompter.asked(), 1);
        assert!(matches!(&prompter.prompts.lock().unwrap()[0], Prompt::MfaCode { profile, .. } if *profile == admin), "the MFA profile is the one asked for");
        // A session on the chained role works.
        aws.open(&StartRequest { target: WEB.into(), ..StartRequest::default() }, aws.driver_config()).await.unwrap().terminate().await.unwrap();

        // A new resolver (as after a restart) finds the MFA session in the keyring.
        let again = common::with_profile(&emulator, &admin, files.clone(), Arc::new(prompter.clone()), None).unwrap();
        assert!(again.whoami().await.unwrap().arn.ends_with(":assumed-role/Admin/alice"));
        assert_eq!(prompter.asked(), 1, "the kept session was reused, not asked for again");

        // A wrong code is refused with a message that says what to check.
        let (base2, admin2, chained2) = (unique("airlock-test-base"), unique("airlock-test-admin"), unique("airlock-test-chained"));
        let _cleanup2 = Cleanup(vec![base2.clone(), admin2.clone(), chained2.clone()]);
        let files = keyring_chain(&base2, &admin2, &chained2).await;
        let wrong = common::with_profile(&emulator, &admin2, files, Arc::new(Scripted::new("000000")), None).unwrap();
        let error = wrong.whoami().await.unwrap_err();
        assert!(
            matches!(&error, AwsError::Profile(CredentialError::Sts { action: "AssumeRole", .. })),
            "STS's refusal keeps its type: {error:?}"
        );
        assert!(error.to_string().contains("check the MFA code"), "{error}");
    })
    .await
    .unwrap();
}

async fn read_until(notices: &mut tokio::sync::mpsc::Receiver<Notice>, marker: &str) {
    let mut screen = String::new();
    while !screen.contains(marker) {
        match notices.recv().await.expect("the shell ended") {
            Notice::Data(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
            Notice::Ended(ending) => panic!("the shell ended: {ending}"),
            _ => {}
        }
    }
}

async fn echo_through(addr: std::net::SocketAddr, text: &[u8]) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(text).await.unwrap();
    let mut back = vec![0; text.len()];
    stream.read_exact(&mut back).await.unwrap();
    assert_eq!(back, text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn credentials_expire_under_an_open_shell_and_tunnel_and_a_reconnect_refreshes_them() {
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = emulator().await;
        let (base, admin, chained) = (
            unique("airlock-test-base"),
            unique("airlock-test-admin"),
            unique("airlock-test-chained"),
        );
        let _cleanup = Cleanup(vec![base.clone(), admin.clone(), chained.clone()]);
        let files = keyring_chain(&base, &admin, &chained).await;
        let mut prompter = Scripted::new("123456");
        // The forced disconnects stop once the user has been asked for the new code.
        let faults = emulator.faults().clone();
        prompter.on_later_ask = Arc::new(move || faults.set(FaultConfig::default()).unwrap());
        let aws = common::with_profile(&emulator, &admin, files, Arc::new(prompter.clone()), None)
            .unwrap();
        let config = DriverConfig { message_rate: None, ..aws.driver_config() };

        let mut shell = aws
            .open(&StartRequest { target: WEB.into(), ..StartRequest::default() }, config.clone())
            .await
            .unwrap();
        let port = echo_server().await;
        let spec = TunnelSpec {
            target: WEB.into(),
            remote_port: port,
            remote_host: None,
            local: ([127, 0, 0, 1], 0).into(),
            sessions: 1,
            reason: None,
            document: None,
            keep_alive: None,
        };
        let tunnel = aws.forward_with(&spec, config).await.unwrap();
        shell.channel.commands.send(Command::Data(b"echo one-$((1+1))\n".to_vec())).await.unwrap();
        read_until(&mut shell.channel.notices, "one-2").await;
        echo_through(tunnel.local_addr(), b"before expiry").await;
        assert_eq!(prompter.asked(), 1);

        // The credentials expire; the open sessions carry on regardless.
        let lifetime = Duration::from_secs(Fleet::default_fleet().credential_lifetime_seconds);
        emulator.service().identities().advance_clock(lifetime + Duration::from_secs(1));
        shell.channel.commands.send(Command::Data(b"echo two-$((2+2))\n".to_vec())).await.unwrap();
        read_until(&mut shell.channel.notices, "two-4").await;
        echo_through(tunnel.local_addr(), b"after expiry").await;
        assert_eq!(prompter.asked(), 1, "nothing needed fresh credentials yet");

        // The socket dies: ResumeSession is refused as expired, the resolver asks again, and the
        // shell resumes with nothing typed lost.
        let killed_before = emulator.metrics().snapshot().links_killed;
        emulator
            .faults()
            .set(FaultConfig { close_after_frames: Some(1), ..FaultConfig::default() })
            .unwrap();
        shell
            .channel
            .commands
            .send(Command::Data(b"echo three-$((3+3))\n".to_vec()))
            .await
            .unwrap();
        read_until(&mut shell.channel.notices, "three-6").await;
        assert!(
            emulator.metrics().snapshot().links_killed > killed_before,
            "the socket was killed"
        );
        assert_eq!(prompter.asked(), 2, "the refresh asked for a new MFA code once");
        echo_through(tunnel.local_addr(), b"after the refresh").await;
        assert_eq!(
            aws.whoami().await.unwrap().arn.rsplit('/').next(),
            Some("alice"),
            "new calls use the refreshed credentials"
        );
        tunnel.stop().await;
        shell.terminate().await.unwrap();
    })
    .await
    .unwrap();
}
