//! Who may call the emulator, and for how long: the fleet's long-term key pairs, the temporary
//! credentials STS (GetSessionToken, AssumeRole) and the SSO portal (GetRoleCredentials) hand
//! out, the MFA devices whose codes STS checks, the IAM Identity Center device authorizations
//! awaiting approval, and the clock temporary credentials expire by. Tests move that clock
//! forward, and approve device logins, through the control endpoints.

use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::fleet::{Fleet, KeyPair, RoleSpec};
use crate::service::ApiError;
use crate::sigv4::{Caller, Key};

/// Temporary credentials, as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `ASIA…`.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The session token the requests must carry.
    pub session_token: String,
    /// When they stop working, on the emulator's clock.
    pub expires: SystemTime,
    /// Who they act as.
    pub caller: Caller,
}

/// An SSO OIDC client registration.
#[derive(Debug, Clone)]
struct Client {
    id: String,
    secret: String,
}

/// A device authorization (StartDeviceAuthorization), pending until approved.
#[derive(Debug, Clone)]
struct Authorization {
    client_id: String,
    device_code: String,
    user_code: String,
    approved: bool,
}

/// An SSO access token (CreateToken) and the refresh token that renews it once.
#[derive(Debug, Clone)]
struct SsoToken {
    client_id: String,
    token: String,
    refresh: String,
    expires: SystemTime,
}

/// A new SSO access token: the token, its refresh token, and how long it lasts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The bearer token.
    pub access_token: String,
    /// Renews it (once: each use gives a new one).
    pub refresh_token: String,
    /// Its lifetime.
    pub lifetime: Duration,
}

#[derive(Debug, Default)]
struct State {
    issued: Vec<Issued>,
    /// How far the clock has been moved forward.
    offset: Duration,
    clients: Vec<Client>,
    authorizations: Vec<Authorization>,
    tokens: Vec<SsoToken>,
}

/// A pending device login, as the control endpoint lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingLogin {
    /// The code the user is shown.
    pub user_code: String,
}

/// The identity side of the account.
#[derive(Debug)]
pub struct Identities {
    account: String,
    keys: Vec<KeyPair>,
    mfa_devices: Vec<(String, String)>,
    roles: Vec<RoleSpec>,
    sso_roles: Vec<String>,
    lifetime: Duration,
    state: Mutex<State>,
}

fn random(prefix: &str, length: usize) -> String {
    let digits = uuid::Uuid::new_v4().simple().to_string().to_uppercase()
        + &uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{prefix}{}", &digits[..length])
}

fn denied(message: impl Into<String>) -> ApiError {
    ApiError { code: "AccessDenied", message: message.into(), status: 403 }
}

impl Identities {
    /// The identities of `fleet`.
    pub fn new(fleet: &Fleet) -> Identities {
        Identities {
            account: fleet.account.clone(),
            keys: fleet.credentials.clone(),
            mfa_devices: fleet
                .mfa_devices
                .iter()
                .map(|d| (d.serial.clone(), d.code.clone()))
                .collect(),
            roles: fleet.roles.clone(),
            sso_roles: fleet.sso_roles.clone(),
            lifetime: Duration::from_secs(fleet.credential_lifetime_seconds),
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The emulator's clock: the real time, moved forward by [`Identities::advance_clock`].
    pub fn now(&self) -> SystemTime {
        SystemTime::now() + self.lock().offset
    }

    /// Moves the clock forward (temporary credentials and SSO tokens expire by it); returns
    /// how far it has been moved in all.
    pub fn advance_clock(&self, by: Duration) -> Duration {
        let mut state = self.lock();
        state.offset += by;
        state.offset
    }

    /// The key with this id, long-term or temporary.
    pub fn key(&self, access_key_id: &str) -> Option<Key> {
        if let Some(pair) = self.keys.iter().find(|k| k.access_key_id == access_key_id) {
            return Some(Key {
                secret_access_key: pair.secret_access_key.clone(),
                session_token: None,
                expired: false,
                caller: Caller {
                    access_key_id: pair.access_key_id.clone(),
                    user: pair.user.clone(),
                    arn: format!("arn:aws:iam::{}:user/{}", self.account, pair.user),
                    temporary: false,
                    denied: pair.deny.clone(),
                    run_as: pair.run_as.clone(),
                },
            });
        }
        let now = self.now();
        let state = self.lock();
        let issued = state.issued.iter().find(|i| i.access_key_id == access_key_id)?;
        Some(Key {
            secret_access_key: issued.secret_access_key.clone(),
            session_token: Some(issued.session_token.clone()),
            expired: issued.expires <= now,
            caller: issued.caller.clone(),
        })
    }

    fn issue(&self, caller: Caller, lifetime: Duration) -> Issued {
        let access_key_id = random("ASIA", 16);
        let issued = Issued {
            secret_access_key: random("", 40),
            session_token: random("IQoJb3JpZ2luX2VjE", 48),
            expires: self.now() + lifetime,
            caller: Caller { temporary: true, access_key_id: access_key_id.clone(), ..caller },
            access_key_id,
        };
        self.lock().issued.push(issued.clone());
        issued
    }

    fn lifetime(&self, requested: Option<&str>) -> Result<Duration, ApiError> {
        match requested {
            None => Ok(self.lifetime),
            Some(text) => {
                let seconds: u64 = text.parse().map_err(|_| {
                    ApiError::client(
                        "ValidationError",
                        format!("DurationSeconds {text} is not a number"),
                    )
                })?;
                if !(900..=129_600).contains(&seconds) {
                    return Err(ApiError::client(
                        "ValidationError",
                        "DurationSeconds must be between 900 and 129600",
                    ));
                }
                Ok(self.lifetime.min(Duration::from_secs(seconds)))
            }
        }
    }

    fn check_mfa(
        &self,
        serial: Option<&str>,
        code: Option<&str>,
        action: &str,
    ) -> Result<bool, ApiError> {
        match (serial, code) {
            (None, None) => Ok(false),
            (Some(_), None) | (None, Some(_)) => {
                Err(ApiError::client("ValidationError", "SerialNumber and TokenCode go together"))
            }
            (Some(serial), Some(code)) => {
                if !code.chars().all(|c| c.is_ascii_digit()) || code.len() != 6 {
                    return Err(ApiError::client(
                        "ValidationError",
                        "TokenCode must be six digits",
                    ));
                }
                match self.mfa_devices.iter().find(|(s, _)| s == serial) {
                    Some((_, expected)) if expected == code => Ok(true),
                    _ => Err(denied(format!("MultiFactorAuthentication failed with invalid MFA one time pass code. ({action})"))),
                }
            }
        }
    }

    /// STS GetSessionToken: temporary credentials for a long-term key, MFA-checked when a
    /// device is named.
    pub fn get_session_token(
        &self,
        caller: &Caller,
        duration: Option<&str>,
        serial: Option<&str>,
        code: Option<&str>,
    ) -> Result<Issued, ApiError> {
        if caller.temporary {
            return Err(denied("Cannot call GetSessionToken with session credentials"));
        }
        let lifetime = self.lifetime(duration)?;
        self.check_mfa(serial, code, "GetSessionToken")?;
        Ok(self.issue(caller.clone(), lifetime))
    }

    /// STS AssumeRole: the role must exist, its external id match, and its MFA condition hold.
    #[allow(clippy::too_many_arguments)]
    pub fn assume_role(
        &self,
        caller: &Caller,
        role_arn: &str,
        session_name: &str,
        external_id: Option<&str>,
        duration: Option<&str>,
        serial: Option<&str>,
        code: Option<&str>,
    ) -> Result<(Issued, String), ApiError> {
        if session_name.len() < 2
            || session_name.len() > 64
            || !session_name.chars().all(|c| c.is_ascii_alphanumeric() || "=,.@-_".contains(c))
        {
            return Err(ApiError::client(
                "ValidationError",
                "RoleSessionName must be 2 to 64 characters of [\\w+=,.@-]",
            ));
        }
        let lifetime = self.lifetime(duration)?;
        let not_authorized = || {
            denied(format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                caller.arn
            ))
        };
        let role = self.roles.iter().find(|r| r.arn == role_arn).ok_or_else(not_authorized)?;
        if role.external_id.as_deref() != external_id && role.external_id.is_some() {
            return Err(not_authorized());
        }
        let with_mfa = self.check_mfa(serial, code, "AssumeRole")?;
        if role.require_mfa && !with_mfa {
            return Err(not_authorized());
        }
        let (account, name) = parse_role_arn(role_arn).ok_or_else(|| {
            ApiError::client("ValidationError", format!("{role_arn} is not a role ARN"))
        })?;
        let assumed = format!("arn:aws:sts::{account}:assumed-role/{name}/{session_name}");
        let caller = Caller {
            access_key_id: String::new(),
            user: session_name.to_owned(),
            arn: assumed.clone(),
            temporary: true,
            denied: role.deny.clone(),
            run_as: None,
        };
        let issued = self.issue(caller, lifetime);
        Ok((issued, assumed))
    }

    /// SSO OIDC RegisterClient.
    pub fn register_client(&self) -> (String, String) {
        let client = Client { id: random("client-", 20), secret: random("secret-", 40) };
        self.lock().clients.push(client.clone());
        (client.id, client.secret)
    }

    /// SSO OIDC StartDeviceAuthorization: returns the device code and the user code.
    pub fn start_device_authorization(
        &self,
        client_id: &str,
        client_secret: &str,
    ) -> Result<(String, String), ApiError> {
        let mut state = self.lock();
        if !state.clients.iter().any(|c| c.id == client_id && c.secret == client_secret) {
            return Err(ApiError {
                code: "InvalidClientException",
                message: "the client is not registered".into(),
                status: 401,
            });
        }
        let user_code = format!("{}-{}", &random("", 4), &random("", 4));
        let device_code = random("device-", 32);
        state.authorizations.push(Authorization {
            client_id: client_id.into(),
            device_code: device_code.clone(),
            user_code: user_code.clone(),
            approved: false,
        });
        Ok((device_code, user_code))
    }

    /// The device logins waiting for the user.
    pub fn pending_logins(&self) -> Vec<PendingLogin> {
        self.lock()
            .authorizations
            .iter()
            .filter(|a| !a.approved)
            .map(|a| PendingLogin { user_code: a.user_code.clone() })
            .collect()
    }

    /// The user approves the login with this code (in the real world: on the verification page).
    pub fn approve(&self, user_code: &str) -> bool {
        let mut state = self.lock();
        match state.authorizations.iter_mut().find(|a| a.user_code == user_code) {
            Some(authorization) => {
                authorization.approved = true;
                true
            }
            None => false,
        }
    }

    fn new_token(&self, state: &mut State, client_id: &str, now: SystemTime) -> NewToken {
        let token = SsoToken {
            client_id: client_id.to_owned(),
            token: random("aoa", 60),
            refresh: random("aor", 60),
            expires: now + self.lifetime,
        };
        state.tokens.push(token.clone());
        NewToken {
            access_token: token.token,
            refresh_token: token.refresh,
            lifetime: self.lifetime,
        }
    }

    /// SSO OIDC CreateToken: the device-code grant (`AuthorizationPendingException` until the
    /// user approves) or the refresh-token grant (each refresh token renews once).
    pub fn create_token(
        &self,
        client_id: &str,
        client_secret: &str,
        grant_type: &str,
        code: &str,
    ) -> Result<NewToken, ApiError> {
        let now = self.now();
        let mut state = self.lock();
        if !state.clients.iter().any(|c| c.id == client_id && c.secret == client_secret) {
            return Err(ApiError {
                code: "InvalidClientException",
                message: "the client is not registered".into(),
                status: 401,
            });
        }
        match grant_type {
            "urn:ietf:params:oauth:grant-type:device_code" => {
                let index = state
                    .authorizations
                    .iter()
                    .position(|a| a.device_code == code && a.client_id == client_id)
                    .ok_or_else(|| {
                        ApiError::client(
                            "InvalidGrantException",
                            "the device code is unknown or already used",
                        )
                    })?;
                if !state.authorizations[index].approved {
                    return Err(ApiError::client(
                        "AuthorizationPendingException",
                        "the user has not approved the login yet",
                    ));
                }
                state.authorizations.remove(index);
                Ok(self.new_token(&mut state, client_id, now))
            }
            "refresh_token" => {
                let index = state
                    .tokens
                    .iter()
                    .position(|t| t.refresh == code && t.client_id == client_id)
                    .ok_or_else(|| {
                        ApiError::client(
                            "InvalidGrantException",
                            "the refresh token is unknown or already used",
                        )
                    })?;
                state.tokens.remove(index);
                Ok(self.new_token(&mut state, client_id, now))
            }
            other => Err(ApiError::client(
                "UnsupportedGrantTypeException",
                format!("grant type {other} is not supported"),
            )),
        }
    }

    /// SSO portal GetRoleCredentials: credentials for one of the fleet's SSO roles.
    pub fn role_credentials(
        &self,
        bearer: &str,
        account_id: &str,
        role_name: &str,
    ) -> Result<Issued, ApiError> {
        let now = self.now();
        let valid = self.lock().tokens.iter().any(|t| t.token == bearer && t.expires > now);
        if !valid {
            return Err(ApiError {
                code: "UnauthorizedException",
                message: "Session token not found or invalid".into(),
                status: 401,
            });
        }
        if account_id != self.account || !self.sso_roles.iter().any(|r| r == role_name) {
            return Err(ApiError {
                code: "ForbiddenException",
                message: format!("No access to {role_name} in {account_id}"),
                status: 403,
            });
        }
        let caller = Caller {
            access_key_id: String::new(),
            user: "sso-user".into(),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/AWSReservedSSO_{role_name}_0123456789abcdef/sso-user",
                self.account
            ),
            temporary: true,
            denied: Vec::new(),
            run_as: None,
        };
        Ok(self.issue(caller, self.lifetime))
    }

    /// How far in the future `at` (on the emulator's clock) is, as a real time the client can
    /// compare with its own clock.
    pub fn as_real_time(&self, at: SystemTime) -> SystemTime {
        let offset = self.lock().offset;
        at.checked_sub(offset).unwrap_or(at)
    }
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, name).
fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path = resource.strip_prefix("role/")?;
    Some((account, path.rsplit('/').next()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identities() -> Identities {
        Identities::new(&Fleet::default_fleet())
    }

    fn long_term(ids: &Identities) -> Caller {
        ids.key(crate::fleet::DEMO_ACCESS_KEY_ID).expect("the demo key").caller
    }

    #[test]
    fn a_role_that_requires_mfa_refuses_without_the_right_code() {
        let ids = identities();
        let fleet = Fleet::default_fleet();
        let role =
            fleet.roles.iter().find(|r| r.require_mfa).expect("the default fleet has an MFA role");
        let device = &fleet.mfa_devices[0];
        let caller = long_term(&ids);
        assert_eq!(
            ids.assume_role(&caller, &role.arn, "alice", None, None, None, None).unwrap_err().code,
            "AccessDenied"
        );
        assert_eq!(
            ids.assume_role(
                &caller,
                &role.arn,
                "alice",
                None,
                None,
                Some(&device.serial),
                Some("000000")
            )
            .unwrap_err()
            .code,
            "AccessDenied"
        );
        let (issued, assumed) = ids
            .assume_role(
                &caller,
                &role.arn,
                "alice",
                None,
                None,
                Some(&device.serial),
                Some(&device.code),
            )
            .expect("the right code");
        assert!(assumed.ends_with("/alice") && assumed.contains(":assumed-role/"), "{assumed}");
        let key = ids.key(&issued.access_key_id).expect("issued keys verify");
        assert_eq!(key.session_token.as_deref(), Some(issued.session_token.as_str()));
        assert_eq!(key.caller.arn, assumed);
        assert!(!key.expired);
    }

    #[test]
    fn temporary_credentials_expire_when_the_clock_moves_past_them() {
        let ids = identities();
        let issued =
            ids.get_session_token(&long_term(&ids), None, None, None).expect("a session token");
        assert!(!ids.key(&issued.access_key_id).unwrap().expired);
        ids.advance_clock(ids.lifetime);
        assert!(ids.key(&issued.access_key_id).unwrap().expired);
        let temporary = ids.key(&issued.access_key_id).unwrap().caller;
        assert_eq!(
            ids.get_session_token(&temporary, None, None, None).unwrap_err().code,
            "AccessDenied",
            "not with session credentials"
        );
    }

    #[test]
    fn a_device_login_waits_for_approval_then_yields_role_credentials() {
        let ids = identities();
        let (client, secret) = ids.register_client();
        let (device, user_code) = ids.start_device_authorization(&client, &secret).unwrap();
        let grant = "urn:ietf:params:oauth:grant-type:device_code";
        assert_eq!(
            ids.create_token(&client, &secret, grant, &device).unwrap_err().code,
            "AuthorizationPendingException"
        );
        assert_eq!(ids.pending_logins(), vec![PendingLogin { user_code: user_code.clone() }]);
        assert!(ids.approve(&user_code));
        let first = ids.create_token(&client, &secret, grant, &device).unwrap();
        assert_eq!(
            ids.create_token(&client, &secret, grant, &device).unwrap_err().code,
            "InvalidGrantException",
            "a device code is used once"
        );
        let renewed =
            ids.create_token(&client, &secret, "refresh_token", &first.refresh_token).unwrap();
        assert_ne!(renewed.access_token, first.access_token);
        assert_eq!(
            ids.create_token(&client, &secret, "refresh_token", &first.refresh_token)
                .unwrap_err()
                .code,
            "InvalidGrantException",
            "a refresh token renews once"
        );
        let token = renewed.access_token;
        let role = &Fleet::default_fleet().sso_roles[0];
        assert!(ids.role_credentials(&token, &ids.account, role).is_ok());
        assert_eq!(
            ids.role_credentials("not-a-token", &ids.account, role).unwrap_err().code,
            "UnauthorizedException"
        );
        assert_eq!(
            ids.role_credentials(&token, &ids.account, "NoSuchRole").unwrap_err().code,
            "ForbiddenException"
        );
    }
}
