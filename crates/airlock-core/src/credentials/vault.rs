//! The OS keyring as Airlock uses it: long-lived access key pairs (`airlock credentials add`)
//! and temporary credentials obtained with an MFA code, kept until they expire so the code is
//! asked for once. Secret Service on Linux, Keychain on macOS, Credential Manager on Windows;
//! a build whose keyring would only be the `keyring` crate's in-memory mock refuses to store
//! anything rather than pretend.
//!
//! Entries are under the service `airlock`: `keys:PROFILE` holds `{access_key_id,
//! secret_access_key}`, `session:PROFILE` holds temporary credentials with their expiry.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};

#[cfg(not(any(target_os = "linux", target_os = "macos", target_os = "windows")))]
compile_error!("Airlock keeps keys in the OS keyring, and this platform has none that it supports (Secret Service, Keychain, Credential Manager)");

/// The keyring service name of every entry.
const SERVICE: &str = "airlock";

/// Why the keyring could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// There is no usable OS keyring (no Secret Service on the session bus, a locked
    /// keychain, a build without a native store).
    #[error("the OS keyring is not available ({0}): on Linux, run a Secret Service such as gnome-keyring or KeePassXC and unlock it; or keep the keys in ~/.aws/credentials")]
    Unavailable(String),
    /// The entry holds something Airlock did not write.
    #[error("the keyring entry for {0} is not Airlock's: remove it with `airlock credentials remove {0}` and add the keys again")]
    Corrupt(String),
}

/// An access key pair.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPair {
    /// `AKIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"** redacted **")
            .finish()
    }
}

/// Temporary credentials as stored.
#[derive(Clone, Serialize, Deserialize)]
struct StoredSession {
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    /// Seconds since the epoch.
    expires: u64,
}

/// The keyring.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vault;

fn entry(user: &str) -> Result<keyring::Entry, VaultError> {
    use keyring::credential::CredentialPersistence;
    if matches!(
        keyring::default::default_credential_builder().persistence(),
        CredentialPersistence::EntryOnly | CredentialPersistence::ProcessOnly
    ) {
        return Err(VaultError::Unavailable("this build has no native keyring store".into()));
    }
    keyring::Entry::new(SERVICE, user).map_err(|e| VaultError::Unavailable(e.to_string()))
}

fn read(user: &str) -> Result<Option<String>, VaultError> {
    match entry(user)?.get_password() {
        Ok(text) => Ok(Some(text)),
        Err(keyring::Error::NoEntry) => Ok(None),
        Err(e) => Err(VaultError::Unavailable(e.to_string())),
    }
}

fn write(user: &str, text: &str) -> Result<(), VaultError> {
    entry(user)?.set_password(text).map_err(|e| VaultError::Unavailable(e.to_string()))
}

fn delete(user: &str) -> Result<bool, VaultError> {
    match entry(user)?.delete_credential() {
        Ok(()) => Ok(true),
        Err(keyring::Error::NoEntry) => Ok(false),
        Err(e) => Err(VaultError::Unavailable(e.to_string())),
    }
}

impl Vault {
    /// Stores `profile`'s access key pair, replacing any before it.
    pub fn store_keys(&self, profile: &str, keys: &KeyPair) -> Result<(), VaultError> {
        let text =
            serde_json::to_string(keys).map_err(|e| VaultError::Unavailable(e.to_string()))?;
        write(&format!("keys:{profile}"), &text)
    }

    /// `profile`'s access key pair, if the keyring holds one.
    pub fn keys(&self, profile: &str) -> Result<Option<KeyPair>, VaultError> {
        match read(&format!("keys:{profile}"))? {
            None => Ok(None),
            Some(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|_| VaultError::Corrupt(profile.to_owned())),
        }
    }

    /// Removes `profile`'s keys and cached session; whether there were keys.
    pub fn remove(&self, profile: &str) -> Result<bool, VaultError> {
        delete(&format!("session:{profile}"))?;
        delete(&format!("keys:{profile}"))
    }

    /// Keeps temporary credentials for `profile` until they expire.
    pub fn store_session(
        &self,
        profile: &str,
        credentials: &Credentials,
    ) -> Result<(), VaultError> {
        let Some(expiry) = credentials.expiry() else { return Ok(()) };
        let stored = StoredSession {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().unwrap_or_default().to_owned(),
            expires: expiry.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs(),
        };
        let text =
            serde_json::to_string(&stored).map_err(|e| VaultError::Unavailable(e.to_string()))?;
        write(&format!("session:{profile}"), &text)
    }

    /// `profile`'s kept temporary credentials, if they are still valid for `margin`.
    pub fn session(
        &self,
        profile: &str,
        margin: Duration,
    ) -> Result<Option<Credentials>, VaultError> {
        let Some(text) = read(&format!("session:{profile}"))? else { return Ok(None) };
        let Ok(stored) = serde_json::from_str::<StoredSession>(&text) else { return Ok(None) };
        let expiry = UNIX_EPOCH + Duration::from_secs(stored.expires);
        if expiry <= SystemTime::now() + margin {
            return Ok(None);
        }
        Ok(Some(Credentials::new(
            stored.access_key_id,
            stored.secret_access_key,
            Some(stored.session_token),
            Some(expiry),
            "airlock-keyring-session",
        )))
    }

    /// Forgets `profile`'s temporary credentials (they were refused as expired).
    pub fn forget_session(&self, profile: &str) -> Result<(), VaultError> {
        delete(&format!("session:{profile}")).map(|_| ())
    }
}
