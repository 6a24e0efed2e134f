//! The session handshake, both sides: what the agent asks (session type, KMS), how the client
//! answers each action, and the version gates that decide how a port session is carried.
//!
//! This module owns those decisions as pure functions and a small agent-side state with its
//! 15 s deadline. It does not send anything: the caller puts the payloads it returns in stream
//! messages through `channel`.
//!
//! Sources: plugin `src/datachannel/streaming.go` (`handleHandshakeRequest`,
//! `ProcessSessionTypeHandshakeAction`), `src/version/versionvalidator.go`,
//! `src/sessionmanagerplugin/session/portsession/portsession.go`; agent
//! `agent/session/datachannel/datachannel.go` (`PerformHandshake`),
//! `agent/session/plugins/port/port.go`. See `shared/protocol.md` §4 and §7.6.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::payload::{
    ActionStatus, ClientAction, HandshakeComplete, HandshakeRequest, HandshakeResponse,
    KmsEncryptionRequest, ProcessedClientAction, RequestedClientAction, SessionTypeRequest,
};

/// A dotted version such as `3.3.987.0`, compared part by part.
///
/// Comparisons follow the plugin's validator: two versions compare only when both have the same
/// number of parts; otherwise neither is greater (so a feature gate is not met).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(Vec<u64>);

impl Version {
    /// Builds a version from its parts.
    pub fn new(parts: &[u64]) -> Self {
        Version(parts.to_vec())
    }

    /// Whether this is strictly greater than `other` (false when they cannot be compared).
    pub fn is_newer_than(&self, other: &Version) -> bool {
        self.compare(other) == Some(Ordering::Greater)
    }

    /// Whether this is greater than or equal to `other` (false when they cannot be compared).
    pub fn is_at_least(&self, other: &Version) -> bool {
        matches!(self.compare(other), Some(Ordering::Greater | Ordering::Equal))
    }

    fn compare(&self, other: &Version) -> Option<Ordering> {
        (self.0.len() == other.0.len()).then(|| self.0.cmp(&other.0))
    }
}

impl FromStr for Version {
    type Err = HandshakeError;

    fn from_str(text: &str) -> Result<Self, HandshakeError> {
        let parts: Option<Vec<u64>> = text.trim().split('.').map(|p| p.parse().ok()).collect();
        match parts {
            Some(parts) if !parts.is_empty() => Ok(Version(parts)),
            _ => Err(HandshakeError::BadVersion { text: text.chars().take(40).collect() }),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

/// Agent versions at which the client changes behaviour (protocol.md §7.6).
pub mod gates {
    use super::Version;

    /// Agents newer than this accept the TerminateSession flag in basic port sessions.
    pub fn agent_terminate_flag() -> Version {
        Version::new(&[2, 3, 722, 0])
    }
    /// Agents newer than this multiplex port sessions with smux.
    pub fn agent_mux() -> Version {
        Version::new(&[3, 0, 196, 0])
    }
    /// Agents newer than this run smux without keep-alive.
    pub fn agent_no_keep_alive() -> Version {
        Version::new(&[3, 1, 1511, 0])
    }
    /// Clients at or above this get smux from the agent.
    pub fn client_mux() -> Version {
        Version::new(&[1, 1, 70, 0])
    }
    /// Clients newer than this get smux without keep-alive from the agent.
    pub fn client_no_keep_alive() -> Version {
        Version::new(&[1, 2, 331, 0])
    }
    /// Agents at or above this offer the KMS random challenge (`Challenge` in the
    /// KMSEncryption action) and honour `ChallengeAcknowledgement` (agent RELEASENOTES,
    /// 3.3.808.0 "Add enhancements related to KMS sessions").
    pub fn agent_kms_challenge() -> Version {
        Version::new(&[3, 3, 808, 0])
    }
}

/// The version Airlock reports: the lowest plugin version AWS documents as supported, which
/// meets every gate above (protocol.md §13).
pub const CLIENT_VERSION: &str = "1.2.764.0";

/// How a session's bytes are carried, as both ends derive it from the handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionKind {
    /// A terminal: Standard_Stream or InteractiveCommands.
    Shell,
    /// A command whose output and exit code come back (NonInteractiveCommands).
    Command,
    /// Port forwarding.
    Port(PortSession),
}

/// Port forwarding details.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSession {
    /// How connections are carried.
    pub mode: PortMode,
    /// The destination port on the node (or remote host).
    pub port_number: Option<String>,
    /// The remote host, for the to-remote-host document.
    pub host: Option<String>,
    /// The local port the document asks for ("0" or absent: any).
    pub local_port_number: Option<String>,
    /// Whether this end may end the session with the TerminateSession flag.
    pub terminate_flag: bool,
}

/// How a port session carries its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMode {
    /// smux streams over the channel, many connections at once.
    Mux {
        /// Whether smux keep-alive (NOP every 10 s, 30 s timeout) is on.
        keep_alive: bool,
    },
    /// One connection at a time; DisconnectToPort ends it.
    Basic,
    /// The channel is one byte stream (AWS-StartSSHSession: no `type` property).
    Stdio,
}

/// The `type` property that marks TCP port forwarding.
pub const LOCAL_PORT_FORWARDING: &str = "LocalPortForwarding";

/// What the client can do about a KMS action.
#[derive(Debug, Clone, PartialEq)]
pub enum KmsAnswer {
    /// The data key was generated; its ciphertext goes back to the agent.
    Generated {
        /// Base64 of KMS's CiphertextBlob.
        ciphertext_key_b64: String,
        /// Whether the random-challenge context was used (protocol.md §8.4).
        challenge_acknowledged: bool,
    },
    /// It could not be done; the reason goes back to the agent and the session fails there.
    Failed(String),
}

/// The client's reading of a handshake request: the response to send and what kind of session
/// follows.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientHandshake {
    /// Send this as a HandshakeResponse (payload type 6).
    pub response: HandshakeResponse,
    /// What the session is, when a SessionType action was understood.
    pub kind: Option<SessionKind>,
    /// The KMS request, if the agent asked for encryption.
    pub kms: Option<KmsEncryptionRequest>,
    /// The agent's version as reported.
    pub agent_version: Option<Version>,
}

/// Answers a handshake request as a client. Every action gets an entry: a session type this
/// client cannot run is Failed with the reason, KMS is answered by `kms` (called only when the
/// agent asks for it), and an action it does not know is Unsupported.
pub fn answer_request(
    request: &HandshakeRequest,
    client_version: &str,
    mut kms: impl FnMut(&KmsEncryptionRequest) -> KmsAnswer,
) -> ClientHandshake {
    let agent_version = request.agent_version.parse::<Version>().ok();
    let mut kind = None;
    let mut kms_request = None;
    let processed = request
        .requested_client_actions
        .iter()
        .map(|action| {
            let (status, result, error) = match action.kind() {
                Ok(ClientAction::SessionType(session)) => match session_kind(&session, agent_version.as_ref()) {
                    Ok(k) => {
                        kind = Some(k);
                        (ActionStatus::Success, serde_json::Value::Null, String::new())
                    }
                    Err(reason) => (ActionStatus::Failed, serde_json::Value::Null, reason),
                },
                Ok(ClientAction::KmsEncryption(request)) => {
                    let answer = kms(&request);
                    kms_request = Some(request);
                    match answer {
                        KmsAnswer::Generated {
                            ciphertext_key_b64,
                            challenge_acknowledged,
                        } => {
                            let mut result = serde_json::json!({"KMSCipherTextKey": ciphertext_key_b64, "KMSCipherTextHash": null});
                            // Only where the random-challenge context was used: the plugin's
                            // answer has no such field, and older agents expect its shape.
                            if challenge_acknowledged {
                                result["ChallengeAcknowledgement"] = serde_json::Value::Bool(true);
                            }
                            (ActionStatus::Success, result, String::new())
                        }
                        KmsAnswer::Failed(reason) => (ActionStatus::Failed, serde_json::Value::Null, reason),
                    }
                }
                Ok(ClientAction::Unknown(name)) => (
                    ActionStatus::Unsupported,
                    serde_json::Value::Null,
                    format!("{name} is not supported by this client"),
                ),
                Err(e) => (ActionStatus::Failed, serde_json::Value::Null, e.to_string()),
            };
            ProcessedClientAction {
                action_type: action.action_type.clone(),
                action_status: status,
                action_result: result,
                error,
            }
        })
        .collect();
    ClientHandshake {
        response: HandshakeResponse {
            client_version: client_version.to_owned(),
            processed_client_actions: processed,
            errors: Vec::new(),
        },
        kind,
        kms: kms_request,
        agent_version,
    }
}

/// The session kind a client derives from the SessionType action and the agent's version.
pub fn session_kind(
    session: &SessionTypeRequest,
    agent_version: Option<&Version>,
) -> Result<SessionKind, String> {
    match session.session_type.as_str() {
        "Standard_Stream" | "InteractiveCommands" => Ok(SessionKind::Shell),
        "NonInteractiveCommands" => Ok(SessionKind::Command),
        "Port" => {
            let newer = |gate: Version| agent_version.is_some_and(|v| v.is_newer_than(&gate));
            let mode = if session.property("type") != Some(LOCAL_PORT_FORWARDING) {
                PortMode::Stdio
            } else if newer(gates::agent_mux()) {
                PortMode::Mux { keep_alive: !newer(gates::agent_no_keep_alive()) }
            } else {
                PortMode::Basic
            };
            if session.property("localConnectionType") == Some("unix") {
                return Err(
                    "local Unix-socket forwarding is not supported by this client".to_owned()
                );
            }
            Ok(SessionKind::Port(PortSession {
                mode,
                port_number: session.property("portNumber").map(str::to_owned),
                host: session.property("host").map(str::to_owned),
                local_port_number: session.property("localPortNumber").map(str::to_owned),
                terminate_flag: newer(gates::agent_terminate_flag()),
            }))
        }
        other => Err(format!("session type {other} is not supported by this client")),
    }
}

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The client did not answer in time.
    #[error("Handshake timed out. Please ensure that you have the latest version of the session manager plugin.")]
    TimedOut,
    /// The client could not perform an action.
    #[error("the client could not perform {action}: {reason}")]
    ActionFailed {
        /// Which action.
        action: String,
        /// What the client said.
        reason: String,
    },
    /// The response does not answer the request.
    #[error("the handshake response is malformed: {what}")]
    Malformed {
        /// What was wrong.
        what: &'static str,
    },
    /// A version string is not dotted numbers.
    #[error("'{text}' is not a version number")]
    BadVersion {
        /// The start of the text.
        text: String,
    },
}

/// What the agent learned from a successful handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNegotiated {
    /// The client's version (None when it sent something unparsable).
    pub client_version: Option<Version>,
    /// For port sessions: whether the agent multiplexes (client at or above 1.1.70).
    pub mux: bool,
    /// For mux sessions: whether smux keep-alive stays on (client at or below 1.2.331.0).
    pub keep_alive: bool,
    /// Whether the client acknowledged the KMS random challenge.
    pub challenge_acknowledged: bool,
    /// The KMS `CiphertextBlob` the client sent, when the agent asked for encryption: what the
    /// agent decrypts (with the encryption context) to get the data key.
    pub kms_ciphertext: Option<Vec<u8>>,
}

/// The agent's side: the request it sent, waiting for the response within 15 s.
#[derive(Debug, Clone)]
pub struct AgentHandshake {
    request: HandshakeRequest,
    started: Instant,
    timeout: Duration,
}

impl AgentHandshake {
    /// The agent's wait for a response: 15 s.
    pub const TIMEOUT: Duration = Duration::from_secs(15);

    /// Builds the request (SessionType first, then KMS when asked) at `now`.
    pub fn new(
        now: Instant,
        agent_version: &str,
        session: &SessionTypeRequest,
        kms: Option<&KmsEncryptionRequest>,
    ) -> Self {
        let mut actions = vec![RequestedClientAction::session_type(session)];
        actions.extend(kms.map(RequestedClientAction::kms_encryption));
        AgentHandshake {
            request: HandshakeRequest {
                agent_version: agent_version.to_owned(),
                requested_client_actions: actions,
            },
            started: now,
            timeout: Self::TIMEOUT,
        }
    }

    /// The request to send (payload type 5).
    pub fn request(&self) -> &HandshakeRequest {
        &self.request
    }

    /// When the response is overdue.
    pub fn deadline(&self) -> Instant {
        self.started + self.timeout
    }

    /// Fails if `now` is past the deadline.
    pub fn check_deadline(&self, now: Instant) -> Result<(), HandshakeError> {
        if now >= self.deadline() {
            Err(HandshakeError::TimedOut)
        } else {
            Ok(())
        }
    }

    /// Checks the client's response: one entry per action, every one a success, as the agent
    /// requires; returns the negotiated features and the completion message to send.
    pub fn handle_response(
        &self,
        now: Instant,
        response: &HandshakeResponse,
        customer_message: &str,
    ) -> Result<(AgentNegotiated, HandshakeComplete), HandshakeError> {
        for requested in &self.request.requested_client_actions {
            let answered = response
                .processed_client_actions
                .iter()
                .find(|p| p.action_type == requested.action_type)
                .ok_or(HandshakeError::Malformed { what: "a requested action has no answer" })?;
            if answered.action_status != ActionStatus::Success {
                return Err(HandshakeError::ActionFailed {
                    action: requested.action_type.clone(),
                    reason: if answered.error.is_empty() {
                        format!("status {:?}", answered.action_status)
                    } else {
                        answered.error.clone()
                    },
                });
            }
        }
        let client_version = response.client_version.parse::<Version>().ok();
        let at_least =
            |gate: Version| client_version.as_ref().is_some_and(|v| v.is_at_least(&gate));
        let newer = |gate: Version| client_version.as_ref().is_some_and(|v| v.is_newer_than(&gate));
        let kms_result = response
            .processed_client_actions
            .iter()
            .find(|p| p.action_type == RequestedClientAction::KMS_ENCRYPTION)
            .map(|p| &p.action_result);
        let challenge_acknowledged = kms_result.is_some_and(|r| {
            r.get("ChallengeAcknowledgement") == Some(&serde_json::Value::Bool(true))
        });
        let kms_requested = self
            .request
            .requested_client_actions
            .iter()
            .any(|a| a.action_type == RequestedClientAction::KMS_ENCRYPTION);
        let kms_ciphertext = match kms_result.filter(|_| kms_requested) {
            None => None,
            Some(result) => {
                use base64::Engine as _;
                let text = result
                    .get("KMSCipherTextKey")
                    .and_then(serde_json::Value::as_str)
                    .ok_or(HandshakeError::Malformed {
                        what: "the KMS answer has no KMSCipherTextKey",
                    })?;
                let blob =
                    base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| {
                        HandshakeError::Malformed { what: "KMSCipherTextKey is not base64" }
                    })?;
                Some(blob)
            }
        };
        let elapsed = now.saturating_duration_since(self.started);
        Ok((
            AgentNegotiated {
                mux: at_least(gates::client_mux()),
                keep_alive: !newer(gates::client_no_keep_alive()),
                client_version,
                challenge_acknowledged,
                kms_ciphertext,
            },
            HandshakeComplete {
                handshake_time_to_complete: i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX),
                customer_message: customer_message.to_owned(),
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_request(agent: &str, properties: serde_json::Value) -> HandshakeRequest {
        HandshakeRequest {
            agent_version: agent.into(),
            requested_client_actions: vec![RequestedClientAction::session_type(
                &SessionTypeRequest { session_type: "Port".into(), properties },
            )],
        }
    }

    fn no_kms(_: &KmsEncryptionRequest) -> KmsAnswer {
        panic!("no KMS action was requested")
    }

    #[test]
    fn versions_compare_only_with_equal_part_counts() {
        let v = |s: &str| s.parse::<Version>().expect("valid");
        assert!(v("3.0.196.1").is_newer_than(&v("3.0.196.0")));
        assert!(!v("3.0.196.0").is_newer_than(&v("3.0.196.0")), "equal is not newer");
        assert!(v("3.0.196.0").is_at_least(&v("3.0.196.0")));
        assert!(
            !v("4.0").is_newer_than(&v("3.0.196.0")),
            "different part counts never pass a gate"
        );
        assert!(
            v("3.10.1.0").is_newer_than(&v("3.9.99.0")),
            "parts compare numerically, not as text"
        );
        assert!("3.x.1.0".parse::<Version>().is_err());
    }

    #[test]
    fn port_mode_follows_the_agent_version_gates() {
        let props = serde_json::json!({"portNumber":"80","type":"LocalPortForwarding","localPortNumber":"0"});
        let mode = |agent: &str| match answer_request(
            &port_request(agent, props.clone()),
            CLIENT_VERSION,
            no_kms,
        )
        .kind
        {
            Some(SessionKind::Port(p)) => p.mode,
            other => panic!("a Port action gives a port session, got {other:?}"),
        };
        assert_eq!(
            mode("3.0.196.0"),
            PortMode::Basic,
            "3.0.196.0 itself is not newer than the gate"
        );
        assert_eq!(mode("3.0.196.1"), PortMode::Mux { keep_alive: true });
        assert_eq!(mode("3.1.1511.0"), PortMode::Mux { keep_alive: true });
        assert_eq!(mode("3.3.987.0"), PortMode::Mux { keep_alive: false });
        assert_eq!(
            mode("garbage"),
            PortMode::Basic,
            "an unreadable agent version gets the oldest behaviour"
        );
        let ssh = answer_request(
            &port_request("3.3.987.0", serde_json::json!({"portNumber":"22"})),
            CLIENT_VERSION,
            no_kms,
        );
        assert!(
            matches!(ssh.kind, Some(SessionKind::Port(PortSession { mode: PortMode::Stdio, .. }))),
            "no type property means a stdio stream (AWS-StartSSHSession)"
        );
    }

    #[test]
    fn every_action_is_answered() {
        let mut request = port_request(
            "3.3.987.0",
            serde_json::json!({"type":"LocalPortForwarding","portNumber":"5432"}),
        );
        request.requested_client_actions.push(RequestedClientAction::kms_encryption(
            &KmsEncryptionRequest { kms_key_id: "alias/k".into(), challenge: None },
        ));
        request.requested_client_actions.push(RequestedClientAction {
            action_type: "Teleport".into(),
            action_parameters: serde_json::Value::Null,
        });
        let answer =
            answer_request(&request, CLIENT_VERSION, |_| KmsAnswer::Failed("no KMS access".into()));
        let statuses: Vec<_> = answer
            .response
            .processed_client_actions
            .iter()
            .map(|p| (p.action_type.as_str(), p.action_status))
            .collect();
        assert_eq!(
            statuses,
            vec![
                ("SessionType", ActionStatus::Success),
                ("KMSEncryption", ActionStatus::Failed),
                ("Teleport", ActionStatus::Unsupported)
            ],
            "one answer per action, in order, none ignored"
        );
        assert_eq!(answer.response.processed_client_actions[1].error, "no KMS access");
    }

    #[test]
    fn agent_accepts_success_and_rejects_failure_and_lateness() {
        let t0 = Instant::now();
        let session = SessionTypeRequest {
            session_type: "Port".into(),
            properties: serde_json::json!({"type":"LocalPortForwarding","portNumber":"80"}),
        };
        let agent = AgentHandshake::new(t0, "3.3.987.0", &session, None);
        let client = answer_request(agent.request(), "1.2.331.0", no_kms);
        let (negotiated, complete) = agent
            .handle_response(t0 + Duration::from_millis(5), &client.response, "")
            .expect("all actions succeeded");
        assert!(negotiated.mux, "1.2.331.0 is above the 1.1.70 mux gate");
        assert!(negotiated.keep_alive, "1.2.331.0 is not above the keep-alive gate");
        assert_eq!(complete.handshake_time_to_complete, 5_000_000);

        let mut failed = client.response.clone();
        failed.processed_client_actions[0].action_status = ActionStatus::Other(0);
        assert!(matches!(
            agent.handle_response(t0, &failed, ""),
            Err(HandshakeError::ActionFailed { .. })
        ));
        assert_eq!(
            agent.check_deadline(t0 + Duration::from_secs(15)),
            Err(HandshakeError::TimedOut)
        );
        assert_eq!(agent.check_deadline(t0 + Duration::from_millis(14_999)), Ok(()));
    }
}
