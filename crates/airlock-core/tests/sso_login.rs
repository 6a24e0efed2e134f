//! The IAM Identity Center device login against the emulator's OIDC and portal APIs: from no
//! cached token to a working session, the token written to the standard SSO cache (where the
//! AWS CLI finds it), and the next run using that cache without asking. Its own test binary,
//! because it points HOME at a temporary directory.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use airlock_core::aws::StartRequest;
use airlock_core::aws_profiles::ProfileFiles;
use airlock_core::credentials::{Answer, Declined, Prompt, Prompter};
use airlock_core::datachannel::{Command, Notice};
use ssm_emulator::fleet::Fleet;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(120);

/// Approves each login on the emulator, as the user would on the verification page.
#[derive(Debug, Clone)]
struct ApprovingUser {
    emulator: Arc<RunningEmulator>,
    asked: Arc<AtomicUsize>,
}

impl Prompter for ApprovingUser {
    fn ask(&self, prompt: Prompt) -> Answer {
        self.asked.fetch_add(1, Ordering::SeqCst);
        let approved = match &prompt {
            Prompt::SsoLogin { user_code, verification_uri, .. } => {
                assert!(verification_uri.contains(user_code), "the page to open carries the code");
                self.emulator.service().identities().approve(user_code)
            }
            Prompt::MfaCode { .. } => false,
        };
        Box::pin(async move {
            if approved {
                Ok(String::new())
            } else {
                Err(Declined)
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_login_goes_from_no_token_to_a_working_session_and_is_cached() {
    let home = tempfile::tempdir().unwrap();
    std::env::set_var("HOME", home.path());
    // The most permissive umask a user could have (this binary runs this one test): the cache
    // must be private by itself.
    rustix::process::umask(rustix::fs::Mode::empty());
    let mode = |path: &std::path::Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions())
            & 0o777
    };
    tokio::time::timeout(HANG_GUARD, async {
        let emulator = Arc::new(Emulator::start(EmulatorConfig { fleet: Fleet::default_fleet(), ..EmulatorConfig::default() }).await.unwrap());
        let fleet = Fleet::default_fleet();
        let files = ProfileFiles::parse(
            &format!(
                "[profile dev]\nsso_session = corp\nsso_account_id = {}\nsso_role_name = {}\nregion = us-east-1\n\
                 [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\n",
                fleet.account, fleet.sso_roles[0]
            ),
            "",
        );
        let user = ApprovingUser { emulator: emulator.clone(), asked: Arc::default() };
        let aws = common::with_profile(&emulator, "dev", files.clone(), Arc::new(user.clone()), None).unwrap();
        let identity = aws.whoami().await.unwrap();
        assert!(identity.arn.contains(&format!("AWSReservedSSO_{}_", fleet.sso_roles[0])), "{}", identity.arn);
        assert_eq!(user.asked.load(Ordering::SeqCst), 1);

        // The standard cache holds the token, under the SHA-1 of the session name.
        let cache = home.path().join(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
        let cached: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).expect("the SSO cache file")).unwrap();
        assert_eq!(cached["startUrl"], "https://corp.awsapps.com/start");
        assert!(cached["accessToken"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(cached["expiresAt"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(mode(&cache), 0o600, "the token is the owner's only");
        assert_eq!(mode(cache.parent().unwrap()), 0o700, "and so is the cache directory Airlock created");

        // A session works with the role's credentials.
        let mut session = aws.open(&StartRequest { target: "i-0a1b2c3d4e5f60001".into(), ..StartRequest::default() }, aws.driver_config()).await.unwrap();
        session.channel.commands.send(Command::Data(b"echo sso-$((40+2))\n".to_vec())).await.unwrap();
        let mut screen = String::new();
        while !screen.contains("sso-42") {
            match session.channel.notices.recv().await.unwrap() {
                Notice::Data(bytes) => screen.push_str(&String::from_utf8_lossy(&bytes)),
                Notice::Ended(ending) => panic!("{ending}"),
                _ => {}
            }
        }
        session.terminate().await.unwrap();

        // The next run reads the cache and asks nothing.
        let again = common::with_profile(&emulator, "dev", files.clone(), Arc::new(user.clone()), None).unwrap();
        assert_eq!(again.whoami().await.unwrap().account, fleet.account);
        assert_eq!(user.asked.load(Ordering::SeqCst), 1, "the cached token was used");

        // Hours later the token has expired (on both clocks): it is renewed with its refresh
        // token, without a new login.
        emulator.service().identities().advance_clock(Duration::from_secs(fleet.credential_lifetime_seconds + 1));
        let mut expired = cached.clone();
        expired["expiresAt"] = "2020-01-01T00:00:00Z".into();
        std::fs::write(&cache, serde_json::to_string(&expired).unwrap()).unwrap();
        let later = common::with_profile(&emulator, "dev", files, Arc::new(user.clone()), None).unwrap();
        assert_eq!(later.whoami().await.unwrap().account, fleet.account);
        assert_eq!(user.asked.load(Ordering::SeqCst), 1, "renewed without asking");
        let renewed: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&cache).unwrap()).unwrap();
        assert_ne!(renewed["accessToken"], cached["accessToken"]);
        assert_ne!(renewed["refreshToken"], cached["refreshToken"], "refresh tokens rotate");
        assert_eq!(mode(&cache), 0o600, "the rewrite of a world-readable cache file (written above under umask 000) is private");
    })
    .await
    .unwrap();
}
