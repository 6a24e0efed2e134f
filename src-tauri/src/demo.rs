//! The demo fleet: an emulator started inside the app (once, on first use) with real local
//! shells and real local ports. Which place is shown, and when the demo fleet is, is
//! `airlock_core::place`'s to decide; this only runs the far side.

use airlock_core::aws::DirectEndpoint;
use airlock_core::place::DemoError;
use ssm_emulator::StartError;
use ssm_emulator::{Audience, Emulator, EmulatorConfig, RunningEmulator};
use tokio::sync::OnceCell;

/// The demo fleet's emulator, started on first use and kept for the app's life. It serves this
/// app alone ([`Audience::OwnerOnly`]): its key pair is made at start and lives only in this
/// process's memory, it has no control routes, and it answers only requests for its own address.
#[derive(Debug, Default)]
pub struct Demo {
    emulator: OnceCell<RunningEmulator>,
}

impl Demo {
    async fn running(&self) -> Result<&RunningEmulator, StartError> {
        self.emulator
            .get_or_try_init(|| async {
                Emulator::start(EmulatorConfig {
                    audience: Audience::OwnerOnly,
                    ..EmulatorConfig::default()
                })
                .await
            })
            .await
    }

    /// The far side of the demo fleet, started if it is not running yet.
    pub async fn endpoint(&self) -> Result<DirectEndpoint, DemoError> {
        let emulator = self.running().await?;
        let key = emulator.credentials();
        Ok(DirectEndpoint::new(
            emulator.endpoint_url(),
            emulator.region(),
            (&key.access_key_id, &key.secret_access_key),
            emulator.ca_pem(),
        ))
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
