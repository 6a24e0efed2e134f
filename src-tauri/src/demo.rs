//! Where the app looks: real AWS through a profile and region, or the demo fleet, an emulator
//! started inside the app (once, on first use) with real local shells and real local ports.
//! Choosing a place builds the AWS clients; open shells and tunnels keep the clients they were
//! started with.

use std::sync::Arc;

use airlock_core::aws::{Aws, DirectEndpoint};
use airlock_core::aws_profiles::{credentials_configured, ProfileFiles};
use airlock_core::credentials::Prompter;
use airlock_core::settings::Settings;
use ssm_emulator::{Audience, Emulator, EmulatorConfig, RunningEmulator};
use tokio::sync::OnceCell;

use crate::error::UiError;

/// The region used when neither the choice nor the profile names one.
const FALLBACK_REGION: &str = "us-east-1";

/// A chosen place and its clients.
#[derive(Debug, Clone)]
pub struct Place {
    pub aws: Aws,
    pub demo: bool,
    pub profile: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Demo,
    Aws { profile: Option<String>, region: Option<String> },
}

impl Choice {
    /// The choice to start with: the remembered one, or the demo fleet when no credentials
    /// are configured anywhere (a new user sees every feature at once).
    pub fn initial(settings: &Settings, files: &ProfileFiles) -> Choice {
        if settings.demo || !credentials_configured(files) {
            Choice::Demo
        } else {
            Choice::Aws { profile: settings.aws_profile.clone(), region: settings.region.clone() }
        }
    }
}

/// The demo fleet's emulator, started on first use and kept for the app's life. It serves this
/// app alone ([`Audience::OwnerOnly`]): its key pair is made at start and lives only in this
/// process's memory, it has no control routes, and it answers only requests for its own address.
#[derive(Debug, Default)]
pub struct Demo {
    emulator: OnceCell<RunningEmulator>,
}

impl Demo {
    async fn running(&self) -> Result<&RunningEmulator, UiError> {
        self.emulator
            .get_or_try_init(|| async {
                Emulator::start(EmulatorConfig {
                    audience: Audience::OwnerOnly,
                    ..EmulatorConfig::default()
                })
                .await
                .map_err(|e| UiError::new("demo", format!("The demo fleet could not start: {e}")))
            })
            .await
    }
}

/// Builds the clients for `choice`. A remembered profile that no longer exists falls back to
/// the default chain, and a missing region to us-east-1; `notice` says so.
pub async fn open(
    choice: &Choice,
    demo: &Demo,
    files: &ProfileFiles,
    prompter: Arc<dyn Prompter>,
) -> Result<(Arc<Place>, Option<String>), UiError> {
    match choice {
        Choice::Demo => {
            let emulator = demo.running().await?;
            let key = emulator.credentials();
            let far_side = DirectEndpoint::new(
                emulator.endpoint_url(),
                emulator.region(),
                (&key.access_key_id, &key.secret_access_key),
                emulator.ca_pem(),
            );
            let aws = Aws::direct(&far_side)?;
            Ok((Arc::new(Place { aws, demo: true, profile: None }), None))
        }
        Choice::Aws { profile, region } => {
            let mut notice = None;
            let profile = match profile {
                Some(name) if files.get(name).is_none() => {
                    notice = Some(format!("The AWS profile {name} is no longer in ~/.aws/config; using the default credential chain."));
                    None
                }
                other => other.clone(),
            };
            let aws = match Aws::load(profile.as_deref(), region.as_deref(), prompter.clone()).await
            {
                Ok(aws) => aws,
                Err(airlock_core::aws::AwsError::NoRegion) => {
                    notice = Some(format!("No region is set for this profile; showing {FALLBACK_REGION}. Choose another above."));
                    Aws::load(profile.as_deref(), Some(FALLBACK_REGION), prompter).await?
                }
                Err(other) => return Err(other.into()),
            };
            // With no profile chosen, AWS_PROFILE or the default profile may still be in use:
            // show that one.
            let profile = profile.or_else(|| aws.profile().map(str::to_owned));
            Ok((Arc::new(Place { aws, demo: false, profile }), notice))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs curl as another user of the machine would (`nobody`, when the tests run as root);
    /// returns the HTTP status and the body.
    fn probe(args: &[&str]) -> (u16, String) {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let mut command = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "nobody", "--", "curl"]);
            c
        } else {
            std::process::Command::new("curl")
        };
        // -k: a stranger need not trust the app's CA to try.
        let output = command
            .args(["-sk", "-w", "\n%{http_code}"])
            .args(args)
            .output()
            .expect("curl (installed by scripts/setup --for-tests)");
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
        (status.trim().parse().unwrap_or(0), body.to_owned())
    }

    /// A signed DescribeInstanceInformation with `key` against `base`.
    fn signed_call(base: &str, key: (&str, &str)) -> (u16, String) {
        let user = format!("{}:{}", key.0, key.1);
        probe(&[
            "--aws-sigv4",
            "aws:amz:us-east-1:ssm",
            "--user",
            &user,
            "-H",
            "X-Amz-Target: AmazonSSM.DescribeInstanceInformation",
            "-H",
            "Content-Type: application/x-amz-json-1.1",
            "-d",
            "{}",
            &format!("{base}/"),
        ])
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_user_reaches_no_control_route_and_no_signed_api_of_the_demo_fleet() {
        let demo = Demo::default();
        let emulator = demo.running().await.unwrap();
        let base = emulator.endpoint_url();
        let documented = ssm_emulator::fleet::Fleet::default_fleet().credentials[0].clone();
        let own = emulator.credentials();
        assert_ne!(
            own.access_key_id, documented.access_key_id,
            "the key pair is made at start, not the README's"
        );
        assert_ne!(own.secret_access_key, documented.secret_access_key);
        assert_ne!(
            Demo::default().running().await.unwrap().credentials().access_key_id,
            own.access_key_id,
            "and differs each launch"
        );

        for route in [
            "/_emulator/faults",
            "/_emulator/metrics",
            "/_emulator/sso/pending",
            "/_emulator/sso/device",
        ] {
            assert_eq!(probe(&[&format!("{base}{route}")]).0, 404, "GET {route}");
        }
        assert_eq!(
            probe(&["-X", "POST", "-d", "{\"seconds\":3600}", &format!("{base}/_emulator/clock")])
                .0,
            404,
            "POST clock"
        );

        let (status, body) =
            signed_call(&base, (&documented.access_key_id, &documented.secret_access_key));
        assert_eq!(status, 400, "{body}");
        assert!(
            body.contains("UnrecognizedClientException"),
            "the README's key pair is unknown here: {body}"
        );

        // The same request with the app's own key works, so what stops the stranger is the key.
        let (status, body) = signed_call(&base, (&own.access_key_id, &own.secret_access_key));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("InstanceInformationList"), "{body}");

        // A page whose name was rebound to 127.0.0.1 sends its own Host, and is refused.
        let port = emulator.addr().port();
        let (status, body) =
            probe(&["-H", &format!("Host: airlock.example.com:{port}"), &format!("{base}/")]);
        assert_eq!(status, 421, "{body}");
        let rebound = format!("airlock.example.com:{port}:127.0.0.1");
        assert_eq!(
            probe(&[
                "--resolve",
                &rebound,
                &format!("https://airlock.example.com:{port}/_emulator/faults")
            ])
            .0,
            421
        );
    }
}
