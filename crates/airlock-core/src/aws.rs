//! AWS access: one [`Aws`] per chosen profile and region, built from the standard credential
//! chain and `~/.aws/config`, with the standard endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_EC2`, ...), which the SDK reads itself, and the
//! place's [`Network`] (trust, proxies) under every client. This module owns the Session
//! Manager control-plane calls (StartSession, ResumeSession, TerminateSession), what an AWS
//! error tells the user, and the rule that a session token only ever goes to
//! `ssmmessages.<region>.amazonaws.com` over TLS, or to the SSM endpoint the user chose.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_ssm::error::ProvideErrorMetadata;

use crate::aws_profiles::ProfileFiles;
use crate::credentials::{find_credential_error, ProfileCredentials, Prompter};
use crate::datachannel::{Endpoint, Resume, ResumeFuture};
use crate::network::{Network, NetworkSettings, Target, TrustError, TrustSettings};

/// Clients for one profile and region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) kms: aws_sdk_kms::Client,
    sts: aws_sdk_sts::Client,
    region: String,
    /// The SSM endpoint the user configured, if any (then its host may serve the data channel).
    ssm_endpoint: Option<String>,
    /// Trust and proxies, shared by these clients and every data channel they open.
    network: Network,
    /// Credentials, to sign data-channel upgrades with.
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// Airlock's resolver for a named profile (absent for the SDK's default chain).
    profile: Option<ProfileCredentials>,
}

/// Errors of control-plane calls, with what the user can do.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No region in the profile, the environment or the command line.
    #[error("no AWS region is set: choose one (--region in the CLI), set AWS_REGION, or add region to the profile in ~/.aws/config")]
    NoRegion,
    /// The trusted certificates could not be loaded.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// No credentials were found or they were refused.
    #[error("no usable AWS credentials ({0}): configure a profile (aws configure, or airlock credentials add) or choose another one")]
    Credentials(String),
    /// Resolving the profile's credentials failed; the error says what to do.
    #[error(transparent)]
    Profile(#[from] crate::credentials::CredentialError),
    /// The service refused the credentials as expired.
    #[error("the AWS credentials have expired ({0}): refresh them (for SSO: aws sso login) and try again")]
    Expired(String),
    /// The node is offline or unknown.
    #[error("{target} is not connected to Session Manager: check that the node is running and its SSM agent is online")]
    TargetNotConnected {
        /// The node.
        target: String,
    },
    /// The document does not exist.
    #[error("the document {0} does not exist in this account and region: check its name, or list them with ListDocuments")]
    InvalidDocument(String),
    /// The caller's policies do not allow the action.
    #[error("{code}: {message} (the credentials in use lack the IAM permission {action}: ask for it to be added to your policy, or use a profile that has it)")]
    AccessDenied {
        /// `service:Operation`.
        action: String,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// AWS is limiting the rate of requests.
    #[error("{service} is limiting the rate of requests ({code}: {message}): wait a moment and try again")]
    Throttled {
        /// SSM, EC2, ...
        service: &'static str,
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// The request was refused, or failed on the service's side.
    #[error("{}", service_message(service, code, message, *status))]
    Service {
        /// SSM, EC2, ...
        service: &'static str,
        /// AWS's error code (empty when the answer had none).
        code: String,
        /// AWS's message (possibly empty).
        message: String,
        /// The HTTP status, when one came back.
        status: Option<u16>,
    },
    /// The service returned a stream URL Airlock will not send a token to.
    #[error("refusing to open the data channel at {url}: {why}")]
    UntrustedStreamUrl {
        /// The URL without its query.
        url: String,
        /// Which rule it breaks, and what to do.
        why: String,
    },
    /// The response lacked a field.
    #[error("the service's answer lacks {0}")]
    Incomplete(&'static str),
    /// The call did not reach the service.
    #[error("could not reach {service}: {detail} (check your network, VPN and HTTPS_PROXY; `airlock doctor` checks each step)")]
    Unreachable {
        /// SSM, EC2, ...
        service: &'static str,
        /// What failed, in words.
        detail: String,
    },
    /// The endpoint's certificate is not trusted.
    #[error("could not reach {service}: its certificate is not trusted ({detail}); Airlock trusts {trust}. If a corporate proxy inspects TLS, put its CA certificate in a PEM file and point AWS_CA_BUNDLE at it")]
    Untrusted {
        /// SSM, EC2, ...
        service: &'static str,
        /// What rustls found wrong.
        detail: String,
        /// What is trusted.
        trust: String,
    },
}

fn service_message(service: &str, code: &str, message: &str, status: Option<u16>) -> String {
    let status_text =
        status.map(|s| format!("HTTP {s}")).unwrap_or_else(|| "no HTTP status".into());
    let server_side = status.is_some_and(|s| s >= 500);
    let what = match (code.is_empty(), message.is_empty()) {
        (false, false) => format!("{service} answered {code}: {message} ({status_text})"),
        (false, true) => format!("{service} answered {code} with no message ({status_text})"),
        (true, false) => format!("{service} answered {status_text}: {message}"),
        (true, true) => format!("{service} answered {status_text} with no error code or message"),
    };
    if server_side {
        format!("{what}: the failure is on the service's side or in a proxy or load balancer on the way; try again in a moment, and run `airlock doctor` if it persists")
    } else if code.is_empty() {
        format!("{what}: something between Airlock and AWS may have answered instead of AWS; run `airlock doctor`")
    } else {
        what
    }
}

/// What a call was, for its errors: the IAM action, and the node and document it concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call<'a> {
    /// `service:Operation`.
    pub action: &'static str,
    /// The node, if the call concerns one.
    pub target: &'a str,
    /// The document, if the call concerns one.
    pub document: &'a str,
}

impl<'a> Call<'a> {
    pub(crate) fn new(action: &'static str) -> Call<'a> {
        Call { action, target: "", document: "" }
    }

    fn service(&self) -> &'static str {
        match self.action.split(':').next() {
            Some("ssm") => "SSM",
            Some("ec2") => "EC2",
            Some("sts") => "STS",
            Some("kms") => "KMS",
            Some("sso") => "IAM Identity Center",
            _ => "AWS",
        }
    }
}

/// What an SDK error means to the user. Every branch keeps AWS's code and message; none
/// leaves the user with an empty one.
pub(crate) fn classify<E, R>(
    error: aws_sdk_ssm::error::SdkError<E, R>,
    call: Call<'_>,
    network: &Network,
) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + HttpStatus + Send + Sync + 'static,
{
    use aws_sdk_ssm::error::SdkError;
    let service = call.service();
    if let Some(ours) = find_credential_error(&error) {
        return AwsError::Profile(ours.clone());
    }
    if let Some(detail) = crate::network::find_certificate_error(&error) {
        return AwsError::Untrusted {
            service,
            detail,
            trust: network.trust().description().to_owned(),
        };
    }
    match &error {
        // The SDK reports credentials it could not load as a dispatch failure.
        SdkError::DispatchFailure(_)
            if has_in_chain::<aws_credential_types::provider::error::CredentialsError>(&error) =>
        {
            AwsError::Credentials(error_chain(&error))
        }
        SdkError::DispatchFailure(failure) if failure.is_user() => {
            AwsError::Credentials(error_chain(&error))
        }
        SdkError::DispatchFailure(_) => {
            AwsError::Unreachable { service, detail: error_chain(&error) }
        }
        SdkError::TimeoutError(_) => {
            AwsError::Unreachable { service, detail: "the request timed out".into() }
        }
        SdkError::ResponseError(response) => AwsError::Service {
            service,
            code: String::new(),
            message: format!("an answer that is not AWS's ({})", error_chain(&error)),
            status: Some(response.raw().status_code()),
        },
        SdkError::ConstructionFailure(_) => AwsError::Credentials(error_chain(&error)),
        _ => {
            let status = match &error {
                SdkError::ServiceError(service_error) => Some(service_error.raw().status_code()),
                _ => None,
            };
            let code = error.code().unwrap_or_default().to_owned();
            let message = error.message().unwrap_or_default().to_owned();
            match code.as_str() {
                "TargetNotConnected" => {
                    AwsError::TargetNotConnected { target: call.target.to_owned() }
                }
                "InvalidDocument" => AwsError::InvalidDocument(call.document.to_owned()),
                "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
                    AwsError::Expired(format!("{code}: {message}"))
                }
                "UnrecognizedClientException"
                | "InvalidSignatureException"
                | "SignatureDoesNotMatch"
                | "AuthFailure"
                | "InvalidClientTokenId"
                | "IncompleteSignature"
                | "MissingAuthenticationToken" => {
                    AwsError::Credentials(format!("{code}: {message}"))
                }
                "AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation" => {
                    AwsError::AccessDenied { action: call.action.to_owned(), code, message }
                }
                "ThrottlingException"
                | "Throttling"
                | "RequestLimitExceeded"
                | "TooManyRequestsException" => AwsError::Throttled { service, code, message },
                _ => AwsError::Service { service, code, message, status },
            }
        }
    }
}

/// The status code of a raw HTTP response, for errors.
pub(crate) trait HttpStatus {
    /// The status.
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Whether an error of type `T` is somewhere in `error`'s chain (inside io::Errors too).
fn has_in_chain<T: std::error::Error + 'static>(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if current.is::<T>() {
            return true;
        }
        if current
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| has_in_chain::<T>(inner))
        {
            return true;
        }
        next = current.source();
    }
    false
}

/// An error and its causes, in one line, without Debug dumps.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        if let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            let text = inner.to_string();
            if !parts.iter().any(|p| p.contains(&text)) {
                parts.push(text);
            }
        }
        next = current.source();
    }
    parts.join(": ")
}

/// The account and principal behind a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
pub struct Identity {
    /// The 12-digit account id.
    pub account: String,
    /// The caller's ARN (user, or assumed role and session).
    pub arn: String,
}

/// A request to start a session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StartRequest {
    /// Instance or managed-node id.
    pub target: String,
    /// Session document; the default shell when `None`.
    pub document: Option<String>,
    /// Document parameters.
    pub parameters: HashMap<String, Vec<String>>,
    /// Why, for the audit trail.
    pub reason: Option<String>,
}

/// A far side given in full rather than found in the environment: the demo fleet, or an
/// emulator a test starts. Everything else about it (TLS, signing, the data channel) is as
/// for AWS.
#[derive(Clone)]
pub struct DirectEndpoint {
    /// The endpoint of every API (as `AWS_ENDPOINT_URL` would give it).
    pub endpoint_url: String,
    /// The region.
    pub region: String,
    /// The key pair to sign with.
    pub credentials: aws_credential_types::Credentials,
    /// What to trust.
    pub trust: TrustSettings,
}

impl std::fmt::Debug for DirectEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectEndpoint")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl DirectEndpoint {
    /// A far side at `endpoint_url`, signed for with `key` (id and secret), trusting only
    /// `ca_pem` when it is given (else the system's trust store).
    pub fn new(
        endpoint_url: String,
        region: &str,
        key: (&str, &str),
        ca_pem: Option<&str>,
    ) -> DirectEndpoint {
        DirectEndpoint {
            endpoint_url,
            region: region.to_owned(),
            credentials: aws_credential_types::Credentials::new(
                key.0,
                key.1,
                None,
                None,
                "airlock-direct",
            ),
            trust: ca_pem.map_or_else(TrustSettings::default, |pem| {
                TrustSettings::only(
                    pem.as_bytes().to_vec(),
                    "the far side's own certificate authority",
                )
            }),
        }
    }

    /// The SDK configuration and network for it. A local far side is reached directly,
    /// whatever proxy the environment names.
    pub fn sdk_config(&self) -> Result<(aws_config::SdkConfig, Network), AwsError> {
        let network = Network::new(&NetworkSettings {
            trust: self.trust.clone(),
            proxies: crate::network::ProxySource::Direct,
            ..NetworkSettings::default()
        })?;
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .endpoint_url(self.endpoint_url.clone())
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                self.credentials.clone(),
            ))
            .http_client(network.sdk_http_client())
            .build();
        Ok((config, network))
    }
}

/// Which of a place's sessions to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionList {
    /// Connected, connecting, disconnected, terminating.
    Active,
    /// Ended ones.
    History,
}

/// One session as DescribeSessions reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session id.
    pub id: String,
    /// The node.
    pub target: String,
    /// Who started it (an IAM ARN).
    pub owner: String,
    /// Connected, Terminated, Failed, ...
    pub status: String,
    /// The Session document, when not the default shell.
    pub document: Option<String>,
    /// The reason given at start.
    pub reason: Option<String>,
    /// When it started.
    pub started: Option<std::time::SystemTime>,
    /// When it ended.
    pub ended: Option<std::time::SystemTime>,
}

impl SessionSummary {
    /// `started` as RFC 3339 (UTC), or empty.
    pub fn started_text(&self) -> String {
        self.started.map(rfc3339).unwrap_or_default()
    }

    /// `ended` as RFC 3339 (UTC), or empty.
    pub fn ended_text(&self) -> String {
        self.ended.map(rfc3339).unwrap_or_default()
    }
}

fn rfc3339(time: std::time::SystemTime) -> String {
    let seconds = time.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    aws_smithy_types::DateTime::from_secs(seconds)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

impl Aws {
    /// Loads configuration for `profile` (else `AWS_PROFILE`, else the default chain) and
    /// `region` (or the configured one), with the AWS CLI's network conventions
    /// (`AWS_CA_BUNDLE` or the profile's `ca_bundle`, `HTTPS_PROXY`, ...). A profile in the
    /// shared files gets its credentials from Airlock's resolver ([`ProfileCredentials`]:
    /// keyring, MFA, role chains, SSO), which asks `prompter` when it needs the user.
    pub async fn load(
        profile: Option<&str>,
        region: Option<&str>,
        prompter: Arc<dyn Prompter>,
    ) -> Result<Aws, AwsError> {
        let files = ProfileFiles::load();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let chosen = profile.map(str::to_owned).or_else(|| env("AWS_PROFILE"));
        if let Some(name) = &chosen {
            if files.get(name).is_none() {
                return Err(AwsError::Profile(
                    crate::credentials::CredentialError::UnknownProfile(name.clone()),
                ));
            }
        }
        // The profile whose settings apply, as the CLI reads them: the chosen one, else default.
        let active = chosen.clone().unwrap_or_else(|| "default".to_owned());
        let setting = |key: &str| {
            files.get(&active).and_then(|keys| keys.get(key)).filter(|v| !v.is_empty()).cloned()
        };
        let ca_bundle = setting("ca_bundle");
        let network = Network::new(&NetworkSettings::from_env(
            ca_bundle.as_deref().map(|path| (active.as_str(), path)),
        ))?;
        let mut loader =
            aws_config::defaults(BehaviorVersion::latest()).http_client(network.sdk_http_client());
        if let Some(name) = &chosen {
            loader = loader.profile_name(name);
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let base = loader.load().await;
        // Keys in the environment win over the default profile, as in every AWS tool.
        let ours = chosen.or_else(|| {
            (env("AWS_ACCESS_KEY_ID").is_none() && files.get("default").is_some())
                .then(|| "default".to_owned())
        });
        let ssm_endpoint = env("AWS_ENDPOINT_URL_SSM")
            .or_else(|| env("AWS_ENDPOINT_URL"))
            .or_else(|| setting("endpoint_url"));
        match ours {
            None => Aws::from_config(&base, network, ssm_endpoint),
            Some(name) => Aws::with_profile(&base, network, &name, files, prompter, ssm_endpoint),
        }
    }

    /// Clients for a far side given in full (the demo fleet, a test's emulator).
    pub fn direct(endpoint: &DirectEndpoint) -> Result<Aws, AwsError> {
        let (config, network) = endpoint.sdk_config()?;
        Aws::from_config(&config, network, Some(endpoint.endpoint_url.clone()))
    }

    /// Clients whose credentials come from Airlock's resolver for `profile` of `files`; STS
    /// and SSO are reached with `base`'s region, endpoints and HTTP client.
    pub fn with_profile(
        base: &aws_config::SdkConfig,
        network: Network,
        profile: &str,
        files: ProfileFiles,
        prompter: Arc<dyn Prompter>,
        ssm_endpoint: Option<String>,
    ) -> Result<Aws, AwsError> {
        let resolver = ProfileCredentials::new(profile, files, base.clone(), prompter);
        let config = base
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
                resolver.clone(),
            ))
            // The resolver caches and refreshes ahead itself, and can be invalidated.
            .identity_cache(aws_config::identity::IdentityCache::no_cache())
            .build();
        let mut aws = Aws::from_config(&config, network, ssm_endpoint)?;
        aws.profile = Some(resolver);
        Ok(aws)
    }

    /// The profile whose credentials these clients use, when it is one of the shared files'.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_ref().map(ProfileCredentials::profile)
    }

    /// Runs `call`; when the service refuses the credentials as expired, forgets them (so the
    /// resolver refreshes, asking the user if it must) and runs it once more.
    pub(crate) async fn refreshing<T, F, Fut>(&self, call: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        self.refreshing_with(call, |e| matches!(e, AwsError::Expired(_))).await
    }

    /// [`Aws::refreshing`] for calls with errors of their own; `expired` tells the refusal.
    pub(crate) async fn refreshing_with<T, E, F, Fut>(
        &self,
        call: F,
        expired: fn(&E) -> bool,
    ) -> Result<T, E>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        match call().await {
            Err(error) if expired(&error) => match &self.profile {
                Some(resolver) => {
                    tracing::info!(
                        profile = resolver.profile(),
                        "credentials refused as expired; refreshing"
                    );
                    resolver.invalidate().await;
                    call().await
                }
                None => Err(error),
            },
            other => other,
        }
    }

    /// Clients for an already loaded configuration, whose HTTP client must be `network`'s.
    /// `ssm_endpoint` is the SSM endpoint the user chose, if any (else the configuration's own
    /// endpoint URL is taken).
    pub fn from_config(
        config: &aws_config::SdkConfig,
        network: Network,
        ssm_endpoint: Option<String>,
    ) -> Result<Aws, AwsError> {
        let region = config.region().ok_or(AwsError::NoRegion)?.to_string();
        let ssm_endpoint = ssm_endpoint
            .or_else(|| config.endpoint_url().map(str::to_owned))
            .filter(|u| !u.is_empty());
        Ok(Aws {
            ssm: aws_sdk_ssm::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            region,
            ssm_endpoint,
            network,
            credentials: config.credentials_provider(),
            profile: None,
        })
    }

    /// These clients with SSM (TerminateSession, ResumeSession, the data channel's host
    /// check) at `url`: the endpoint the AWS CLI names when it hands Airlock a session.
    pub fn with_ssm_endpoint(mut self, url: &str) -> Aws {
        let config = self.ssm.config().to_builder().endpoint_url(url).build();
        self.ssm = aws_sdk_ssm::Client::from_conf(config);
        self.ssm_endpoint = Some(url.to_owned());
        self
    }

    /// The SSM endpoint the user configured, if any.
    pub fn ssm_endpoint(&self) -> Option<&str> {
        self.ssm_endpoint.as_deref()
    }

    /// Trust and proxies of these clients and their data channels.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// Driver settings for this account: this network, upgrades signed with these credentials,
    /// data keys of encrypted sessions from this account's KMS.
    pub fn driver_config(&self) -> crate::datachannel::DriverConfig {
        crate::datachannel::DriverConfig {
            signing: self.credentials.clone().map(|credentials| {
                crate::datachannel::UpgradeSigning { credentials, region: self.region.clone() }
            }),
            data_keys: Some(std::sync::Arc::new(self.clone())),
            ..crate::datachannel::DriverConfig::new(self.network.clone())
        }
    }

    /// Who these credentials belong to (STS GetCallerIdentity).
    pub async fn whoami(&self) -> Result<Identity, AwsError> {
        let output = self
            .refreshing(|| async {
                self.sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify(e, Call::new("sts:GetCallerIdentity"), &self.network))
            })
            .await?;
        Ok(Identity {
            account: output.account.ok_or(AwsError::Incomplete("Account"))?,
            arn: output.arn.ok_or(AwsError::Incomplete("Arn"))?,
        })
    }

    /// The region in use.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// StartSession; returns where to connect.
    pub async fn start_session(&self, request: &StartRequest) -> Result<Endpoint, AwsError> {
        self.refreshing(|| self.start_session_once(request)).await
    }

    async fn start_session_once(&self, request: &StartRequest) -> Result<Endpoint, AwsError> {
        let document =
            request.document.clone().unwrap_or_else(|| "SSM-SessionManagerRunShell".into());
        let mut call = self.ssm.start_session().target(&request.target);
        if request.document.is_some() {
            call = call.document_name(&document);
        }
        if let Some(reason) = &request.reason {
            call = call.reason(reason);
        }
        for (key, values) in &request.parameters {
            call = call.parameters(key, values.clone());
        }
        let output = call.send().await.map_err(|e| {
            classify(
                e,
                Call { action: "ssm:StartSession", target: &request.target, document: &document },
                &self.network,
            )
        })?;
        let endpoint = Endpoint {
            session_id: output.session_id.ok_or(AwsError::Incomplete("SessionId"))?,
            stream_url: output.stream_url.ok_or(AwsError::Incomplete("StreamUrl"))?,
            token: output.token_value.ok_or(AwsError::Incomplete("TokenValue"))?,
            target: request.target.clone(),
        };
        if let Err(refused) = self.check_stream_url(&endpoint.stream_url) {
            // The token never left; the session the service started is ended at once rather
            // than left to its idle timeout.
            let _ = self.terminate_session_once(&endpoint.session_id).await;
            return Err(refused);
        }
        Ok(endpoint)
    }

    /// The place's sessions (DescribeSessions): the active ones, or the history, newest first.
    /// The history is long-lived on AWS; at most `limit` are read.
    pub async fn list_sessions(
        &self,
        which: SessionList,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, AwsError> {
        self.refreshing(|| self.list_sessions_once(which, limit)).await
    }

    async fn list_sessions_once(
        &self,
        which: SessionList,
        limit: usize,
    ) -> Result<Vec<SessionSummary>, AwsError> {
        use aws_sdk_ssm::types::SessionState;
        let state = match which {
            SessionList::Active => SessionState::Active,
            SessionList::History => SessionState::History,
        };
        let mut sessions = Vec::new();
        let mut pages =
            self.ssm.describe_sessions().state(state).max_results(200).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| classify(e, Call::new("ssm:DescribeSessions"), &self.network))?;
            for session in page.sessions.unwrap_or_default() {
                let time = |t: Option<&aws_smithy_types::DateTime>| {
                    t.and_then(|t| std::time::SystemTime::try_from(*t).ok())
                };
                sessions.push(SessionSummary {
                    started: time(session.start_date()),
                    ended: time(session.end_date()),
                    id: session.session_id.unwrap_or_default(),
                    target: session.target.unwrap_or_default(),
                    owner: session.owner.unwrap_or_default(),
                    status: session.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                    document: session.document_name.filter(|d| !d.is_empty()),
                    reason: session.reason.filter(|r| !r.is_empty()),
                });
                if sessions.len() >= limit {
                    return Ok(sessions);
                }
            }
        }
        Ok(sessions)
    }

    /// TerminateSession.
    pub async fn terminate_session(&self, session_id: &str) -> Result<(), AwsError> {
        self.refreshing(|| self.terminate_session_once(session_id)).await
    }

    async fn terminate_session_once(&self, session_id: &str) -> Result<(), AwsError> {
        self.ssm
            .terminate_session()
            .session_id(session_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify(e, Call::new("ssm:TerminateSession"), &self.network))
    }

    /// ResumeSession: a fresh token, or `None` when the service says the session is over.
    pub async fn resume_session(&self, session_id: &str) -> Result<Option<String>, AwsError> {
        self.refreshing(|| self.resume_session_once(session_id)).await
    }

    async fn resume_session_once(&self, session_id: &str) -> Result<Option<String>, AwsError> {
        match self.ssm.resume_session().session_id(session_id).send().await {
            Ok(output) => {
                if let Some(url) = &output.stream_url {
                    self.check_stream_url(url)?;
                }
                Ok(output.token_value.filter(|t| !t.is_empty()))
            }
            Err(error) if error.code() == Some("DoesNotExistException") => Ok(None),
            Err(error) => Err(classify(error, Call::new("ssm:ResumeSession"), &self.network)),
        }
    }

    /// A [`Resume`] for the data-channel driver.
    pub fn resumer(&self) -> Box<dyn Resume> {
        Box::new(AwsResume(self.clone()))
    }

    /// The token goes only to `ssmmessages.<region>.amazonaws.com` (or `.amazonaws.com.cn`)
    /// over TLS, or to the SSM endpoint the user configured; see [`check_stream_url`].
    pub fn check_stream_url(&self, url: &str) -> Result<(), AwsError> {
        check_stream_url(url, &self.region, self.ssm_endpoint.as_deref())
    }
}

/// Whether a session token may go to the data channel at `url`, for a session in `region`
/// when the user configured `ssm_endpoint` (if any):
/// - `wss://ssmmessages.<region>.amazonaws.com` or `wss://ssmmessages.<region>.amazonaws.com.cn`,
///   exactly (no other region, no deeper name under the suffix);
/// - `wss://` to the host of a configured `https://` endpoint;
/// - `ws://` only to the host and port of a configured `http://` endpoint (a local emulator);
///   an AWS host is never dialled in plaintext.
pub fn check_stream_url(
    url: &str,
    region: &str,
    ssm_endpoint: Option<&str>,
) -> Result<(), AwsError> {
    let refuse = |why: String| AwsError::UntrustedStreamUrl {
        url: crate::network::dial::without_query(url),
        why,
    };
    let target = Target::of_url(url).map_err(|e| refuse(e.to_string()))?;
    let host = target.host.to_ascii_lowercase();
    let aws_host = host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn");
    let session_manager = host == format!("ssmmessages.{region}.amazonaws.com")
        || host == format!("ssmmessages.{region}.amazonaws.com.cn");
    let configured = ssm_endpoint.and_then(|e| Target::of_url(e).ok());
    let same_host = configured.as_ref().is_some_and(|c| c.host.eq_ignore_ascii_case(&host));
    if !target.tls {
        let plain_endpoint =
            configured.as_ref().is_some_and(|c| !c.tls && same_host && c.port == target.port);
        return if plain_endpoint && !aws_host {
            Ok(())
        } else if aws_host {
            Err(refuse(format!("{host} is an AWS host, and Airlock never sends a session token to AWS in plaintext (ws://); the service should answer wss://")))
        } else {
            Err(refuse("ws:// (plaintext) is used only for the http:// SSM endpoint you configured (AWS_ENDPOINT_URL_SSM or AWS_ENDPOINT_URL), on the same host and port".into()))
        };
    }
    if session_manager || (same_host && configured.is_some_and(|c| c.tls)) {
        return Ok(());
    }
    Err(refuse(format!(
        "{host} is not the Session Manager host of {region} (ssmmessages.{region}.amazonaws.com); if you use a custom endpoint, set AWS_ENDPOINT_URL_SSM to it"
    )))
}

struct AwsResume(Aws);

impl Resume for AwsResume {
    fn resume<'a>(&'a mut self, session_id: &'a str) -> ResumeFuture<'a> {
        Box::pin(async move { self.0.resume_session(session_id).await.map_err(|e| e.to_string()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_only_to_the_session_manager_host_of_the_region() {
        let ok = |url: &str| check_stream_url(url, "eu-west-1", None);
        assert!(ok(
            "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe"
        )
        .is_ok());
        assert!(
            ok("wss://SSMMESSAGES.eu-west-1.amazonaws.com/v1/data-channel/s-1").is_ok(),
            "host names are case-insensitive"
        );
        assert!(check_stream_url(
            "wss://ssmmessages.cn-north-1.amazonaws.com.cn/v1/x",
            "cn-north-1",
            None
        )
        .is_ok());
        for bad in [
            "wss://evil.example.com/v1/data-channel/s-1",
            "wss://ssmmessages.eu-west-1.amazonaws.com.evil.example/v1",
            "wss://ssmmessages.us-east-1.amazonaws.com/v1/x", // another region
            "wss://x.ssmmessages.eu-west-1.amazonaws.com/v1/x", // deeper under the suffix
            "wss://ssmmessages.eu-west-1.evil.amazonaws.com/v1/x",
            "wss://user@evil.example/ssmmessages.eu-west-1.amazonaws.com",
            "ftp://ssmmessages.eu-west-1.amazonaws.com/v1/x",
        ] {
            assert!(ok(bad).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn an_aws_host_is_never_dialled_in_plaintext() {
        let error =
            check_stream_url("ws://ssmmessages.eu-west-1.amazonaws.com/v1/x", "eu-west-1", None)
                .unwrap_err();
        assert!(error.to_string().contains("plaintext"), "{error}");
        // Not even when the user's endpoint is plain HTTP on that host.
        let endpoint = Some("http://ssmmessages.eu-west-1.amazonaws.com");
        assert!(check_stream_url(
            "ws://ssmmessages.eu-west-1.amazonaws.com/v1/x",
            "eu-west-1",
            endpoint
        )
        .is_err());
    }

    #[test]
    fn a_configured_endpoint_may_serve_the_data_channel() {
        let plain = Some("http://127.0.0.1:8790");
        assert!(
            check_stream_url("ws://127.0.0.1:8790/v1/data-channel/s-1", "us-east-1", plain).is_ok()
        );
        assert!(
            check_stream_url("ws://127.0.0.1:8791/v1/data-channel/s-1", "us-east-1", plain)
                .is_err(),
            "another port"
        );
        assert!(
            check_stream_url("ws://10.0.0.9:8790/v1/data-channel/s-1", "us-east-1", plain).is_err(),
            "another host"
        );
        let tls = Some("https://127.0.0.1:8790");
        assert!(
            check_stream_url("wss://127.0.0.1:8790/v1/data-channel/s-1", "us-east-1", tls).is_ok()
        );
        assert!(
            check_stream_url("ws://127.0.0.1:8790/v1/data-channel/s-1", "us-east-1", tls).is_err(),
            "an https endpoint never gets plaintext"
        );
        assert!(check_stream_url("wss://10.0.0.9/v1/data-channel/s-1", "us-east-1", tls).is_err());
    }

    #[test]
    fn an_error_without_code_or_message_still_says_something() {
        let error = AwsError::Service {
            service: "EC2",
            code: String::new(),
            message: String::new(),
            status: Some(503),
        };
        let text = error.to_string();
        assert!(
            text.contains("EC2") && text.contains("HTTP 503") && text.contains("try again"),
            "{text}"
        );
        let error = AwsError::Service {
            service: "SSM",
            code: "ValidationException".into(),
            message: "bad".into(),
            status: Some(400),
        };
        assert_eq!(error.to_string(), "SSM answered ValidationException: bad (HTTP 400)");
    }
}
