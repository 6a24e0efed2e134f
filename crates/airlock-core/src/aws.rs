//! AWS access: one [`Aws`] per chosen profile and region, built from the standard credential
//! chain and `~/.aws/config`, with the standard endpoint overrides (`AWS_ENDPOINT_URL`,
//! `AWS_ENDPOINT_URL_SSM`, `AWS_ENDPOINT_URL_EC2`), which the SDK reads itself. This module owns
//! the Session Manager control-plane calls (StartSession, ResumeSession, TerminateSession) and
//! the rule that a session token only ever goes to an `ssmmessages` host, or to the host of
//! the SSM endpoint the user chose.

use std::collections::HashMap;
use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_ssm::error::ProvideErrorMetadata;

use crate::aws_profiles::ProfileFiles;
use crate::credentials::{find_credential_error, ProfileCredentials, Prompter};
use crate::datachannel::{Endpoint, Resume, ResumeFuture};

/// Clients for one profile and region.
#[derive(Debug, Clone)]
pub struct Aws {
    pub(crate) ssm: aws_sdk_ssm::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    sts: aws_sdk_sts::Client,
    region: String,
    /// The SSM endpoint the user configured, if any (then its host may serve the data channel).
    ssm_endpoint: Option<String>,
    /// Credentials, to sign data-channel upgrades with.
    credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    /// Airlock's resolver for a named profile (absent for the SDK's default chain).
    profile: Option<ProfileCredentials>,
}

/// Errors of control-plane calls, with what the user can do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// No region in the profile, the environment or the command line.
    #[error("no AWS region is set: pass --region, set AWS_REGION, or add region to the profile in ~/.aws/config")]
    NoRegion,
    /// No credentials were found or they were refused.
    #[error("no usable AWS credentials ({0}): configure a profile (aws configure) or choose another with --profile")]
    Credentials(String),
    /// Resolving the profile's credentials failed; the message says what to do.
    #[error("{0}")]
    Profile(String),
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
    /// The request was refused.
    #[error("{code}: {message}")]
    Service {
        /// AWS's error code.
        code: String,
        /// AWS's message.
        message: String,
    },
    /// The service returned a stream URL Airlock will not send a token to.
    #[error("refusing to open the data channel at {host}: it is not a Session Manager host; if you use a custom endpoint, set AWS_ENDPOINT_URL_SSM to it")]
    UntrustedStreamUrl {
        /// The host in the URL.
        host: String,
    },
    /// The response lacked a field.
    #[error("the service's answer lacks {0}")]
    Incomplete(&'static str),
    /// The call did not reach the service.
    #[error("could not reach AWS: {0}")]
    Network(String),
}

pub(crate) fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(error: aws_sdk_ssm::error::SdkError<E>, target: &str, document: &str) -> AwsError {
    use aws_sdk_ssm::error::SdkError;
    if let Some(ours) = find_credential_error(&error) {
        return AwsError::Profile(ours.to_string());
    }
    match &error {
        SdkError::DispatchFailure(failure) => {
            if failure.is_io() || failure.is_timeout() {
                AwsError::Network(format!("{error:?}"))
            } else {
                AwsError::Credentials(failure.as_other().map_or_else(|| "the request could not be signed".into(), |o| format!("{o:?}")))
            }
        }
        SdkError::TimeoutError(_) => AwsError::Network("the request timed out".into()),
        _ => {
            let code = error.code().unwrap_or("Unknown").to_owned();
            let message = error.message().unwrap_or_default().to_owned();
            match code.as_str() {
                "TargetNotConnected" => AwsError::TargetNotConnected { target: target.to_owned() },
                "InvalidDocument" => AwsError::InvalidDocument(document.to_owned()),
                "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => AwsError::Expired(format!("{code}: {message}")),
                "UnrecognizedClientException" | "InvalidSignatureException" | "AccessDeniedException" | "AuthFailure" | "InvalidClientTokenId" => {
                    AwsError::Credentials(format!("{code}: {message}"))
                }
                _ => AwsError::Service { code, message },
            }
        }
    }
}

/// The account and principal behind a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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

impl Aws {
    /// Loads configuration for `profile` (else `AWS_PROFILE`, else the default chain) and
    /// `region` (or the configured one). A profile in the shared files gets its credentials from
    /// Airlock's resolver ([`ProfileCredentials`]: keyring, MFA, role chains, SSO), which asks
    /// `prompter` when it needs the user.
    pub async fn load(profile: Option<&str>, region: Option<&str>, prompter: Arc<dyn Prompter>) -> Result<Aws, AwsError> {
        let files = ProfileFiles::load();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let chosen = profile.map(str::to_owned).or_else(|| env("AWS_PROFILE"));
        if let Some(name) = &chosen {
            if files.get(name).is_none() {
                return Err(AwsError::Profile(crate::credentials::CredentialError::UnknownProfile(name.clone()).to_string()));
            }
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(name) = &chosen {
            loader = loader.profile_name(name);
        }
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let base = loader.load().await;
        // Keys in the environment win over the default profile, as in every AWS tool.
        let ours = chosen.or_else(|| (env("AWS_ACCESS_KEY_ID").is_none() && files.get("default").is_some()).then(|| "default".to_owned()));
        let ssm_endpoint = env("AWS_ENDPOINT_URL_SSM").or_else(|| env("AWS_ENDPOINT_URL"));
        match ours {
            None => Aws::from_config(&base, ssm_endpoint),
            Some(name) => Aws::with_profile(&base, &name, files, prompter, ssm_endpoint),
        }
    }

    /// Clients whose credentials come from Airlock's resolver for `profile` of `files`; STS
    /// and SSO are reached with `base`'s region and endpoints.
    pub fn with_profile(base: &aws_config::SdkConfig, profile: &str, files: ProfileFiles, prompter: Arc<dyn Prompter>, ssm_endpoint: Option<String>) -> Result<Aws, AwsError> {
        let resolver = ProfileCredentials::new(profile, files, base.clone(), prompter);
        let config = base
            .to_builder()
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(resolver.clone()))
            // The resolver caches and refreshes ahead itself, and can be invalidated.
            .identity_cache(aws_config::identity::IdentityCache::no_cache())
            .build();
        let mut aws = Aws::from_config(&config, ssm_endpoint)?;
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
        match call().await {
            Err(AwsError::Expired(why)) => match &self.profile {
                Some(resolver) => {
                    tracing::info!(profile = resolver.profile(), "credentials refused as expired; refreshing");
                    resolver.invalidate().await;
                    call().await
                }
                None => Err(AwsError::Expired(why)),
            },
            other => other,
        }
    }

    /// Clients for an already loaded configuration. `ssm_endpoint` is the SSM endpoint the user
    /// chose, if any (else the configuration's own endpoint URL is taken).
    pub fn from_config(config: &aws_config::SdkConfig, ssm_endpoint: Option<String>) -> Result<Aws, AwsError> {
        let region = config.region().ok_or(AwsError::NoRegion)?.to_string();
        let ssm_endpoint = ssm_endpoint.or_else(|| config.endpoint_url().map(str::to_owned)).filter(|u| !u.is_empty());
        Ok(Aws {
            ssm: aws_sdk_ssm::Client::new(config),
            ec2: aws_sdk_ec2::Client::new(config),
            sts: aws_sdk_sts::Client::new(config),
            region,
            ssm_endpoint,
            credentials: config.credentials_provider(),
            profile: None,
        })
    }

    /// Driver settings for this account: upgrades signed with these credentials.
    pub fn driver_config(&self) -> crate::datachannel::DriverConfig {
        crate::datachannel::DriverConfig {
            signing: self.credentials.clone().map(|credentials| crate::datachannel::UpgradeSigning { credentials, region: self.region.clone() }),
            ..crate::datachannel::DriverConfig::default()
        }
    }

    /// Who these credentials belong to (STS GetCallerIdentity).
    pub async fn whoami(&self) -> Result<Identity, AwsError> {
        let output = self.refreshing(|| async { self.sts.get_caller_identity().send().await.map_err(|e| classify(e, "", "")) }).await?;
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
        let document = request.document.clone().unwrap_or_else(|| "SSM-SessionManagerRunShell".into());
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
        let output = call.send().await.map_err(|e| classify(e, &request.target, &document))?;
        let endpoint = Endpoint {
            session_id: output.session_id.ok_or(AwsError::Incomplete("SessionId"))?,
            stream_url: output.stream_url.ok_or(AwsError::Incomplete("StreamUrl"))?,
            token: output.token_value.ok_or(AwsError::Incomplete("TokenValue"))?,
        };
        self.check_stream_url(&endpoint.stream_url)?;
        Ok(endpoint)
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
            .map_err(|e| classify(e, "", ""))
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
            Err(error) => Err(classify(error, "", "")),
        }
    }

    /// A [`Resume`] for the data-channel driver.
    pub fn resumer(&self) -> Box<dyn Resume> {
        Box::new(AwsResume(self.clone()))
    }

    /// The token goes only to `ssmmessages.<region>.amazonaws.com` (or `.amazonaws.com.cn`), or
    /// to the host of the SSM endpoint the user configured.
    pub fn check_stream_url(&self, url: &str) -> Result<(), AwsError> {
        check_stream_url(url, self.ssm_endpoint.as_deref())
    }
}

/// See [`Aws::check_stream_url`].
pub fn check_stream_url(url: &str, ssm_endpoint: Option<&str>) -> Result<(), AwsError> {
    let host = host_of(url).unwrap_or_default();
    let aws_host = host.starts_with("ssmmessages.") && (host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn"));
    let scheme_ok = url.starts_with("wss://") || (ssm_endpoint.is_some() && url.starts_with("ws://"));
    let configured = ssm_endpoint.and_then(host_of).is_some_and(|h| h == host);
    if scheme_ok && (aws_host || configured) {
        Ok(())
    } else {
        Err(AwsError::UntrustedStreamUrl { host: host.to_owned() })
    }
}

/// The host of a URL (without port or user info), lower-cased.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?;
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| h.trim_start_matches('['))?
    } else {
        authority.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
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
    fn tokens_go_only_to_session_manager_hosts() {
        let aws = "wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1?role=publish_subscribe";
        assert!(check_stream_url(aws, None).is_ok());
        assert!(check_stream_url("wss://ssmmessages.cn-north-1.amazonaws.com.cn/v1/x", None).is_ok());
        for bad in [
            "wss://evil.example.com/v1/data-channel/s-1",
            "wss://ssmmessages.eu-west-1.amazonaws.com.evil.example/v1",
            "ws://ssmmessages.eu-west-1.amazonaws.com/v1/x", // no TLS to AWS
            "wss://user@evil.example/ssmmessages.eu-west-1.amazonaws.com",
        ] {
            assert!(check_stream_url(bad, None).is_err(), "{bad} must be refused");
        }
    }

    #[test]
    fn a_configured_endpoint_may_serve_the_data_channel() {
        let endpoint = Some("http://127.0.0.1:8790");
        assert!(check_stream_url("ws://127.0.0.1:8790/v1/data-channel/s-1", endpoint).is_ok());
        assert!(check_stream_url("ws://10.0.0.9:8790/v1/data-channel/s-1", endpoint).is_err());
    }
}
