//! Credentials for a chosen AWS profile, resolved as a careful user wants: every profile kind
//! `~/.aws/config` can hold, access keys from the OS keyring ([`vault`]), MFA codes asked for
//! through a [`Prompter`] once and the resulting session kept in the keyring until it ends,
//! role chains, IAM Identity Center device logins ([`sso`]), and a refresh ahead of expiry.
//!
//! [`ProfileCredentials`] is the SDK credentials provider the engine's clients use for a named
//! profile. It caches what it resolved, refreshes [`REFRESH_AHEAD`] before the end, and can be
//! told that the service refused the credentials as expired ([`ProfileCredentials::invalidate`]),
//! which happens when the service's clock and ours disagree.

pub mod files;
pub mod prompt;
pub mod sso;
pub mod vault;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::provider::{self, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_sdk_sts::error::ProvideErrorMetadata;

pub use prompt::{Answer, Declined, Prompt, Prompter};
pub use vault::{KeyPair, Vault, VaultError};

use crate::aws_profiles::{is_keyring_process, ProfileFiles};

/// Credentials this close to their end are refreshed before use.
pub const REFRESH_AHEAD: Duration = Duration::from_secs(5 * 60);

/// Why a profile's credentials could not be had, with what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No such profile.
    #[error("there is no profile {0} in ~/.aws/config or ~/.aws/credentials: check the name, or create it with `aws configure --profile {0}`")]
    UnknownProfile(String),
    /// The profile names no way to get credentials.
    #[error("the profile {0} has no credentials: store keys with `airlock credentials add {0}`, or give it role_arn, sso_session or credential_process")]
    NoCredentials(String),
    /// `source_profile` goes round in a circle, or too deep.
    #[error("the profile {0} takes its credentials from a chain of source_profile settings that loops or is longer than 10: fix source_profile in ~/.aws/config")]
    Loop(String),
    /// The profile keeps its keys in the keyring, which has none for it.
    #[error("the OS keyring holds no keys for {0}: store them with `airlock credentials add {0}`")]
    NotInKeyring(String),
    /// The keyring could not be used.
    #[error(transparent)]
    Vault(#[from] VaultError),
    /// The user did not answer a prompt.
    #[error("{what} for {profile} was not given, so the profile cannot be used: try again and answer the prompt")]
    Declined {
        /// The profile.
        profile: String,
        /// What was asked.
        what: &'static str,
    },
    /// STS refused (a wrong MFA code, a role one may not assume).
    #[error("STS refused {action} for {profile} ({detail}){hint}")]
    Sts {
        /// The profile.
        profile: String,
        /// AssumeRole or GetSessionToken.
        action: &'static str,
        /// AWS's code and message.
        detail: String,
        /// What to do.
        hint: &'static str,
    },
    /// The SSO login failed.
    #[error("IAM Identity Center: {0}")]
    Sso(String),
    /// The configuration is incomplete or a file could not be written.
    #[error("{0}")]
    Config(String),
    /// A provider of the AWS SDK (credential_process, web identity, instance metadata) failed.
    #[error("{0}")]
    Provider(String),
}

/// Resolves and caches one profile's credentials.
#[derive(Clone)]
pub struct ProfileCredentials {
    inner: Arc<Inner>,
}

struct Inner {
    profile: String,
    files: ProfileFiles,
    /// Region and endpoints for STS and SSO calls (its own credentials are not used).
    base: SdkConfig,
    prompter: Arc<dyn Prompter>,
    cache: tokio::sync::Mutex<Option<Credentials>>,
}

impl std::fmt::Debug for ProfileCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileCredentials")
            .field("profile", &self.inner.profile)
            .finish_non_exhaustive()
    }
}

fn fresh(credentials: &Credentials) -> bool {
    credentials.expiry().is_none_or(|end| end > SystemTime::now() + REFRESH_AHEAD)
}

type Resolved<'a> = Pin<Box<dyn Future<Output = Result<Credentials, CredentialError>> + Send + 'a>>;

/// Runs a keyring call off the async threads (the native stores block).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, VaultError> + Send + 'static,
) -> Result<T, VaultError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(VaultError::Unavailable(format!("the keyring call failed: {e}"))))
}

fn sts_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    profile: &str,
    action: &'static str,
    error: &aws_sdk_sts::error::SdkError<E>,
    with_mfa: bool,
) -> CredentialError {
    let code = error.code().unwrap_or("Unknown");
    let detail = match error.message() {
        Some(message) => format!("{code}: {message}"),
        None => format!("{error}"),
    };
    let hint = match code {
        "AccessDenied" if with_mfa => {
            ": check the MFA code (it changes every 30 seconds) and the role's trust policy"
        }
        "AccessDenied" => ": check role_arn, external_id and the role's trust policy",
        "ExpiredToken" => ": the source credentials have expired; try again to refresh them",
        _ => "",
    };
    CredentialError::Sts { profile: profile.to_owned(), action, detail, hint }
}

fn from_sts(credentials: aws_sdk_sts::types::Credentials, provider: &'static str) -> Credentials {
    let expiry = SystemTime::try_from(credentials.expiration).unwrap_or(UNIX_EPOCH);
    Credentials::new(
        credentials.access_key_id,
        credentials.secret_access_key,
        Some(credentials.session_token),
        Some(expiry),
        provider,
    )
}

impl ProfileCredentials {
    /// A provider for `profile` as `files` describe it; STS and SSO are reached with `base`'s
    /// region and endpoints.
    pub fn new(
        profile: &str,
        files: ProfileFiles,
        base: SdkConfig,
        prompter: Arc<dyn Prompter>,
    ) -> ProfileCredentials {
        ProfileCredentials {
            inner: Arc::new(Inner {
                profile: profile.to_owned(),
                files,
                base,
                prompter,
                cache: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The profile.
    pub fn profile(&self) -> &str {
        &self.inner.profile
    }

    /// Usable credentials: the cached ones while they are fresh, else resolved again (which may
    /// prompt). Concurrent callers wait for one resolution, so the user is asked once.
    pub async fn credentials(&self) -> Result<Credentials, CredentialError> {
        let mut cache = self.inner.cache.lock().await;
        if let Some(credentials) = cache.as_ref().filter(|c| fresh(c)) {
            return Ok(credentials.clone());
        }
        let credentials = self.resolve(&self.inner.profile, 0).await?;
        *cache = Some(credentials.clone());
        Ok(credentials)
    }

    /// Forgets what was resolved, in memory and in the keyring's session cache, because the
    /// service refused it as expired; the next call resolves again.
    pub async fn invalidate(&self) {
        *self.inner.cache.lock().await = None;
        let chain = self.inner.files.source_chain(&self.inner.profile);
        let _ = blocking(move || chain.iter().try_for_each(|p| Vault.forget_session(p))).await;
    }

    fn resolve<'a>(&'a self, name: &'a str, depth: usize) -> Resolved<'a> {
        Box::pin(async move {
            if depth > 10 {
                return Err(CredentialError::Loop(self.inner.profile.clone()));
            }
            let keys = self
                .inner
                .files
                .get(name)
                .ok_or_else(|| CredentialError::UnknownProfile(name.to_owned()))?;
            if let Some(role_arn) = keys.get("role_arn") {
                let source = match (keys.get("source_profile"), keys.get("credential_source"), keys.get("web_identity_token_file")) {
                    (Some(source), _, _) if source == name => self.base_keys(name).await?,
                    (Some(source), _, _) => self.resolve(source, depth + 1).await?,
                    (None, Some(source), _) => self.credential_source(name, source).await?,
                    (None, None, Some(_)) => return self.sdk_profile(name).await,
                    (None, None, None) => return Err(CredentialError::Config(format!("the profile {name} has role_arn but neither source_profile nor credential_source: add one to ~/.aws/config"))),
                };
                return self.assume_role(name, role_arn, source).await;
            }
            if keys.contains_key("sso_session") || keys.contains_key("sso_start_url") {
                return sso::role_credentials(
                    &self.inner.base,
                    &self.inner.files,
                    name,
                    self.inner.prompter.as_ref(),
                )
                .await;
            }
            let base = self.base_keys(name).await?;
            match keys.get("mfa_serial") {
                Some(serial) if base.session_token().is_none() => {
                    self.session_token(name, serial, base).await
                }
                _ => Ok(base),
            }
        })
    }

    /// A profile's own credentials: keys in the file, in the keyring, or from the SDK's
    /// providers (credential_process, web identity).
    async fn base_keys(&self, name: &str) -> Result<Credentials, CredentialError> {
        let keys = self
            .inner
            .files
            .get(name)
            .ok_or_else(|| CredentialError::UnknownProfile(name.to_owned()))?;
        if let (Some(id), Some(secret)) =
            (keys.get("aws_access_key_id"), keys.get("aws_secret_access_key"))
        {
            return Ok(Credentials::new(
                id,
                secret,
                keys.get("aws_session_token").cloned(),
                None,
                "airlock-profile-file",
            ));
        }
        if let Some(command) = keys.get("credential_process").filter(|c| is_keyring_process(c)) {
            // Airlock's own process: read the keyring directly rather than run ourselves.
            let held = command
                .split_whitespace()
                .nth(2)
                .unwrap_or(name)
                .trim_matches(['"', '\''])
                .to_owned();
            let lookup = held.clone();
            let pair = blocking(move || Vault.keys(&lookup))
                .await?
                .ok_or(CredentialError::NotInKeyring(held))?;
            return Ok(Credentials::new(
                pair.access_key_id,
                pair.secret_access_key,
                None,
                None,
                "airlock-keyring",
            ));
        }
        if keys.contains_key("credential_process") || keys.contains_key("web_identity_token_file") {
            return self.sdk_profile(name).await;
        }
        Err(CredentialError::NoCredentials(name.to_owned()))
    }

    /// The SDK's own profile provider, for kinds it handles fully.
    async fn sdk_profile(&self, name: &str) -> Result<Credentials, CredentialError> {
        let provider = aws_config::profile::ProfileFileCredentialsProvider::builder()
            .configure(&self.provider_config())
            .profile_name(name)
            .build();
        provider.provide_credentials().await.map_err(|e| {
            CredentialError::Provider(format!("the profile {name}: {}", error_chain(&e)))
        })
    }

    /// What the SDK's own providers run on: the base configuration's region and HTTP client
    /// (Airlock's, with its trust and proxies).
    fn provider_config(&self) -> aws_config::provider_config::ProviderConfig {
        let config = aws_config::provider_config::ProviderConfig::without_region()
            .with_region(self.inner.base.region().cloned());
        match self.inner.base.http_client() {
            Some(client) => config.with_http_client(client),
            None => config,
        }
    }

    /// `credential_source` of a role profile.
    async fn credential_source(
        &self,
        name: &str,
        source: &str,
    ) -> Result<Credentials, CredentialError> {
        let result = match source {
            "Environment" => aws_config::environment::EnvironmentVariableCredentialsProvider::new().provide_credentials().await,
            "Ec2InstanceMetadata" => aws_config::imds::credentials::ImdsCredentialsProvider::builder().configure(&self.provider_config()).build().provide_credentials().await,
            "EcsContainer" => aws_config::ecs::EcsCredentialsProvider::builder().configure(&self.provider_config()).build().provide_credentials().await,
            other => {
                return Err(CredentialError::Config(format!(
                    "the profile {name} has credential_source = {other}: use Environment, Ec2InstanceMetadata or EcsContainer"
                )))
            }
        };
        result.map_err(|e| {
            CredentialError::Provider(format!(
                "credential_source {source} of {name}: {}",
                error_chain(&e)
            ))
        })
    }

    fn sts(&self, source: Credentials) -> aws_sdk_sts::Client {
        let mut config = aws_sdk_sts::config::Builder::from(&self.inner.base)
            .credentials_provider(SharedCredentialsProvider::new(source));
        if self.inner.base.region().is_none() {
            config = config.region(aws_config::Region::new("us-east-1"));
        }
        aws_sdk_sts::Client::from_conf(config.build())
    }

    async fn ask_mfa(&self, name: &str, serial: &str) -> Result<String, CredentialError> {
        let code = self
            .inner
            .prompter
            .ask(Prompt::MfaCode { profile: name.to_owned(), serial: serial.to_owned() })
            .await
            .map_err(|_| CredentialError::Declined {
                profile: name.to_owned(),
                what: "the MFA code",
            })?;
        let code = code.trim().to_owned();
        if !prompt::valid_mfa_code(&code) {
            return Err(CredentialError::Config(format!(
                "the MFA code for {name} must be six digits"
            )));
        }
        Ok(code)
    }

    /// AssumeRole for a role profile, with its MFA device when it names one; MFA sessions are
    /// kept in the keyring until they end.
    async fn assume_role(
        &self,
        name: &str,
        role_arn: &str,
        source: Credentials,
    ) -> Result<Credentials, CredentialError> {
        let keys = self
            .inner
            .files
            .get(name)
            .ok_or_else(|| CredentialError::UnknownProfile(name.to_owned()))?;
        let serial = keys.get("mfa_serial");
        if serial.is_some() {
            if let Some(kept) = self.kept_session(name).await {
                return Ok(kept);
            }
        }
        let session_name = keys.get("role_session_name").cloned().unwrap_or_else(|| {
            format!(
                "airlock-{}",
                SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
            )
        });
        let mut call =
            self.sts(source).assume_role().role_arn(role_arn).role_session_name(session_name);
        if let Some(external_id) = keys.get("external_id") {
            call = call.external_id(external_id);
        }
        if let Some(seconds) = keys.get("duration_seconds").and_then(|s| s.parse().ok()) {
            call = call.duration_seconds(seconds);
        }
        if let Some(serial) = serial {
            call = call.serial_number(serial).token_code(self.ask_mfa(name, serial).await?);
        }
        let output =
            call.send().await.map_err(|e| sts_error(name, "AssumeRole", &e, serial.is_some()))?;
        let credentials = from_sts(
            output.credentials.ok_or_else(|| {
                CredentialError::Provider("AssumeRole returned no credentials".into())
            })?,
            "airlock-assume-role",
        );
        if serial.is_some() {
            self.keep_session(name, &credentials).await;
        }
        Ok(credentials)
    }

    /// GetSessionToken with an MFA code, for a key-holding profile that names a device.
    async fn session_token(
        &self,
        name: &str,
        serial: &str,
        base: Credentials,
    ) -> Result<Credentials, CredentialError> {
        if let Some(kept) = self.kept_session(name).await {
            return Ok(kept);
        }
        let code = self.ask_mfa(name, serial).await?;
        let output = self
            .sts(base)
            .get_session_token()
            .serial_number(serial)
            .token_code(code)
            .send()
            .await
            .map_err(|e| sts_error(name, "GetSessionToken", &e, true))?;
        let credentials = from_sts(
            output.credentials.ok_or_else(|| {
                CredentialError::Provider("GetSessionToken returned no credentials".into())
            })?,
            "airlock-session-token",
        );
        self.keep_session(name, &credentials).await;
        Ok(credentials)
    }

    async fn kept_session(&self, name: &str) -> Option<Credentials> {
        let profile = name.to_owned();
        match blocking(move || Vault.session(&profile, REFRESH_AHEAD)).await {
            Ok(kept) => kept,
            Err(error) => {
                tracing::warn!(profile = name, %error, "MFA sessions cannot be kept in the keyring; the code will be asked again next time");
                None
            }
        }
    }

    async fn keep_session(&self, name: &str, credentials: &Credentials) {
        let (profile, credentials) = (name.to_owned(), credentials.clone());
        if let Err(error) = blocking(move || Vault.store_session(&profile, &credentials)).await {
            tracing::warn!(profile = name, %error, "MFA session not kept in the keyring");
        }
    }
}

impl ProvideCredentials for ProfileCredentials {
    fn provide_credentials<'a>(&'a self) -> provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        provider::future::ProvideCredentials::new(async move {
            self.credentials().await.map_err(provider::error::CredentialsError::provider_error)
        })
    }
}

/// An error and its causes, joined (the SDK's errors put the useful part in the source).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The [`CredentialError`] inside an SDK error, if one of ours caused it.
pub fn find_credential_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialError> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(ours) = e.downcast_ref::<CredentialError>() {
            return Some(ours);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_leaves_room_before_the_end() {
        let soon =
            Credentials::new("a", "b", None, Some(SystemTime::now() + REFRESH_AHEAD / 2), "t");
        let later =
            Credentials::new("a", "b", None, Some(SystemTime::now() + REFRESH_AHEAD * 3), "t");
        let forever = Credentials::new("a", "b", None, None, "t");
        assert!(!fresh(&soon));
        assert!(fresh(&later));
        assert!(fresh(&forever));
    }
}
