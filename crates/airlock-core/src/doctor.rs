//! `airlock doctor` and the app's "Check connection": what works on the way to Session
//! Manager and what to fix, one [`Check`] a line, in the order a session needs them. Every
//! check is free of side effects: no session is started, nothing is written.
//!
//! The checks: the profile and region in use; what is trusted; the route (direct or which
//! proxy) to the SSM API and to the data channel's host, each dialled over TLS; the clock
//! against the service's; who the credentials are; the permissions that can be probed
//! without acting (`ec2:DescribeInstances` with DryRun, read-only SSM calls); and for a
//! `--target`, its ping status and agent version and what they mean.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use ssm_protocol::handshake::{gates, Version};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::aws::{classify, Aws, AwsError, Call};
use crate::network::{DialError, Target};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// It works.
    Ok,
    /// It works, with a caveat.
    Warning,
    /// It does not work.
    Failed,
    /// It could not be checked (an earlier check failed, or checking would act).
    Skipped,
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "DoctorCheck")]
pub struct Check {
    /// What was checked.
    pub title: String,
    /// How it came out.
    pub verdict: Verdict,
    /// What was found.
    pub detail: String,
    /// What to do about it, when something is wrong.
    pub fix: Option<String>,
}

impl Check {
    fn ok(title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { title: title.into(), verdict: Verdict::Ok, detail: detail.into(), fix: None }
    }
    fn warning(
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            title: title.into(),
            verdict: Verdict::Warning,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn failed(
        title: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            title: title.into(),
            verdict: Verdict::Failed,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn skipped(title: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { title: title.into(), verdict: Verdict::Skipped, detail: detail.into(), fix: None }
    }

    /// The check that stands for a configuration that could not be loaded at all.
    pub fn from_load_error(error: &AwsError) -> Check {
        Check::failed(
            "Configuration",
            error.to_string(),
            "correct the setting named above, then run this check again",
        )
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[ts(rename = "DoctorReport")]
pub struct Report {
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether nothing failed.
    pub fn healthy(&self) -> bool {
        !self.checks.iter().any(|c| c.verdict == Verdict::Failed)
    }
}

/// How far the clock may be off before the checks warn; AWS refuses signatures 15 minutes off.
const SKEW_WARNING: Duration = Duration::from_secs(60);
const SKEW_LIMIT: Duration = Duration::from_secs(15 * 60);

impl Aws {
    /// Runs every check; `target` (a node id) adds the node's.
    pub async fn doctor(&self, target: Option<&str>) -> Report {
        let mut checks = vec![
            Check::ok(
                "Profile",
                self.profile().map_or_else(
                    || "the default credential chain".to_owned(),
                    |p| format!("profile {p}"),
                ),
            ),
            Check::ok("Region", self.region().to_owned()),
            Check::ok("Trusted certificates", self.network().trust().description().to_owned()),
        ];
        let api_url = self.ssm_endpoint_url();
        let (api, date) = self.probe_https("SSM API", &api_url).await;
        let api_works = api.verdict != Verdict::Failed;
        checks.push(api);
        checks.push(match date {
            Some(date) => clock_check(date, SystemTime::now()),
            None => Check::skipped("Clock", "the SSM API sent no Date to compare with"),
        });
        let data_channel_url = self.data_channel_host_url();
        checks.push(self.probe_https("Data channel host", &data_channel_url).await.0);

        let identity = self.whoami().await;
        let credentials_work = identity.is_ok();
        checks.push(match identity {
            Ok(identity) => Check::ok(
                "Credentials",
                format!("{} in account {}", identity.arn, identity.account),
            ),
            Err(error) if api_works => {
                Check::failed("Credentials", error.to_string(), credentials_fix(&error))
            }
            Err(error) => Check::failed(
                "Credentials",
                error.to_string(),
                "fix the connection to AWS first (above)",
            ),
        });
        if !credentials_work {
            checks.push(Check::skipped("Permissions", "not checked without working credentials"));
            return Report { checks };
        }
        checks.extend(self.permission_checks().await);
        if let Some(target) = target {
            checks.extend(self.target_checks(target).await);
        }
        Report { checks }
    }

    /// The SSM endpoint as the SDK reaches it.
    fn ssm_endpoint_url(&self) -> String {
        self.ssm_endpoint()
            .map_or_else(|| format!("https://ssm.{}.amazonaws.com", self.region()), str::to_owned)
    }

    /// Where the data channel will be: the Session Manager host of the region, or the host of
    /// the endpoint the user configured (which then serves it).
    fn data_channel_host_url(&self) -> String {
        match self.ssm_endpoint() {
            Some(endpoint) => endpoint.to_owned(),
            None => format!("https://ssmmessages.{}.amazonaws.com", self.region()),
        }
    }

    /// Dials `url` as every connection is dialled (proxy, TLS with the place's trust), sends a
    /// plain GET and reads the answer's Date. Any HTTP answer proves the path works.
    async fn probe_https(&self, title: &str, url: &str) -> (Check, Option<SystemTime>) {
        let target = match Target::of_url(url) {
            Ok(target) => target,
            Err(error) => {
                return (
                    Check::failed(
                        title,
                        error.to_string(),
                        "correct AWS_ENDPOINT_URL (or the profile's endpoint_url)",
                    ),
                    None,
                )
            }
        };
        let route = self.network().proxies().route(target.tls, &target.host, target.port);
        let how = match &route {
            Some(proxy) => format!("through the proxy {proxy}"),
            None => "directly".to_owned(),
        };
        let tls = if target.tls { ", TLS verified" } else { ", plaintext (not TLS)" };
        let mut connection = match self.network().connect(&target).await {
            Ok(connection) => connection,
            Err(error) => {
                return (
                    Check::failed(
                        title,
                        format!("{} {how}: {error}", target.authority()),
                        dial_fix(&error),
                    ),
                    None,
                )
            }
        };
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUser-Agent: airlock-doctor\r\nConnection: close\r\n\r\n",
            target.authority()
        );
        let answer = async {
            connection.write_all(request.as_bytes()).await?;
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                let n = connection.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(head)
        };
        let head = match tokio::time::timeout(self.network().timeouts().upgrade, answer).await {
            Ok(Ok(head)) if head.starts_with(b"HTTP/") => head,
            Ok(Ok(_)) => {
                return (
                    Check::failed(
                        title,
                        format!("{} {how}: the answer is not HTTP", target.authority()),
                        "check AWS_ENDPOINT_URL and the proxy",
                    ),
                    None,
                )
            }
            Ok(Err(error)) => {
                return (
                    Check::failed(
                        title,
                        format!("{} {how}: {error}", target.authority()),
                        "check your network and proxy",
                    ),
                    None,
                )
            }
            Err(_) => {
                return (
                    Check::failed(
                        title,
                        format!("{} {how}: no answer", target.authority()),
                        "check your network and proxy",
                    ),
                    None,
                )
            }
        };
        let date = String::from_utf8_lossy(&head)
            .lines()
            .find_map(|line| {
                line.split_once(':')
                    .filter(|(name, _)| name.eq_ignore_ascii_case("date"))
                    .map(|(_, value)| value.trim().to_owned())
            })
            .and_then(|value| httpdate::parse_http_date(&value).ok());
        (Check::ok(title, format!("{} reached {how}{tls}", target.authority())), date)
    }

    async fn permission_checks(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let network = self.network().clone();
        let nodes = self.ssm.describe_instance_information().max_results(5).send().await;
        checks.push(permission(
            "ssm:DescribeInstanceInformation",
            "lists the nodes",
            nodes
                .map(|_| ())
                .map_err(|e| classify(e, Call::new("ssm:DescribeInstanceInformation"), &network)),
            true,
        ));
        let dry_run = self.ec2.describe_instances().dry_run(true).send().await;
        let ec2 = match dry_run {
            Ok(_) => Ok(()),
            Err(error)
                if aws_sdk_ec2::error::ProvideErrorMetadata::code(&error)
                    == Some("DryRunOperation") =>
            {
                Ok(())
            }
            Err(error) => Err(classify(error, Call::new("ec2:DescribeInstances"), &network)),
        };
        checks.push(permission(
            "ec2:DescribeInstances",
            "adds Name tags, tags and states to the nodes",
            ec2,
            false,
        ));
        let sessions = self
            .ssm
            .describe_sessions()
            .state(aws_sdk_ssm::types::SessionState::Active)
            .max_results(1)
            .send()
            .await;
        checks.push(permission(
            "ssm:DescribeSessions",
            "lists active and recent sessions",
            sessions
                .map(|_| ())
                .map_err(|e| classify(e, Call::new("ssm:DescribeSessions"), &network)),
            false,
        ));
        let documents = self.ssm.list_documents().max_results(1).send().await;
        checks.push(permission(
            "ssm:ListDocuments",
            "lists Session documents to start",
            documents
                .map(|_| ())
                .map_err(|e| classify(e, Call::new("ssm:ListDocuments"), &network)),
            false,
        ));
        checks.push(Check::skipped(
            "ssm:StartSession",
            "not checked, because checking would start a session; shells and tunnels need ssm:StartSession, ssm:ResumeSession and ssm:TerminateSession",
        ));
        checks
    }

    async fn target_checks(&self, target: &str) -> Vec<Check> {
        let title = format!("Node {target}");
        let filter = aws_sdk_ssm::types::InstanceInformationStringFilter::builder()
            .key("InstanceIds")
            .values(target)
            .build();
        let found = match filter {
            Ok(filter) => {
                self.ssm.describe_instance_information().filters(filter).send().await.map_err(|e| {
                    classify(e, Call::new("ssm:DescribeInstanceInformation"), self.network())
                })
            }
            Err(error) => {
                return vec![Check::failed(
                    title,
                    error.to_string(),
                    "give a node id (i-… or mi-…)",
                )]
            }
        };
        let info = match found {
            Ok(output) => output.instance_information_list.unwrap_or_default().into_iter().next(),
            Err(error) => {
                return vec![Check::failed(
                    title,
                    error.to_string(),
                    "see the permission checks above",
                )]
            }
        };
        let Some(info) = info else {
            return vec![Check::failed(
                title,
                format!("{target} is not a managed node in {}", self.region()),
                "check the id and the region; a node appears once its SSM agent has registered (it needs an instance profile with AmazonSSMManagedInstanceCore, or a hybrid activation)",
            )];
        };
        let mut checks = Vec::new();
        let ping = info.ping_status.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default();
        checks.push(match ping.as_str() {
            "Online" => Check::ok(format!("{title}: ping status"), "Online: its agent is connected to Session Manager"),
            "ConnectionLost" => Check::failed(
                format!("{title}: ping status"),
                "ConnectionLost: its agent has not been heard from",
                "check that the node is running and can reach ssm, ssmmessages and ec2messages endpoints (VPC endpoints or a NAT)",
            ),
            other => Check::failed(format!("{title}: ping status"), format!("{other}: the node is not registered as active"), "re-register the node's agent"),
        });
        let version_text = info.agent_version.unwrap_or_default();
        checks.push(agent_version_check(&title, &version_text));
        checks
    }
}

/// What a node's agent version means for its sessions.
fn agent_version_check(title: &str, text: &str) -> Check {
    let title = format!("{title}: agent");
    let Ok(version) = text.parse::<Version>() else {
        return Check::warning(
            title,
            format!("version {text:?} cannot be read"),
            "update the SSM agent",
        );
    };
    let newer = |gate: Version| version.is_newer_than(&gate);
    let tunnels = if newer(gates::agent_mux()) {
        "multiplexed tunnels (many connections over one session)"
    } else {
        "basic tunnels only (one connection at a time; agents after 3.0.196.0 multiplex)"
    };
    let challenge = if version.is_at_least(&gates::agent_kms_challenge()) {
        "KMS encryption with the random-challenge context"
    } else {
        "KMS encryption with the two-key context"
    };
    let detail = format!("{text}: {tunnels}; {challenge}");
    if newer(gates::agent_mux()) {
        Check::ok(title, detail)
    } else {
        Check::warning(title, detail, "update the SSM agent for multiplexed tunnels")
    }
}

fn clock_check(server: SystemTime, local: SystemTime) -> Check {
    let (skew, ahead) = match server.duration_since(local) {
        Ok(behind) => (behind, false),
        Err(error) => (error.duration(), true),
    };
    let words = if ahead { "ahead of" } else { "behind" };
    let detail = format!("this computer's clock is {} s {words} the service's", skew.as_secs());
    if skew >= SKEW_LIMIT {
        Check::failed("Clock", detail, "set the clock right (enable NTP): AWS refuses requests signed more than 15 minutes off")
    } else if skew >= SKEW_WARNING {
        Check::warning(
            "Clock",
            detail,
            "enable NTP; AWS refuses requests signed more than 15 minutes off",
        )
    } else {
        Check::ok("Clock", detail)
    }
}

fn permission(action: &str, adds: &str, result: Result<(), AwsError>, required: bool) -> Check {
    match result {
        Ok(()) => Check::ok(action, format!("allowed: {adds}")),
        Err(AwsError::AccessDenied { code, .. }) if required => Check::failed(
            action,
            format!("refused ({code}); Airlock needs it: it {adds}"),
            format!("add {action} to your IAM policy"),
        ),
        Err(AwsError::AccessDenied { code, .. }) => Check::warning(
            action,
            format!("refused ({code}); without it Airlock still works, but nothing {adds}"),
            format!("add {action} to your IAM policy for what it adds"),
        ),
        Err(other) => {
            Check::warning(action, format!("could not be checked: {other}"), "run the check again")
        }
    }
}

fn dial_fix(error: &DialError) -> String {
    match error {
        DialError::Untrusted { .. } => "if a corporate proxy inspects TLS, save its CA certificate as PEM and set AWS_CA_BUNDLE to the file".into(),
        DialError::ProxyAuthRequired { .. } => "put the proxy's user name and password in HTTPS_PROXY (http://user:password@proxy:port)".into(),
        DialError::ProxyConnect { .. } | DialError::ProxyRefused { .. } | DialError::ProxyProtocol { .. } => {
            "check HTTPS_PROXY, or add the host to NO_PROXY to go direct".into()
        }
        DialError::Connect { .. } | DialError::TimedOut { .. } => "check the network, VPN and firewall; behind a proxy, set HTTPS_PROXY".into(),
        _ => "check the endpoint settings and the network".into(),
    }
}

fn credentials_fix(error: &AwsError) -> String {
    match error {
        AwsError::Expired(_) => "refresh the credentials (for SSO: aws sso login)".into(),
        AwsError::Credentials(_) => "check the access key, or choose another profile".into(),
        _ => "see the message".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_judged_against_the_services() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(clock_check(now + Duration::from_secs(3), now).verdict, Verdict::Ok);
        let warned = clock_check(now - Duration::from_secs(300), now);
        assert_eq!(warned.verdict, Verdict::Warning);
        assert!(warned.detail.contains("300 s ahead"), "{}", warned.detail);
        assert_eq!(clock_check(now + Duration::from_secs(20 * 60), now).verdict, Verdict::Failed);
    }

    #[test]
    fn an_agent_version_says_what_tunnels_it_gives() {
        let modern = agent_version_check("Node i-1", "3.3.1142.0");
        assert_eq!(modern.verdict, Verdict::Ok);
        assert!(
            modern.detail.contains("multiplexed") && modern.detail.contains("random-challenge"),
            "{}",
            modern.detail
        );
        let old = agent_version_check("Node i-1", "3.0.161.0");
        assert_eq!(old.verdict, Verdict::Warning);
        assert!(
            old.detail.contains("one connection at a time") && old.detail.contains("two-key"),
            "{}",
            old.detail
        );
    }
}
