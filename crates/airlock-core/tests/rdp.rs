//! RDP to Windows nodes against the emulator: the Windows node found by name, Linux and
//! on-premises nodes refused with the reason, the administrator password from EC2
//! GetPasswordData decrypted with the key pair file, and each way that can go wrong.

mod common;

use std::time::Duration;

use airlock_core::aws::{Aws, AwsError};
use airlock_core::rdp::RdpError;
use ssm_emulator::fleet::{Fleet, DEMO_WINDOWS_KEY, DEMO_WINDOWS_PASSWORD};
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WINDOWS: &str = "i-0a1b2c3d4e5f60004";

async fn emulator(fleet: Fleet) -> (RunningEmulator, Aws) {
    let emulator =
        Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap();
    let aws = Aws::direct(&common::far_side(&emulator)).unwrap();
    (emulator, aws)
}

fn key_file(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_windows_password_is_decrypted_with_the_key_pair_and_every_mistake_is_named() {
    tokio::time::timeout(HANG_GUARD, async {
        let (_emulator, aws) = emulator(Fleet::default_fleet()).await;
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(&dir, "win-1.pem", DEMO_WINDOWS_KEY);

        let node = aws.windows_node("win-1").await.unwrap();
        assert_eq!(node.id, WINDOWS);
        let password = aws.windows_password(&node.id, &key).await.unwrap();
        assert_eq!(password.reveal(), DEMO_WINDOWS_PASSWORD);
        assert!(!format!("{password:?}").contains(DEMO_WINDOWS_PASSWORD));

        match aws.windows_node("web-1").await {
            Err(error @ RdpError::NotWindows { .. }) => {
                assert!(error.to_string().contains("web-1 is a Linux node"), "{error}")
            }
            other => panic!("a Linux node is refused, not {other:?}"),
        }
        let onprem = aws.windows_password("mi-0123456789abcdef0", &key).await.unwrap_err();
        assert!(matches!(onprem, RdpError::NotEc2(_)), "{onprem:?}");

        // An instance with no password (as a Linux one, or Windows before it set one).
        let none = aws.windows_password("i-0a1b2c3d4e5f60001", &key).await.unwrap_err();
        assert!(matches!(none, RdpError::NotAvailable(_)), "{none:?}");

        let not_a_key = key_file(&dir, "notes.txt", "not a key");
        let error = aws.windows_password(WINDOWS, &not_a_key).await.unwrap_err();
        assert!(matches!(error, RdpError::NotRsaKey { .. }), "{error:?}");
        let missing = aws.windows_password(WINDOWS, &dir.path().join("nowhere.pem")).await;
        assert!(matches!(missing, Err(RdpError::KeyFile { .. })), "{missing:?}");

        let other = {
            use rsa::pkcs8::EncodePrivateKey;
            let mut rng = rand_core_06::OsRng;
            let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
            key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap().to_string()
        };
        let other = key_file(&dir, "other.pem", &other);
        let error = aws.windows_password(WINDOWS, &other).await.unwrap_err();
        assert!(
            matches!(error, RdpError::WrongKey { .. })
                && error.to_string().contains("the key pair the instance was launched with"),
            "{error}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_get_password_data_is_told_the_action() {
    tokio::time::timeout(HANG_GUARD, async {
        let mut fleet = Fleet::default_fleet();
        fleet.credentials[0].deny = vec!["ec2:GetPasswordData".into()];
        let (_emulator, aws) = emulator(fleet).await;
        let dir = tempfile::tempdir().unwrap();
        let key = key_file(&dir, "win-1.pem", DEMO_WINDOWS_KEY);
        match aws.windows_password(WINDOWS, &key).await {
            Err(RdpError::Aws(AwsError::AccessDenied { action, .. })) => {
                assert_eq!(action, "ec2:GetPasswordData")
            }
            other => panic!("expected access denied, got {other:?}"),
        }
    })
    .await
    .unwrap();
}
