//! The fleet: the account, the key pairs the APIs accept, the managed nodes with their agents and
//! tags, extra Session documents and start-up faults. Read from a TOML file (`--fleet FILE`,
//! format in the README) or [`Fleet::default_fleet`].

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::faults::FaultConfig;

/// Everything the emulator serves.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    /// The 12-digit account id.
    #[serde(default = "default_account")]
    pub account: String,
    /// The region the APIs claim to be.
    #[serde(default = "default_region")]
    pub region: String,
    /// Session Manager preferences: the inputs of the `SSM-SessionManagerRunShell` document.
    #[serde(default)]
    pub preferences: Preferences,
    /// How many real seconds an emulated minute lasts for the preferences' timeouts (60; a
    /// test shortens it to see an idle timeout or a maximum duration without waiting).
    #[serde(default = "default_minute_seconds")]
    pub minute_seconds: f64,
    /// KMS keys of the account.
    #[serde(default)]
    pub kms_keys: Vec<KmsKeySpec>,
    /// Key pairs the APIs accept.
    #[serde(default = "default_credentials")]
    pub credentials: Vec<KeyPair>,
    /// MFA devices STS checks codes against.
    #[serde(default = "default_mfa_devices")]
    pub mfa_devices: Vec<MfaDevice>,
    /// Roles AssumeRole may assume.
    #[serde(default = "default_roles")]
    pub roles: Vec<RoleSpec>,
    /// Permission sets (role names) the SSO portal grants in this account.
    #[serde(default = "default_sso_roles")]
    pub sso_roles: Vec<String>,
    /// How long temporary credentials and SSO tokens last, on the emulator's clock (which
    /// `POST /_emulator/clock` moves forward).
    #[serde(default = "default_credential_lifetime")]
    pub credential_lifetime_seconds: u64,
    /// The managed nodes.
    #[serde(default)]
    pub nodes: Vec<NodeSpec>,
    /// This many synthetic online Linux nodes are added after `nodes` (for large-fleet tests).
    #[serde(default)]
    pub extra_nodes: usize,
    /// Session documents beyond the standard ones.
    #[serde(default)]
    pub documents: Vec<DocumentSpec>,
    /// Faults in force from the start.
    #[serde(default)]
    pub faults: FaultConfig,
    /// How long a session's handler takes to become ready after it starts (the pty, the TCP
    /// connection); the agent leaves input that arrives before then unacknowledged, so the
    /// client must send it again. Real agents take a few milliseconds; this widens the window.
    #[serde(default)]
    pub handler_ready_delay_ms: u64,
    /// Where StartSession says the data channel is, instead of this server: a scheme and host
    /// such as `ws://ssmmessages.us-east-1.amazonaws.com`, to check what clients refuse.
    #[serde(default)]
    pub stream_url_base: Option<String>,
}

/// An access key pair and the IAM user it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// The access key id.
    pub access_key_id: String,
    /// The secret.
    pub secret_access_key: String,
    /// The IAM user name (session ids start with it).
    #[serde(default = "default_user")]
    pub user: String,
    /// Actions this user's policies do not allow, refused as IAM refuses them
    /// (`ec2:DescribeInstances`, `ssm:ListTagsForResource`, `kms:GenerateDataKey`; `ec2:*`).
    #[serde(default)]
    pub deny: Vec<String>,
    /// The user's `SSMSessionRunAs` tag: the OS user its shells run as when Run As is on
    /// (it wins over the preferences' default user, as the service's does).
    #[serde(default)]
    pub run_as: Option<String>,
}

/// Session Manager preferences, as the service keeps them in the `SSM-SessionManagerRunShell`
/// document's `inputs` (names as there).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Preferences {
    /// Encrypt shell and command sessions with this KMS key (id, ARN or alias); empty: no.
    #[serde(default)]
    pub kms_key_id: String,
    /// Run shells as an OS user: the caller's `run_as`, else `run_as_default_user`.
    #[serde(default)]
    pub run_as_enabled: bool,
    /// The OS user shells run as when Run As is on and the caller names none.
    #[serde(default)]
    pub run_as_default_user: String,
    /// Minutes without activity before the service ends a session, "1" to "60" (default "20").
    #[serde(default = "default_idle_timeout")]
    pub idle_session_timeout: String,
    /// Minutes after which a session ends whatever happens, "1" to "1440"; empty: never.
    #[serde(default)]
    pub max_session_duration: String,
    /// Commands run at the start of each shell, per platform.
    #[serde(default)]
    pub shell_profile: ShellProfile,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            kms_key_id: String::new(),
            run_as_enabled: false,
            run_as_default_user: String::new(),
            idle_session_timeout: default_idle_timeout(),
            max_session_duration: String::new(),
            shell_profile: ShellProfile::default(),
        }
    }
}

impl Preferences {
    /// The idle timeout in minutes.
    pub fn idle_minutes(&self) -> u64 {
        self.idle_session_timeout.trim().parse().unwrap_or(20)
    }

    /// The maximum duration in minutes, if any.
    pub fn max_minutes(&self) -> Option<u64> {
        self.max_session_duration.trim().parse().ok()
    }
}

/// A shell profile per platform.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ShellProfile {
    /// Run in Linux and macOS shells.
    #[serde(default)]
    pub linux: String,
    /// Run in Windows shells.
    #[serde(default)]
    pub windows: String,
}

/// A KMS key of the account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KmsKeySpec {
    /// The key id (a UUID).
    pub id: String,
    /// An alias, `alias/NAME`.
    #[serde(default)]
    pub alias: Option<String>,
    /// A disabled key refuses GenerateDataKey and Decrypt.
    #[serde(default = "default_true")]
    pub enabled: bool,
}

/// A virtual MFA device and the code it shows (always the same one: the emulator has no TOTP).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaDevice {
    /// `arn:aws:iam::ACCOUNT:mfa/NAME`.
    pub serial: String,
    /// Six digits.
    pub code: String,
}

/// A role AssumeRole accepts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// `arn:aws:iam::ACCOUNT:role/NAME`.
    pub arn: String,
    /// The external id its trust policy requires, if any.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Whether its trust policy requires MFA.
    #[serde(default)]
    pub require_mfa: bool,
    /// Actions the role's policies do not allow (as [`KeyPair::deny`]).
    #[serde(default)]
    pub deny: Vec<String>,
}

/// One managed node.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// `i-` followed by 8 or 17 hex digits, or `mi-` followed by 17 for on-premises nodes.
    pub id: String,
    /// The Name tag.
    pub name: String,
    /// `Linux`, `Windows` or `MacOS`.
    #[serde(default = "default_platform")]
    pub platform: String,
    /// For example `Amazon Linux`.
    #[serde(default = "default_platform_name")]
    pub platform_name: String,
    /// For example `2023`.
    #[serde(default = "default_platform_version")]
    pub platform_version: String,
    /// Four numeric parts, for example `3.3.1142.0`.
    #[serde(default = "default_agent_version")]
    pub agent_version: String,
    /// `Online`, `ConnectionLost` or `Inactive`.
    #[serde(default = "default_ping_status")]
    pub ping_status: String,
    /// The private address shown in the inventory.
    #[serde(default = "default_ip")]
    pub ip: String,
    /// The EC2 state (EC2 nodes only): `running`, `stopped`, ...
    #[serde(default = "default_state")]
    pub state: String,
    /// Tags besides Name.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// The login shell started for Standard_Stream sessions.
    #[serde(default = "default_shell")]
    pub shell: Vec<String>,
    /// The id the node's agent names as `aws:ssm:TargetId` when it decrypts a KMS data key, if
    /// not its own id (as for ECS tasks, whose StartSession target is `ecs:...`); a client
    /// that names the StartSession target then gets the agent's decryption failure.
    #[serde(default)]
    pub kms_target_id: Option<String>,
    /// A Windows instance's administrator password, as EC2 GetPasswordData gives it.
    #[serde(default)]
    pub windows_password: Option<WindowsPassword>,
}

/// The administrator password Windows set at an instance's first launch, and the public key
/// of the key pair it was launched with, to which EC2 encrypts it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsPassword {
    /// The password.
    pub password: String,
    /// The key pair's public key, PEM (`BEGIN PUBLIC KEY`).
    pub public_key: String,
}

impl std::fmt::Debug for WindowsPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsPassword").finish_non_exhaustive()
    }
}

impl WindowsPassword {
    fn key(&self) -> Result<rsa::RsaPublicKey, String> {
        use rsa::pkcs8::DecodePublicKey;
        rsa::RsaPublicKey::from_public_key_pem(self.public_key.trim())
            .map_err(|e| format!("public_key is not an RSA public key in PEM form: {e}"))
    }

    /// EC2's PasswordData: the password encrypted to the public key (RSA, PKCS #1 v1.5),
    /// base64.
    pub fn encrypted(&self) -> String {
        use base64::Engine as _;
        let Ok(key) = self.key() else { return String::new() };
        let mut rng = rand_core_06::OsRng;
        key.encrypt(&mut rng, rsa::Pkcs1v15Encrypt, self.password.as_bytes())
            .map(|bytes| base64::engine::general_purpose::STANDARD.encode(bytes))
            .unwrap_or_default()
    }
}

/// The demo Windows node's key pair file (the `.pem` EC2 gives at key pair creation), for
/// decrypting its password. Demo data, not a secret of anyone's.
pub const DEMO_WINDOWS_KEY: &str = include_str!("../demo/win-1-key.pem");
/// The demo Windows node's administrator password.
pub const DEMO_WINDOWS_PASSWORD: &str = "Demo-Windows-Admin-2026!";

/// A Session document: its name and its JSON content, in the form SSM stores
/// (`schemaVersion`, `sessionType`, `parameters`, `properties` with `{{ name }}` placeholders).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentSpec {
    /// The document name.
    pub name: String,
    /// The JSON content.
    pub content: String,
}

fn default_account() -> String {
    "123456789012".into()
}
fn default_region() -> String {
    "us-east-1".into()
}
fn default_idle_timeout() -> String {
    "20".into()
}
fn default_minute_seconds() -> f64 {
    60.0
}
fn default_true() -> bool {
    true
}
fn default_mfa_devices() -> Vec<MfaDevice> {
    vec![MfaDevice {
        serial: format!("arn:aws:iam::{}:mfa/demo", default_account()),
        code: "123456".into(),
    }]
}
fn default_roles() -> Vec<RoleSpec> {
    let role = |name: &str, require_mfa: bool| RoleSpec {
        arn: format!("arn:aws:iam::{}:role/{name}", default_account()),
        external_id: None,
        require_mfa,
        deny: Vec::new(),
    };
    vec![role("Admin", true), role("ReadOnly", false)]
}
fn default_sso_roles() -> Vec<String> {
    vec!["Developer".into()]
}
fn default_credential_lifetime() -> u64 {
    3600
}
fn default_user() -> String {
    "demo".into()
}
fn default_platform() -> String {
    "Linux".into()
}
fn default_platform_name() -> String {
    "Amazon Linux".into()
}
fn default_platform_version() -> String {
    "2023".into()
}
fn default_agent_version() -> String {
    "3.3.1142.0".into()
}
fn default_ping_status() -> String {
    "Online".into()
}
fn default_ip() -> String {
    "10.0.0.10".into()
}
fn default_state() -> String {
    "running".into()
}
/// The shell of this machine: `$SHELL` when it is set, else `/bin/sh`.
fn default_shell() -> Vec<String> {
    let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty() && Path::new(s).exists());
    vec![shell.unwrap_or_else(|| "/bin/sh".into())]
}

/// What stands in for PowerShell on a Windows node here: this machine's shell with a
/// PowerShell prompt. The agent's Windows behaviours (input `\n` sent as `\r`, the shell profile
/// typed line by line with `\r`) are the agent's, in `agent::shell`; a Unix terminal turns the
/// `\r` back into a line end as the Windows console does.
fn windows_stand_in_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), "PS1='PS C:\\Windows\\system32> ' exec /bin/sh -i".into()]
}

/// The key pair the default fleet accepts (printed at start-up; not a secret of anyone's).
pub const DEMO_ACCESS_KEY_ID: &str = "AKIAEMULATORDEMO0001";
/// The secret of [`DEMO_ACCESS_KEY_ID`].
pub const DEMO_SECRET_ACCESS_KEY: &str = "emulator/demo/secret/key/not/a/real/one/000";

fn default_credentials() -> Vec<KeyPair> {
    vec![KeyPair {
        access_key_id: DEMO_ACCESS_KEY_ID.into(),
        secret_access_key: DEMO_SECRET_ACCESS_KEY.into(),
        user: default_user(),
        deny: Vec::new(),
        run_as: None,
    }]
}

/// Why a fleet file was refused.
#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    /// The file could not be read.
    #[error("cannot read the fleet file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or has unknown fields.
    #[error("the fleet file {path} is not valid: {message}")]
    Parse {
        /// The file.
        path: String,
        /// The parser's message, with the line.
        message: String,
    },
    /// A value is out of range.
    #[error("the fleet is not valid: {0}")]
    Invalid(String),
}

impl Fleet {
    /// Reads and checks a fleet file.
    pub fn from_file(path: &Path) -> Result<Fleet, FleetError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| FleetError::Read { path: path.display().to_string(), source })?;
        Fleet::from_toml(&text).map_err(|e| match e {
            FleetError::Parse { message, .. } => {
                FleetError::Parse { path: path.display().to_string(), message }
            }
            other => other,
        })
    }

    /// Parses and checks fleet TOML.
    pub fn from_toml(text: &str) -> Result<Fleet, FleetError> {
        let fleet: Fleet = toml::from_str(text)
            .map_err(|e| FleetError::Parse { path: String::new(), message: e.to_string() })?;
        fleet.validate()?;
        Ok(fleet)
    }

    /// The demo fleet: a current Linux node (multiplexed port forwarding), a node with an agent
    /// older than 3.0.196.0 (basic port forwarding), a node whose agent lost its connection,
    /// a Windows node (a stand-in shell, and a password for [`DEMO_WINDOWS_KEY`]), and an
    /// on-premises node.
    pub fn default_fleet() -> Fleet {
        let node =
            |id: &str, name: &str, agent: &str, ping: &str, ip: &str, tags: &[(&str, &str)]| {
                NodeSpec {
                    id: id.into(),
                    name: name.into(),
                    platform: default_platform(),
                    platform_name: default_platform_name(),
                    platform_version: default_platform_version(),
                    agent_version: agent.into(),
                    ping_status: ping.into(),
                    ip: ip.into(),
                    state: default_state(),
                    tags: tags.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
                    shell: default_shell(),
                    kms_target_id: None,
                    windows_password: None,
                }
            };
        let mut onprem = node(
            "mi-0123456789abcdef0",
            "onprem-build",
            "3.3.1142.0",
            "Online",
            "192.168.10.20",
            &[("env", "ci"), ("team", "platform")],
        );
        onprem.platform_name = "Ubuntu".into();
        onprem.platform_version = "24.04".into();
        let mut windows = node(
            "i-0a1b2c3d4e5f60004",
            "win-1",
            "3.3.1142.0",
            "Online",
            "10.0.4.40",
            &[("env", "prod"), ("team", "web")],
        );
        windows.platform = "Windows".into();
        windows.platform_name = "Microsoft Windows Server 2022 Datacenter".into();
        windows.platform_version = "10.0.20348".into();
        windows.shell = windows_stand_in_shell();
        windows.windows_password = Some(WindowsPassword {
            password: DEMO_WINDOWS_PASSWORD.into(),
            public_key: include_str!("../demo/win-1-key.pub.pem").into(),
        });
        let fleet = Fleet {
            account: default_account(),
            region: default_region(),
            preferences: Preferences::default(),
            minute_seconds: default_minute_seconds(),
            kms_keys: Vec::new(),
            credentials: default_credentials(),
            mfa_devices: default_mfa_devices(),
            roles: default_roles(),
            sso_roles: default_sso_roles(),
            credential_lifetime_seconds: default_credential_lifetime(),
            nodes: vec![
                node(
                    "i-0a1b2c3d4e5f60001",
                    "web-1",
                    "3.3.1142.0",
                    "Online",
                    "10.0.1.10",
                    &[("env", "prod"), ("team", "web")],
                ),
                node(
                    "i-0a1b2c3d4e5f60002",
                    "legacy-db",
                    "3.0.161.0",
                    "Online",
                    "10.0.2.20",
                    &[("env", "prod"), ("team", "data")],
                ),
                node(
                    "i-0a1b2c3d4e5f60003",
                    "batch-old",
                    "3.2.582.0",
                    "ConnectionLost",
                    "10.0.3.30",
                    &[("env", "staging"), ("team", "data")],
                ),
                windows,
                onprem,
            ],
            extra_nodes: 0,
            documents: Vec::new(),
            faults: FaultConfig::default(),
            handler_ready_delay_ms: 0,
            stream_url_base: None,
        };
        debug_assert!(fleet.validate().is_ok());
        fleet
    }

    /// The nodes, with the synthetic ones appended.
    pub fn all_nodes(&self) -> Vec<NodeSpec> {
        let mut nodes = self.nodes.clone();
        let envs = ["prod", "staging", "dev"];
        let teams = ["web", "data", "platform", "ml"];
        for i in 0..self.extra_nodes {
            let mut tags = BTreeMap::new();
            tags.insert("env".into(), envs[i % envs.len()].into());
            tags.insert("team".into(), teams[i % teams.len()].into());
            nodes.push(NodeSpec {
                id: format!("i-{:017x}", 0xf000_0000_0000u64 + i as u64),
                name: format!("fleet-{i:05}"),
                platform: default_platform(),
                platform_name: default_platform_name(),
                platform_version: default_platform_version(),
                agent_version: default_agent_version(),
                ping_status: if i % 10 == 9 { "ConnectionLost".into() } else { "Online".into() },
                ip: format!("10.{}.{}.{}", 100 + i / 65536 % 100, i / 256 % 256, i % 256),
                state: default_state(),
                tags,
                shell: default_shell(),
                kms_target_id: None,
                windows_password: None,
            });
        }
        nodes
    }

    fn validate(&self) -> Result<(), FleetError> {
        let invalid = |m: String| Err(FleetError::Invalid(m));
        if self.account.len() != 12 || !self.account.bytes().all(|b| b.is_ascii_digit()) {
            return invalid(format!("account {:?} must be 12 digits", self.account));
        }
        if self.credentials.is_empty() {
            return invalid("give at least one [[credentials]] key pair".into());
        }
        for device in &self.mfa_devices {
            if device.code.len() != 6 || !device.code.bytes().all(|b| b.is_ascii_digit()) {
                return invalid(format!("MFA device {}: code must be six digits", device.serial));
            }
        }
        for role in &self.roles {
            if !role.arn.starts_with("arn:aws:iam::") || !role.arn.contains(":role/") {
                return invalid(format!(
                    "role {:?} must be an ARN like arn:aws:iam::123456789012:role/Name",
                    role.arn
                ));
            }
        }
        if self.credential_lifetime_seconds < 60 {
            return invalid("credential_lifetime_seconds must be at least 60".into());
        }
        let prefs = &self.preferences;
        if !prefs.idle_session_timeout.trim().parse::<u64>().is_ok_and(|m| (1..=60).contains(&m)) {
            return invalid(format!(
                "preferences.idleSessionTimeout {:?} must be minutes from 1 to 60",
                prefs.idle_session_timeout
            ));
        }
        if !prefs.max_session_duration.trim().is_empty()
            && !prefs
                .max_session_duration
                .trim()
                .parse::<u64>()
                .is_ok_and(|m| (1..=1440).contains(&m))
        {
            return invalid(format!(
                "preferences.maxSessionDuration {:?} must be minutes from 1 to 1440, or empty",
                prefs.max_session_duration
            ));
        }
        if prefs.run_as_enabled
            && prefs.run_as_default_user.trim().is_empty()
            && self.credentials.iter().any(|k| k.run_as.is_none())
        {
            return invalid(
                "preferences.runAsEnabled needs runAsDefaultUser (or a run_as for every key pair)"
                    .into(),
            );
        }
        if !(self.minute_seconds.is_finite() && self.minute_seconds > 0.0) {
            return invalid("minute_seconds must be a positive number".into());
        }
        for key in &self.kms_keys {
            if key.alias.as_deref().is_some_and(|a| !a.starts_with("alias/")) {
                return invalid(format!("kms key {}: alias must start with alias/", key.id));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for node in &self.nodes {
            if !valid_node_id(&node.id) {
                return invalid(format!(
                    "node id {:?} must be i- and 8 or 17 hex digits, or mi- and 17",
                    node.id
                ));
            }
            if !seen.insert(node.id.as_str()) {
                return invalid(format!("node id {} appears twice", node.id));
            }
            if !["Linux", "Windows", "MacOS"].contains(&node.platform.as_str()) {
                return invalid(format!(
                    "node {}: platform must be Linux, Windows or MacOS",
                    node.id
                ));
            }
            if !["Online", "ConnectionLost", "Inactive"].contains(&node.ping_status.as_str()) {
                return invalid(format!(
                    "node {}: ping_status must be Online, ConnectionLost or Inactive",
                    node.id
                ));
            }
            if node.agent_version.parse::<ssm_protocol::handshake::Version>().is_err() {
                return invalid(format!(
                    "node {}: agent_version {:?} must be numbers like 3.3.1142.0",
                    node.id, node.agent_version
                ));
            }
            if let Some(password) = &node.windows_password {
                if node.platform != "Windows" {
                    return invalid(format!(
                        "node {}: only Windows nodes have a windows_password",
                        node.id
                    ));
                }
                if let Err(reason) = password.key() {
                    return invalid(format!("node {}: windows_password: {reason}", node.id));
                }
            }
            if node.shell.is_empty() {
                return invalid(format!("node {}: shell must name a command", node.id));
            }
        }
        if let Some(base) = &self.stream_url_base {
            let rest = base.strip_prefix("ws://").or_else(|| base.strip_prefix("wss://"));
            if rest.is_none_or(|host| host.is_empty() || host.contains(['/', '?'])) {
                return invalid(format!(
                    "stream_url_base {base:?} must be ws:// or wss:// and a host, without a path"
                ));
            }
        }
        if self.handler_ready_delay_ms > 60_000 {
            return invalid("handler_ready_delay_ms must be at most 60000".into());
        }
        for document in &self.documents {
            crate::documents::Document::parse(&document.name, &document.content)
                .map_err(FleetError::Invalid)?;
        }
        self.faults.validate().map_err(FleetError::Invalid)
    }
}

/// `i-` and 8 or 17 hex digits, or `mi-` and 17.
pub fn valid_node_id(id: &str) -> bool {
    let hex = |s: &str, lens: &[usize]| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_hexdigit())
    };
    if let Some(rest) = id.strip_prefix("mi-") {
        hex(rest, &[17])
    } else if let Some(rest) = id.strip_prefix("i-") {
        hex(rest, &[8, 17])
    } else {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_fleet_has_every_kind_of_node() {
        let fleet = Fleet::default_fleet();
        let nodes = fleet.all_nodes();
        let version =
            |n: &NodeSpec| n.agent_version.parse::<ssm_protocol::handshake::Version>().unwrap();
        let basic: ssm_protocol::handshake::Version = "3.0.196.0".parse().unwrap();
        assert!(nodes.iter().any(|n| n.ping_status == "Online"
            && n.id.starts_with("i-")
            && version(n).is_newer_than(&basic)));
        assert!(nodes
            .iter()
            .any(|n| n.ping_status == "Online" && !version(n).is_newer_than(&basic)));
        assert!(nodes.iter().any(|n| n.ping_status == "ConnectionLost"));
        assert!(nodes.iter().any(|n| n.id.starts_with("mi-")));
        assert!(nodes.iter().all(|n| !n.name.is_empty() && !n.tags.is_empty()));
    }

    #[test]
    fn a_fleet_file_parses_with_defaults() {
        let fleet = Fleet::from_toml(
            r#"
            extra_nodes = 3
            [[credentials]]
            access_key_id = "AKIATEST"
            secret_access_key = "s"
            [[nodes]]
            id = "i-0123456789abcdef0"
            name = "a"
            tags = { env = "dev" }
            [faults.to_client]
            drop = 0.5
            "#,
        )
        .unwrap();
        assert_eq!(fleet.all_nodes().len(), 4);
        assert_eq!(fleet.nodes[0].agent_version, "3.3.1142.0");
        assert_eq!(fleet.faults.to_client.drop, 0.5);
    }

    #[test]
    fn the_readme_example_is_a_valid_fleet() {
        let readme = include_str!("../../../README.md");
        let section =
            &readme[readme.find("### Fleet file").expect("README has the fleet section")..];
        let start = section.find("```toml\n").unwrap() + "```toml\n".len();
        let example = &section[start..start + section[start..].find("```").unwrap()];
        let fleet = Fleet::from_toml(example).unwrap();
        assert_eq!(fleet.nodes[0].tags["team"], "data");
        assert_eq!(fleet.documents[0].name, "Team-Postgres");
        assert!(
            fleet.roles[0].require_mfa
                && fleet.mfa_devices[0].code == "123456"
                && fleet.sso_roles == ["Developer"]
        );
    }

    #[test]
    fn bad_fleets_say_what_is_wrong() {
        let cases = [
            ("[[nodes]]\nid = \"x-1\"\nname = \"a\"", "i- and 8 or 17"),
            ("[[nodes]]\nid = \"i-01234567\"\nname = \"a\"\nping_status = \"Up\"", "ping_status"),
            (
                "[[nodes]]\nid = \"i-01234567\"\nname = \"a\"\nagent_version = \"new\"",
                "agent_version",
            ),
            ("nodez = 1", "unknown field"),
            ("[faults.to_agent]\ndrop = 2.0", "between 0 and 1"),
            ("[[documents]]\nname = \"D\"\ncontent = \"{}\"", "sessionType"),
        ];
        for (text, needle) in cases {
            let error = Fleet::from_toml(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text:?} gave {error:?}, expected {needle:?}");
        }
    }

    proptest::proptest! {
        /// Any text as a fleet file is a fleet or an error that says what is wrong, never a panic.
        #[test]
        fn any_fleet_text_is_a_fleet_or_an_error(text in "\\PC{0,400}") {
            if let Err(error) = Fleet::from_toml(&text) {
                proptest::prop_assert!(!error.to_string().is_empty());
            }
        }

        /// The same for fleet files made of the real keys with random values.
        #[test]
        fn fleet_keys_with_any_values_parse_or_fail_cleanly(
            lines in proptest::collection::vec(
                (proptest::sample::select(vec!["[[nodes]]", "id", "name", "ping_status", "agent_version", "platform", "minute_seconds", "[preferences]", "idle_minutes", "kms_key_id", "[[credentials]]", "deny", "handler_ready_delay_ms"]),
                 proptest::sample::select(vec!["\"i-0123456789abcdef0\"", "\"Online\"", "-1", "1e308", "\"\"", "[]", "[\"ssm:*\"]", "0", "\"3.3.1142.0\"", "true"])),
                0..30),
        ) {
            let text: String = lines.iter().map(|(k, v)| if k.starts_with('[') { format!("{k}\n") } else { format!("{k} = {v}\n") }).collect();
            let _ = Fleet::from_toml(&text);
        }
    }
}
