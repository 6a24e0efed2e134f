//! What a failed command sends the UI: `{code, message}`. The message says what to do; the
//! code is set only where the UI branches on it (`port-in-use` marks the local-port field,
//! `exists` the name field, …) and the UI treats codes it does not know as generic.

use airlock_core::aws::AwsError;
use airlock_core::place::PlaceError;
use airlock_core::profiles::ProfileError;
use airlock_core::sentence::sentence;
use airlock_core::session::OpenError;
use airlock_core::settings::SettingsError;
use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
#[ts(rename = "BackendError")]
pub struct UiError {
    /// For the UI to branch on.
    pub code: &'static str,
    /// For the user.
    pub message: String,
}

impl UiError {
    pub fn new(code: &'static str, message: impl Into<String>) -> UiError {
        UiError { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> UiError {
        UiError::new("invalid", message)
    }
}

impl From<AwsError> for UiError {
    fn from(error: AwsError) -> Self {
        let code = match &error {
            AwsError::Credentials(_) | AwsError::Profile(_) => "credentials",
            AwsError::Expired(_) => "expired",
            AwsError::NoRegion => "no-region",
            AwsError::TargetNotConnected { .. } => "not-connected",
            AwsError::InvalidDocument(_) => "not-found",
            AwsError::AccessDenied { .. } => "denied",
            AwsError::Unreachable { .. } => "network",
            AwsError::Trust(_) | AwsError::Untrusted { .. } => "trust",
            AwsError::Service { .. }
            | AwsError::Throttled { .. }
            | AwsError::UntrustedStreamUrl { .. }
            | AwsError::Incomplete(_) => "aws",
        };
        UiError::new(code, sentence(&error))
    }
}

impl From<PlaceError> for UiError {
    fn from(error: PlaceError) -> Self {
        match error {
            PlaceError::Aws(aws) => aws.into(),
            demo @ PlaceError::Demo(_) => UiError::new("demo", sentence(&demo)),
        }
    }
}

impl From<OpenError> for UiError {
    fn from(error: OpenError) -> Self {
        match error {
            OpenError::Aws(aws) => aws.into(),
            OpenError::PortInUse { .. } => UiError::new("port-in-use", sentence(&error)),
            OpenError::Invalid(_) => UiError::new("invalid", sentence(&error)),
            OpenError::Target(airlock_core::inventory::TargetError::Aws(aws)) => aws.into(),
            OpenError::Target(_) => UiError::new("invalid", sentence(&error)),
            other => UiError::new("session", sentence(&other)),
        }
    }
}

impl From<airlock_core::group::GroupError> for UiError {
    fn from(error: airlock_core::group::GroupError) -> Self {
        let message = sentence(&error);
        UiError { message, ..UiError::from(error.source) }
    }
}

impl From<airlock_core::rdp::RdpError> for UiError {
    fn from(error: airlock_core::rdp::RdpError) -> Self {
        use airlock_core::inventory::TargetError;
        use airlock_core::rdp::RdpError;
        match error {
            RdpError::Aws(aws) | RdpError::Target(TargetError::Aws(aws)) => aws.into(),
            RdpError::NotAvailable(_) => UiError::new("not-yet", sentence(&error)),
            other => UiError::new("invalid", sentence(&other)),
        }
    }
}

impl From<ProfileError> for UiError {
    fn from(error: ProfileError) -> Self {
        let code = match &error {
            ProfileError::Exists(_) => "exists",
            ProfileError::NotFound(_) => "not-found",
            ProfileError::Invalid { .. } => "invalid",
            ProfileError::Malformed { .. } => "malformed-file",
            ProfileError::Io { .. } | ProfileError::NoConfigDir => "io",
        };
        UiError::new(code, sentence(&error))
    }
}

impl From<SettingsError> for UiError {
    fn from(error: SettingsError) -> Self {
        let code = match &error {
            SettingsError::Invalid(_) => "invalid",
            SettingsError::Malformed { .. } => "malformed-file",
            SettingsError::Read { .. } | SettingsError::Write(_) => "io",
        };
        UiError::new(code, sentence(&error))
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use airlock_core::credentials::CredentialError;

    use super::*;

    #[test]
    fn codes_mark_what_the_ui_branches_on() {
        let taken: UiError =
            OpenError::PortInUse { addr: SocketAddr::from(([127, 0, 0, 1], 8080)) }.into();
        assert_eq!(taken.code, "port-in-use");
        assert!(
            taken.message.starts_with("Local address 127.0.0.1:8080 is already in use"),
            "{}",
            taken.message
        );

        let offline: UiError =
            OpenError::Aws(AwsError::TargetNotConnected { target: "i-1".into() }).into();
        assert_eq!(
            offline.code, "not-connected",
            "an AWS error inside an open error keeps its code"
        );
        assert_eq!(UiError::from(ProfileError::Exists("db".into())).code, "exists");
        assert_eq!(UiError::from(ProfileError::NotFound("db".into())).code, "not-found");
        assert_eq!(UiError::from(AwsError::Credentials("expired".into())).code, "credentials");
        let mfa: UiError = AwsError::Profile(CredentialError::Declined {
            profile: "admin".into(),
            what: "the MFA code",
        })
        .into();
        assert_eq!(mfa.code, "credentials");
        assert!(mfa.message.starts_with("The MFA code for admin was not given"), "{}", mfa.message);
        assert_eq!(
            UiError::from(AwsError::Expired("ExpiredTokenException".into())).code,
            "expired"
        );
    }

    #[test]
    fn errors_cross_as_code_and_message() {
        let json =
            serde_json::to_value(UiError::new("exists", "A profile named \"db\" exists already"))
                .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"code": "exists", "message": "A profile named \"db\" exists already"})
        );
    }
}
