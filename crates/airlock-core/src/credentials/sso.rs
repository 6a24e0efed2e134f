//! IAM Identity Center (SSO) logins: the cached access token in the standard SSO cache
//! (`~/.aws/sso/cache/<sha1>.json`, shared with the AWS CLI), the OIDC device authorization
//! flow when that token is missing or expired (register a client, start the authorization,
//! show the code and open the page through the [`Prompter`], poll for the token), and the
//! portal call that turns the token into role credentials.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_ssooidc::error::ProvideErrorMetadata;
use serde::{Deserialize, Serialize};
use sha1::Digest;

use super::prompt::{Prompt, Prompter};
use super::CredentialError;
use crate::aws_profiles::ProfileFiles;

/// A token this close to its end is not used.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// Where a profile logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoTarget {
    /// The `[sso-session]` name, for the modern form.
    pub session: Option<String>,
    /// The portal.
    pub start_url: String,
    /// The Identity Center region.
    pub region: String,
    /// The account and role to get credentials for.
    pub account_id: String,
    /// The permission set.
    pub role_name: String,
    /// Registration scopes (modern form only).
    pub scopes: Vec<String>,
}

impl SsoTarget {
    /// Reads `profile`'s SSO settings (either form).
    pub fn of(files: &ProfileFiles, profile: &str) -> Result<SsoTarget, CredentialError> {
        let keys = files
            .get(profile)
            .ok_or_else(|| CredentialError::UnknownProfile(profile.to_owned()))?;
        let missing = |what: &str| {
            CredentialError::Config(format!("the profile {profile} lacks {what} for its SSO login: add it to ~/.aws/config (aws configure sso writes it)"))
        };
        let get = |section: &BTreeMap<String, String>, key: &str| {
            section.get(key).filter(|v| !v.is_empty()).cloned()
        };
        let (session, section) = match keys.get("sso_session") {
            Some(name) => {
                let section = files.sso_sessions.get(name).ok_or_else(|| CredentialError::Config(format!("the profile {profile} names sso_session {name}, but ~/.aws/config has no [sso-session {name}] section")))?;
                (Some(name.clone()), section)
            }
            None => (None, keys),
        };
        Ok(SsoTarget {
            start_url: get(section, "sso_start_url").ok_or_else(|| missing("sso_start_url"))?,
            region: get(section, "sso_region").ok_or_else(|| missing("sso_region"))?,
            scopes: get(section, "sso_registration_scopes")
                .map(|s| {
                    s.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
                })
                .unwrap_or_default(),
            account_id: get(keys, "sso_account_id").ok_or_else(|| missing("sso_account_id"))?,
            role_name: get(keys, "sso_role_name").ok_or_else(|| missing("sso_role_name"))?,
            session,
        })
    }

    /// The cache file: the SHA-1 of the session name (modern form) or of the start URL.
    pub fn cache_path(&self) -> Option<PathBuf> {
        let key = self.session.as_deref().unwrap_or(&self.start_url);
        let name = hex::encode(sha1::Sha1::digest(key.as_bytes()));
        Some(dirs::home_dir()?.join(".aws").join("sso").join("cache").join(format!("{name}.json")))
    }
}

/// The SSO cache file, as the AWS CLI writes it.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedToken {
    /// The portal.
    pub start_url: String,
    /// The Identity Center region.
    pub region: String,
    /// The bearer token.
    pub access_token: String,
    /// RFC 3339.
    pub expires_at: String,
    /// The OIDC client, reused until it expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Its secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_expires_at: Option<String>,
    /// For refreshing (when the service gives one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("start_url", &self.start_url)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

fn rfc3339(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    aws_smithy_types::DateTime::from_secs(seconds as i64)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

fn parse_time(text: &str) -> Option<SystemTime> {
    let time =
        aws_smithy_types::DateTime::from_str(text, aws_smithy_types::date_time::Format::DateTime)
            .ok()?;
    SystemTime::try_from(time).ok()
}

fn usable(time: Option<&str>) -> bool {
    time.and_then(parse_time).is_some_and(|t| t > SystemTime::now() + TOKEN_MARGIN)
}

fn read_cache(target: &SsoTarget) -> Option<CachedToken> {
    let text = std::fs::read_to_string(target.cache_path()?).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_cache(target: &SsoTarget, token: &CachedToken) -> Result<(), CredentialError> {
    let path = target.cache_path().ok_or_else(|| {
        CredentialError::Config("no home directory to keep the SSO cache in".into())
    })?;
    let text =
        serde_json::to_string_pretty(token).map_err(|e| CredentialError::Config(e.to_string()))?;
    crate::config_file::write_atomically(&path, &text)
        .map_err(|e| CredentialError::Config(e.to_string()))
}

fn oidc_error<E: ProvideErrorMetadata + std::fmt::Debug>(
    what: &str,
    error: &aws_sdk_ssooidc::error::SdkError<E>,
) -> CredentialError {
    let detail = match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => format!("{error}"),
    };
    CredentialError::Sso(format!("{what} failed ({detail})"))
}

/// A usable access token: the cached one, or a new one from the device flow.
pub async fn access_token(
    base: &SdkConfig,
    profile: &str,
    target: &SsoTarget,
    prompter: &dyn Prompter,
) -> Result<String, CredentialError> {
    let cached = read_cache(target);
    if let Some(token) = &cached {
        if token.start_url == target.start_url && usable(Some(&token.expires_at)) {
            return Ok(token.access_token.clone());
        }
    }
    let config = aws_sdk_ssooidc::config::Builder::from(base)
        .region(aws_config::Region::new(target.region.clone()))
        .build();
    let oidc = aws_sdk_ssooidc::Client::from_conf(config);

    // An expired token with a refresh token and a live registration is renewed silently.
    if let Some(renewed) = refresh(&oidc, target, cached.as_ref()).await {
        return Ok(renewed);
    }

    // A client registration is reused while it lasts.
    let registration =
        cached.as_ref().filter(|t| usable(t.registration_expires_at.as_deref())).and_then(|t| {
            Some((
                t.client_id.clone()?,
                t.client_secret.clone()?,
                t.registration_expires_at.clone()?,
            ))
        });
    let (client_id, client_secret, registration_expires_at) = match registration {
        Some(registration) => registration,
        None => {
            let mut call = oidc.register_client().client_name("airlock").client_type("public");
            for scope in &target.scopes {
                call = call.scopes(scope);
            }
            let output = call
                .send()
                .await
                .map_err(|e| oidc_error("registering with IAM Identity Center", &e))?;
            let expires =
                UNIX_EPOCH + Duration::from_secs(output.client_secret_expires_at.max(0) as u64);
            (
                output.client_id.ok_or_else(|| {
                    CredentialError::Sso("RegisterClient returned no client id".into())
                })?,
                output.client_secret.ok_or_else(|| {
                    CredentialError::Sso("RegisterClient returned no secret".into())
                })?,
                rfc3339(expires),
            )
        }
    };

    let authorization = oidc
        .start_device_authorization()
        .client_id(&client_id)
        .client_secret(&client_secret)
        .start_url(&target.start_url)
        .send()
        .await
        .map_err(|e| oidc_error("starting the device login", &e))?;
    let device_code = authorization
        .device_code
        .ok_or_else(|| CredentialError::Sso("no device code in the answer".into()))?;
    let user_code = authorization.user_code.unwrap_or_default();
    let page = authorization
        .verification_uri_complete
        .or(authorization.verification_uri)
        .unwrap_or_default();
    let deadline = SystemTime::now() + Duration::from_secs(authorization.expires_in.max(60) as u64);
    let mut interval = Duration::from_secs(authorization.interval.clamp(1, 30) as u64);

    prompter
        .ask(Prompt::SsoLogin {
            profile: profile.to_owned(),
            start_url: target.start_url.clone(),
            verification_uri: page,
            user_code,
        })
        .await
        .map_err(|_| CredentialError::Declined {
            profile: profile.to_owned(),
            what: "IAM Identity Center login",
        })?;

    let token = loop {
        let attempt = oidc
            .create_token()
            .client_id(&client_id)
            .client_secret(&client_secret)
            .grant_type("urn:ietf:params:oauth:grant-type:device_code")
            .device_code(&device_code)
            .send()
            .await;
        match attempt {
            Ok(token) => break token,
            Err(error) => match error.code() {
                Some("AuthorizationPendingException") => {}
                Some("SlowDownException") => interval += Duration::from_secs(5),
                _ => return Err(oidc_error("waiting for the login's approval", &error)),
            },
        }
        if SystemTime::now() >= deadline {
            return Err(CredentialError::Sso("the login was not approved in time: run the command again and approve it in the browser".into()));
        }
        // The OAuth device flow asks clients to wait this long between polls.
        tokio::time::sleep(interval).await;
    };
    let access_token = token
        .access_token
        .ok_or_else(|| CredentialError::Sso("CreateToken returned no token".into()))?;
    let expires = SystemTime::now() + Duration::from_secs(token.expires_in.max(0) as u64);
    write_cache(
        target,
        &CachedToken {
            start_url: target.start_url.clone(),
            region: target.region.clone(),
            access_token: access_token.clone(),
            expires_at: rfc3339(expires),
            client_id: Some(client_id),
            client_secret: Some(client_secret),
            registration_expires_at: Some(registration_expires_at),
            refresh_token: token.refresh_token,
        },
    )?;
    Ok(access_token)
}

/// Renews `cached` with its refresh token; `None` when it cannot be (no refresh token, an
/// expired registration, or the service refused), and the device flow must run.
async fn refresh(
    oidc: &aws_sdk_ssooidc::Client,
    target: &SsoTarget,
    cached: Option<&CachedToken>,
) -> Option<String> {
    let cached = cached.filter(|t| {
        t.start_url == target.start_url && usable(t.registration_expires_at.as_deref())
    })?;
    let (client_id, client_secret, refresh_token) = (
        cached.client_id.as_ref()?,
        cached.client_secret.as_ref()?,
        cached.refresh_token.as_ref()?,
    );
    let renewed = oidc
        .create_token()
        .client_id(client_id)
        .client_secret(client_secret)
        .grant_type("refresh_token")
        .refresh_token(refresh_token)
        .send()
        .await;
    let renewed = match renewed {
        Ok(renewed) => renewed,
        Err(error) => {
            tracing::info!(start_url = %target.start_url, code = error.code().unwrap_or("unknown"), "the SSO token could not be renewed; logging in again");
            return None;
        }
    };
    let access_token = renewed.access_token?;
    let token = CachedToken {
        access_token: access_token.clone(),
        expires_at: rfc3339(
            SystemTime::now() + Duration::from_secs(renewed.expires_in.max(0) as u64),
        ),
        refresh_token: renewed.refresh_token.or_else(|| cached.refresh_token.clone()),
        ..cached.clone()
    };
    write_cache(target, &token).ok()?;
    Some(access_token)
}

/// Forgets the cached token (the portal refused it).
pub fn forget_token(target: &SsoTarget) {
    if let Some(mut token) = read_cache(target) {
        token.access_token.clear();
        token.expires_at = rfc3339(UNIX_EPOCH);
        let _ = write_cache(target, &token);
    }
}

/// Role credentials for `profile`: a usable token (logging in if needed), then the portal.
pub async fn role_credentials(
    base: &SdkConfig,
    files: &ProfileFiles,
    profile: &str,
    prompter: &dyn Prompter,
) -> Result<Credentials, CredentialError> {
    let target = SsoTarget::of(files, profile)?;
    let config = aws_sdk_sso::config::Builder::from(base)
        .region(aws_config::Region::new(target.region.clone()))
        .build();
    let portal = aws_sdk_sso::Client::from_conf(config);
    for attempt in 0..2 {
        let token = access_token(base, profile, &target, prompter).await?;
        let result = portal
            .get_role_credentials()
            .access_token(token)
            .account_id(&target.account_id)
            .role_name(&target.role_name)
            .send()
            .await;
        match result {
            Ok(output) => {
                let role = output.role_credentials.ok_or_else(|| {
                    CredentialError::Sso("GetRoleCredentials returned no credentials".into())
                })?;
                let expiry = UNIX_EPOCH + Duration::from_millis(role.expiration.max(0) as u64);
                return Ok(Credentials::new(
                    role.access_key_id.unwrap_or_default(),
                    role.secret_access_key.unwrap_or_default(),
                    role.session_token,
                    Some(expiry),
                    "airlock-sso",
                ));
            }
            Err(error)
                if attempt == 0
                    && aws_sdk_sso::error::ProvideErrorMetadata::code(&error)
                        == Some("UnauthorizedException") =>
            {
                forget_token(&target)
            }
            Err(error) => {
                let code = aws_sdk_sso::error::ProvideErrorMetadata::code(&error)
                    .unwrap_or("Unknown")
                    .to_owned();
                let message = aws_sdk_sso::error::ProvideErrorMetadata::message(&error)
                    .unwrap_or_default()
                    .to_owned();
                return Err(CredentialError::Sso(format!(
                    "IAM Identity Center refused credentials for {} in {} ({code}: {message}): check sso_account_id and sso_role_name",
                    target.role_name, target.account_id
                )));
            }
        }
    }
    Err(CredentialError::Sso(
        "the SSO login was refused twice: run `aws sso logout` and try again".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_forms_name_their_cache_file_as_the_aws_cli_does() {
        let files = ProfileFiles::parse(
            "[profile modern]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Dev\n\
             [sso-session corp]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n\
             [profile legacy]\nsso_start_url = https://corp.awsapps.com/start\nsso_region = us-east-1\nsso_account_id = 1\nsso_role_name = R\n\
             [profile broken]\nsso_session = nowhere\n",
            "",
        );
        let modern = SsoTarget::of(&files, "modern").unwrap();
        assert_eq!(
            (modern.region.as_str(), modern.scopes.as_slice()),
            ("eu-west-1", ["sso:account:access".to_owned()].as_slice())
        );
        let name = |t: &SsoTarget| {
            t.cache_path().unwrap().file_name().unwrap().to_string_lossy().into_owned()
        };
        // SHA-1 of "corp" and of the start URL (computed with Python's hashlib), as botocore names them.
        assert_eq!(name(&modern), "ee0bfd2552fbd840c02cc48b6e823320543c450f.json");
        let legacy = SsoTarget::of(&files, "legacy").unwrap();
        assert_eq!(name(&legacy), "a51746d4aa793ae07b25e90c3a5db96fc7832bd7.json");
        assert!(
            matches!(SsoTarget::of(&files, "broken"), Err(CredentialError::Config(m)) if m.contains("[sso-session nowhere]"))
        );
    }

    #[test]
    fn times_round_trip_in_the_cache_format() {
        let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(rfc3339(time), "2027-01-15T08:00:00Z");
        assert_eq!(parse_time(&rfc3339(time)), Some(time));
        assert!(!usable(Some("2020-01-01T00:00:00Z")));
        assert!(!usable(None));
    }

    proptest::proptest! {
        /// A cache file written by anyone (another tool, a truncated write) is read or ignored,
        /// never a panic; so is any expiry text in it.
        #[test]
        fn any_sso_cache_text_is_read_or_ignored(text in "\\PC{0,300}", expiry in "\\PC{0,40}") {
            let _ = serde_json::from_str::<CachedToken>(&text);
            let token = serde_json::json!({"startUrl": "https://x", "region": "r", "accessToken": "t", "expiresAt": expiry});
            if let Ok(token) = serde_json::from_value::<CachedToken>(token) {
                let _ = usable(Some(&token.expires_at));
            }
            let _ = parse_time(&expiry);
        }
    }
}
