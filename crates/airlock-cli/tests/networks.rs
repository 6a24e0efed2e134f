//! The `airlock` binary on the networks users reach AWS through, against the emulator serving
//! TLS under its own authority: trust from `AWS_CA_BUNDLE` and from a profile's `ca_bundle`,
//! the errors of a missing, garbled or wrong bundle, plaintext refused for an AWS host,
//! least-privilege policies, a server error without a code, `airlock doctor` healthy and in
//! each failure, and a real proxy server (tinyproxy, which the test setup installs) carrying
//! the API calls and the data channel, `NO_PROXY` bypassing it, and its 407.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ssm_emulator::faults::{ApiFailure, FaultConfig};
use ssm_emulator::fleet::{Fleet, DEMO_ACCESS_KEY_ID, DEMO_SECRET_ACCESS_KEY};
use ssm_emulator::testkit::echo_server;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(300);
const WEB: &str = "i-0a1b2c3d4e5f60001";

async fn emulator(fleet: Fleet) -> RunningEmulator {
    Emulator::start(EmulatorConfig { fleet, ..EmulatorConfig::default() }).await.unwrap()
}

/// A home of its own and the environment of one `airlock` run, built up per test: nothing of
/// this process's environment (which may name a CA bundle or a proxy) leaks in.
struct Run {
    home: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Run {
    /// Reaching `emulator` with its CA in a file named by AWS_CA_BUNDLE and the demo keys.
    fn new(emulator: &RunningEmulator) -> Run {
        let run = Run::bare(emulator);
        let bundle = run.write("emulator-ca.pem", emulator.ca_pem().unwrap_or_default());
        run.with("AWS_CA_BUNDLE", bundle.to_str().unwrap())
            .with("AWS_ACCESS_KEY_ID", DEMO_ACCESS_KEY_ID)
            .with("AWS_SECRET_ACCESS_KEY", DEMO_SECRET_ACCESS_KEY)
    }

    /// Only the endpoint and region: no trust, no keys.
    fn bare(emulator: &RunningEmulator) -> Run {
        let run = Run { home: tempfile::tempdir().unwrap(), env: Vec::new() };
        run.with("AWS_ENDPOINT_URL", &emulator.endpoint_url()).with("AWS_REGION", emulator.region())
    }

    fn with(mut self, name: &str, value: &str) -> Run {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.to_owned(), value.to_owned()));
        self
    }

    fn without(mut self, name: &str) -> Run {
        self.env.retain(|(n, _)| n != name);
        self
    }

    fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.home.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join(".config"))
            .env("AIRLOCK_LOG", "debug")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .kill_on_drop(true);
        command
    }

    async fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.command(args).stdin(Stdio::null()).output().await.unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        );
        keep_log(args, &err);
        (output.status.code().unwrap_or(-1), out, err)
    }

    /// `airlock ssh-proxy` to an echo server behind the node: bytes out, the same bytes back,
    /// over the data channel.
    async fn echo_through_data_channel(&self, extra: &[&str]) -> Result<(), String> {
        let echo = echo_server().await.to_string();
        let mut args = vec!["ssh-proxy", WEB, "--port", &echo];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let sent = b"through the data channel\n".to_vec();
        stdin.write_all(&sent).await.unwrap();
        let mut back = vec![0u8; sent.len()];
        let read = stdout.read_exact(&mut back).await;
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        let err = String::from_utf8_lossy(&output.stderr).into_owned();
        keep_log(&args, &err);
        match read {
            Ok(_) if back == sent && output.status.success() => Ok(()),
            _ => Err(format!("no echo ({:?}): {err}", output.status)),
        }
    }
}

/// Keeps what a run logged (AIRLOCK_LOG=debug) for the scan of the run's logs for secrets.
fn keep_log(args: &[&str], stderr: &str) {
    if let Ok(dir) = std::env::var("AIRLOCK_TEST_LOGS") {
        let name =
            format!("networks-{}-{}.log", args.first().unwrap_or(&"run"), std::process::id());
        use std::io::Write;
        if let Ok(mut file) =
            std::fs::OpenOptions::new().create(true).append(true).open(Path::new(&dir).join(name))
        {
            let _ = writeln!(file, "$ airlock {}\n{stderr}", args.join(" "));
        }
    }
}

async fn within<F: std::future::Future>(future: F) -> F::Output {
    tokio::time::timeout(HANG_GUARD, future).await.expect("the test hung")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aws_ca_bundle_trusts_the_far_side_for_the_api_and_the_data_channel() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator);
        let (code, out, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("web-1"), "{out}");
        run.echo_through_data_channel(&[]).await.expect("wss:// with the CA from AWS_CA_BUNDLE");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_profiles_ca_bundle_is_trusted_as_the_cli_trusts_it() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::bare(&emulator);
        let bundle = run.write("corporate-ca.pem", emulator.ca_pem().unwrap());
        let config = format!(
            "[profile emu]\naws_access_key_id = {DEMO_ACCESS_KEY_ID}\naws_secret_access_key = {DEMO_SECRET_ACCESS_KEY}\nregion = us-east-1\nca_bundle = {}\n",
            bundle.display()
        );
        let config_file = run.write("config", &config);
        let run = run.with("AWS_CONFIG_FILE", config_file.to_str().unwrap()).with("AWS_PROFILE", "emu");
        let (code, out, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("legacy-db"), "{out}");
        run.echo_through_data_channel(&[]).await.expect("wss:// with the CA from the profile's ca_bundle");

        // AWS_CA_BUNDLE wins over the profile's, as in the CLI: a wrong one there is refused.
        let other = run.write("elsewhere.pem", "not a certificate\n");
        let run = run.with("AWS_CA_BUNDLE", other.to_str().unwrap());
        let (code, _, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("elsewhere.pem") && err.contains("AWS_CA_BUNDLE"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_missing_or_garbled_bundle_names_the_file_and_the_setting() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator);
        let missing = run.home.path().join("no-such.pem");
        let (code, _, err) =
            run.with("AWS_CA_BUNDLE", missing.to_str().unwrap()).run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(
            err.contains("no-such.pem")
                && err.contains("AWS_CA_BUNDLE")
                && err.contains("does not exist"),
            "{err}"
        );

        let run = Run::new(&emulator);
        let garbled = run.write(
            "garbled.pem",
            "-----BEGIN CERTIFICATE-----\nMIIB!!!not base64\n-----END CERTIFICATE-----\n",
        );
        let (code, _, err) =
            run.with("AWS_CA_BUNDLE", garbled.to_str().unwrap()).run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("garbled.pem") && err.contains("holds no certificate"), "{err}");

        let run = Run::new(&emulator).without("AWS_CA_BUNDLE");
        let empty = run.write("empty.pem", "");
        let (code, _, err) =
            run.with("SSL_CERT_FILE", empty.to_str().unwrap()).run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("empty.pem") && err.contains("SSL_CERT_FILE"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_from_another_authority_is_refused_with_the_host_and_what_to_check() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let stranger = self::emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator);
        let wrong = run.write("other-ca.pem", stranger.ca_pem().unwrap());
        let run = run.with("AWS_CA_BUNDLE", wrong.to_str().unwrap());
        let (code, _, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(
            err.contains("not trusted")
                && err.contains("AWS_CA_BUNDLE")
                && err.contains("other-ca.pem"),
            "{err}"
        );

        let (code, out, _) = run.run(&["doctor"]).await;
        assert_eq!(code, 1, "a failed check fails the command: {out}");
        let line = out.lines().find(|l| l.contains("SSM API")).unwrap_or_default();
        assert!(
            line.starts_with("FAIL")
                && line.contains("not trusted")
                && line.contains(&emulator.addr().to_string()),
            "{out}"
        );
        assert!(out.contains("fix: if a corporate proxy inspects TLS"), "{out}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plaintext_to_an_aws_host_is_refused_and_the_session_ended() {
    within(async {
        let mut fleet = Fleet::default_fleet();
        fleet.stream_url_base = Some("ws://ssmmessages.us-east-1.amazonaws.com".into());
        let emulator =
            Emulator::start(EmulatorConfig { fleet, tls: false, ..EmulatorConfig::default() })
                .await
                .unwrap();
        assert!(emulator.endpoint_url().starts_with("http://"), "plaintext, for this test only");
        let run = Run::new(&emulator).without("AWS_CA_BUNDLE");
        let error = run.echo_through_data_channel(&[]).await.unwrap_err();
        assert!(
            error.contains("ssmmessages.us-east-1.amazonaws.com") && error.contains("plaintext"),
            "{error}"
        );
        let sessions = emulator.service().sessions();
        assert_eq!(sessions.len(), 1, "StartSession ran once");
        assert!(
            !sessions[0].status.is_active(),
            "the refused session was terminated: {:?}",
            sessions[0].status
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_ec2_and_tag_permissions_every_node_is_listed_with_a_notice() {
    within(async {
        let mut fleet = Fleet::default_fleet();
        fleet.credentials[0].deny =
            vec!["ec2:DescribeInstances".into(), "ssm:ListTagsForResource".into()];
        let emulator = emulator(fleet).await;
        let run = Run::new(&emulator);
        let (code, out, err) = run.run(&["nodes", "--json"]).await;
        assert_eq!(code, 0, "{err}");
        let nodes: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
        assert_eq!(nodes.len(), emulator.service().nodes().len(), "every SSM node is listed");
        let web = nodes.iter().find(|n| n["id"] == WEB).unwrap();
        assert_eq!(
            web["name"], "ip-10-0-1-10.ec2.internal",
            "the computer name stands in for the Name tag"
        );
        assert_eq!(web["ping_status"], "Online");
        assert_eq!(web["agent_version"], "3.3.1142.0");
        let notes: Vec<&str> = err.lines().filter(|l| l.starts_with("airlock: note:")).collect();
        assert_eq!(notes.len(), 2, "each gap said once: {err}");
        assert!(
            notes[0].contains("ec2:DescribeInstances") && notes[0].contains("Name tags"),
            "{err}"
        );
        assert!(
            notes[1].contains("ssm:ListTagsForResource") && notes[1].contains("on-premises"),
            "{err}"
        );

        let (code, out, _) = run.run(&["doctor"]).await;
        assert_eq!(code, 0, "a missing optional permission is a warning: {out}");
        let line = out.lines().find(|l| l.contains("ec2:DescribeInstances")).unwrap_or_default();
        assert!(line.starts_with("warn") && line.contains("UnauthorizedOperation"), "{out}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_error_without_a_code_says_what_happened() {
    within(async {
        let mut fleet = Fleet::default_fleet();
        fleet.faults = FaultConfig { api_failures: vec![ApiFailure { action: "ec2:DescribeInstances".into(), status: 503, body: String::new() }], ..FaultConfig::default() };
        let emulator = emulator(fleet).await;
        let run = Run::new(&emulator);
        let (code, out, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 0, "the SSM list still comes: {err}");
        assert!(out.contains(WEB), "{out}");
        assert!(err.contains("EC2 answered HTTP 503 with no error code or message") && err.contains("try again"), "{err}");
        assert!(!err.contains("Unknown"), "{err}");

        let xml = "<Response><Errors><Error><Code>InternalError</Code><Message>An internal error has occurred</Message></Error></Errors><RequestID>r-1</RequestID></Response>";
        // An answer in another protocol's shape (EC2's XML to an SSM JSON call) has no code SSM's parser finds.
        emulator.faults().set(FaultConfig { api_failures: vec![ApiFailure { action: "ssm:DescribeInstanceInformation".into(), status: 500, body: xml.into() }], ..FaultConfig::default() }).unwrap();
        let (code, _, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("SSM answered") && err.contains("HTTP 500") && err.contains("try again"), "{err}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_reports_a_healthy_setup_line_by_line() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator);
        let (code, out, err) = run.run(&["doctor", "--target", "web-1"]).await;
        assert_eq!(code, 0, "{out}{err}");
        for title in [
            "Region",
            "Trusted certificates",
            "SSM API",
            "Clock",
            "Data channel host",
            "Credentials",
            "ssm:DescribeInstanceInformation",
            "ec2:DescribeInstances",
        ] {
            let line = out
                .lines()
                .find(|l| l.contains(title))
                .unwrap_or_else(|| panic!("no {title} line: {out}"));
            assert!(line.starts_with("ok"), "{line}");
        }
        assert!(out.contains("reached directly, TLS verified"), "{out}");
        assert!(out.contains("arn:aws:iam::123456789012:user/demo"), "{out}");
        let agent =
            out.lines().find(|l| l.contains(&format!("Node {WEB}: agent"))).unwrap_or_default();
        assert!(agent.starts_with("ok") && agent.contains("multiplexed"), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with("skip") && l.contains("ssm:StartSession")),
            "{out}"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn doctor_names_each_failure_and_its_fix() {
    within(async {
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator);

        // An offline node.
        let (code, out, _) = run.run(&["doctor", "--target", "batch-old"]).await;
        assert_eq!(code, 1, "{out}");
        let line = out.lines().find(|l| l.contains("ping status")).unwrap_or_default();
        assert!(line.starts_with("FAIL") && line.contains("ConnectionLost"), "{out}");

        // A basic-mode agent is a warning with its meaning.
        let (_, out, _) = run.run(&["doctor", "--target", "legacy-db"]).await;
        assert!(
            out.lines().any(|l| l.starts_with("warn") && l.contains("one connection at a time")),
            "{out}"
        );

        // Keys the service does not know.
        let (code, out, _) =
            run.with("AWS_SECRET_ACCESS_KEY", "not-the-secret").run(&["doctor"]).await;
        assert_eq!(code, 1);
        let line = out.lines().find(|l| l.contains("Credentials")).unwrap_or_default();
        assert!(
            line.starts_with("FAIL") && line.contains("SignatureDoesNotMatch"),
            "STS says it so: {out}"
        );
        assert!(out.lines().any(|l| l.starts_with("skip") && l.contains("Permissions")), "{out}");

        // A clock 20 minutes off the service's.
        emulator
            .faults()
            .set(FaultConfig { service_clock_ahead_seconds: 20 * 60, ..FaultConfig::default() })
            .unwrap();
        let (code, out, _) = Run::new(&emulator).run(&["doctor"]).await;
        assert_eq!(code, 1);
        let line = out.lines().find(|l| l.contains("Clock")).unwrap_or_default();
        let seconds: u64 = line
            .split(" s behind")
            .next()
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_default();
        assert!(
            line.starts_with("FAIL") && (1190..=1210).contains(&seconds),
            "the Date header is whole seconds: {out}"
        );
        assert!(out.contains("fix: set the clock right"), "{out}");
        emulator.faults().set(FaultConfig::default()).unwrap();

        // No region anywhere.
        let (code, out, _) = Run::new(&emulator).without("AWS_REGION").run(&["doctor"]).await;
        assert_eq!(code, 1);
        assert!(out.starts_with("FAIL") && out.contains("no AWS region is set"), "{out}");
    })
    .await;
}

/// A tinyproxy of this test's own: listening on loopback, its outgoing connections from
/// 127.0.0.2 (so the emulator can tell what came through it), its log kept in memory.
struct Proxy {
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    _child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Proxy {
    async fn start(basic_auth: Option<(&str, &str)>) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        // A port that was free a moment ago; a clash is reported by tinyproxy and tried again.
        for _ in 0..5 {
            let port =
                std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut config = format!("Port {port}\nListen 127.0.0.1\nBind 127.0.0.2\nTimeout 600\nLogLevel Info\nMaxClients 100\nAllow 127.0.0.1\n");
            if let Some((user, password)) = basic_auth {
                config.push_str(&format!("BasicAuth {user} {password}\n"));
            }
            let file = dir.path().join("tinyproxy.conf");
            std::fs::write(&file, config).unwrap();
            // In the foreground (-d) tinyproxy logs to its standard output.
            let spawned = tokio::process::Command::new("tinyproxy")
                .arg("-d")
                .arg("-c")
                .arg(&file)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    panic!("cannot run tinyproxy ({e}): scripts/setup --for-tests installs it")
                }
            };
            let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
            // The proxy says when it accepts connections; until then nothing is sent to it.
            let mut started = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Accepting connections") {
                    started = true;
                    break;
                }
            }
            if !started {
                continue; // the port was taken meanwhile
            }
            let log = Arc::new(Mutex::new(Vec::new()));
            let keep = log.clone();
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    keep.lock().unwrap().push(line);
                }
            });
            return Proxy { port, log, _child: child, _dir: dir };
        }
        panic!("tinyproxy did not start on a free port");
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Tunnels the proxy was asked for to `authority`, as its log records them.
    fn connects_to(&self, authority: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.contains(&format!("CONNECT {authority} HTTP/1.1")))
            .count()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_carries_the_api_and_the_data_channel_and_no_proxy_bypasses_it() {
    within(async {
        let proxy = Proxy::start(None).await;
        let emulator = emulator(Fleet::default_fleet()).await;
        let authority = emulator.addr().to_string();
        let run = Run::new(&emulator).with("HTTPS_PROXY", &proxy.url());
        run.echo_through_data_channel(&[]).await.expect("a session through the proxy");
        assert!(
            proxy.connects_to(&authority) >= 2,
            "the proxy's log shows the API's tunnel and the data channel's: {:?}",
            proxy.log.lock().unwrap()
        );
        let peers = emulator.metrics().peers();
        let through: std::net::IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(
            peers.api.iter().collect::<Vec<_>>(),
            [&through],
            "every API call came from the proxy"
        );
        assert_eq!(
            peers.data_channel.iter().collect::<Vec<_>>(),
            [&through],
            "the data channel came from the proxy"
        );

        let (_, out, _) = run.run(&["doctor"]).await;
        let line = out.lines().find(|l| l.contains("Data channel host")).unwrap_or_default();
        assert!(
            line.starts_with("ok") && line.contains(&format!("through the proxy {}", proxy.url())),
            "{out}"
        );

        // NO_PROXY sends both straight to the host.
        let direct = self::emulator(Fleet::default_fleet()).await;
        let before = proxy.connects_to(&direct.addr().to_string());
        let run = Run::new(&direct).with("HTTPS_PROXY", &proxy.url()).with("NO_PROXY", "127.0.0.1");
        run.echo_through_data_channel(&[]).await.expect("a session around the proxy");
        assert_eq!(
            proxy.connects_to(&direct.addr().to_string()),
            before,
            "nothing went through the proxy"
        );
        let peers = direct.metrics().peers();
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(
            (peers.api.iter().collect::<Vec<_>>(), peers.data_channel.iter().collect::<Vec<_>>()),
            (vec![&loopback], vec![&loopback])
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_proxy_that_wants_credentials_is_reported_and_then_used_with_them() {
    within(async {
        let proxy = Proxy::start(Some(("alice", "s3cret"))).await;
        let emulator = emulator(Fleet::default_fleet()).await;
        let run = Run::new(&emulator).with("HTTPS_PROXY", &proxy.url());
        let (code, _, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 1);
        assert!(
            err.contains("proxy authorization required") && err.contains("HTTPS_PROXY"),
            "{err}"
        );
        let (code, out, _) = run.run(&["doctor"]).await;
        assert_eq!(code, 1);
        let line = out.lines().find(|l| l.contains("SSM API")).unwrap_or_default();
        assert!(
            line.starts_with("FAIL") && line.contains("asks for credentials (HTTP 407)"),
            "{out}"
        );

        let run = run.with("HTTPS_PROXY", &format!("http://alice:s3cret@127.0.0.1:{}", proxy.port));
        run.echo_through_data_channel(&[])
            .await
            .expect("a session through the proxy, with its credentials");
        assert_eq!(
            emulator
                .metrics()
                .peers()
                .data_channel
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["127.0.0.2"]
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn airlock_reaches_aws_by_its_own_host_names_with_no_endpoint_override() {
    within(async {
        // The emulator behind a proxy that takes CONNECT to *.amazonaws.com: Airlock resolves
        // AWS's endpoints itself (ssm.us-east-1.amazonaws.com ...), gets a stream URL on
        // ssmmessages.us-east-1.amazonaws.com, and checks that host exactly, as on AWS.
        let emulator = Emulator::start(EmulatorConfig {
            fleet: Fleet::default_fleet(),
            aws_hosts_proxy: true,
            ..EmulatorConfig::default()
        })
        .await
        .unwrap();
        let run = Run::new(&emulator)
            .without("AWS_ENDPOINT_URL")
            .with("HTTPS_PROXY", &emulator.proxy_url().unwrap());
        let (code, out, err) = run.run(&["nodes"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("web-1"), "{out}");
        run.echo_through_data_channel(&[]).await.expect("a session by AWS's own host names");
        let (_, out, _) = run.run(&["doctor"]).await;
        assert!(
            out.lines().any(|l| l.starts_with("ok")
                && l.contains("SSM API")
                && l.contains("ssm.us-east-1.amazonaws.com:443")),
            "{out}"
        );
        assert!(
            out.lines().any(|l| l.starts_with("ok")
                && l.contains("Data channel host")
                && l.contains("ssmmessages.us-east-1.amazonaws.com:443")),
            "{out}"
        );
    })
    .await;
}
