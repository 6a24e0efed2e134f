//! The contents of payloads and of the opening text frame: JSON documents with the field
//! names the plugin and agent use, plus the two small binary payloads (flag, exit code).
//!
//! This module owns their shapes only; when each is sent is decided by `channel` and
//! `handshake`. Unknown JSON fields are ignored and missing optional ones take their
//! defaults, so a newer peer never breaks a session by adding a field.
//!
//! Sources: plugin `src/message/clientmessage.go`, `src/message/handshakemessage.go`,
//! `src/service/service.go` (OpenDataChannelInput); agent
//! `agent/session/contracts/{model,handshake}.go`. See `shared/protocol.md` §2.3, §4.2, §5.2,
//! §5.7, §6.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::{MessageId, MessageType, SeqNum};

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayloadError {
    /// The JSON did not parse or lacked a required field.
    #[error("malformed {what} payload: {source}")]
    Json {
        /// Which payload.
        what: &'static str,
        /// The parser's explanation.
        #[source]
        source: serde_json::Error,
    },
    /// A binary payload had the wrong size or text.
    #[error("malformed {what} payload")]
    Malformed {
        /// Which payload.
        what: &'static str,
    },
}

fn from_json<'a, T: Deserialize<'a>>(
    what: &'static str,
    bytes: &'a [u8],
) -> Result<T, PayloadError> {
    serde_json::from_slice(bytes).map_err(|source| PayloadError::Json { what, source })
}

fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Invariant: every type serialised here is plain data with string keys, which
    // serde_json cannot fail to write.
    serde_json::to_vec(value).expect("payload types always serialise")
}

/// The first frame on a new or resumed WebSocket: a text frame that proves the right to join
/// the session with its token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OpenDataChannel {
    /// "1.0".
    pub message_schema_version: String,
    /// A fresh UUID for each open.
    pub request_id: String,
    /// The token from StartSession or ResumeSession.
    pub token_value: String,
    /// One id per client process, the same across reconnects. Optional on the wire: some
    /// clients leave it out and the service accepts that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client's version; drives the agent's feature gates (protocol.md §7.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_version: Option<String>,
}

impl OpenDataChannel {
    /// The JSON text sent as the WebSocket text frame.
    pub fn to_json(&self) -> String {
        // Invariant: a struct of strings always serialises, to valid UTF-8.
        serde_json::to_string(self).expect("strings always serialise")
    }

    /// Reads the first frame's text.
    pub fn from_json(text: &str) -> Result<Self, PayloadError> {
        from_json("open data channel", text.as_bytes())
    }
}

impl fmt::Debug for OpenDataChannel {
    // The token grants access to the session: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenDataChannel")
            .field("request_id", &self.request_id)
            .field("token_value", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("client_version", &self.client_version)
            .finish()
    }
}

/// The content of an `acknowledge` message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// The type of the message acknowledged.
    #[serde(rename = "AcknowledgedMessageType")]
    pub message_type: String,
    /// Its id, hyphenated.
    #[serde(rename = "AcknowledgedMessageId")]
    pub message_id: String,
    /// Its sequence number: the only field receivers match on.
    #[serde(rename = "AcknowledgedMessageSequenceNumber")]
    pub sequence_number: i64,
    /// Always true.
    #[serde(rename = "IsSequentialMessage", default = "yes")]
    pub is_sequential_message: bool,
}

fn yes() -> bool {
    true
}

impl Acknowledge {
    /// The acknowledgement of one received stream message.
    pub fn of(message_type: &MessageType, message_id: MessageId, sequence_number: SeqNum) -> Self {
        Acknowledge {
            message_type: message_type.as_str().to_owned(),
            message_id: message_id.to_string(),
            sequence_number: sequence_number.0,
            is_sequential_message: true,
        }
    }

    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("acknowledge", bytes)
    }
}

/// The content of `channel_closed`: the service ended the session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ChannelClosed {
    /// Id of this message.
    pub message_id: String,
    /// When, as text.
    pub created_date: String,
    /// The receiver's id.
    pub destination_id: String,
    /// The session that ended.
    pub session_id: String,
    /// "channel_closed".
    pub message_type: String,
    /// 1.
    pub schema_version: u32,
    /// Why, for the user; empty for a normal end.
    pub output: String,
}

impl ChannelClosed {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("channel closed", bytes)
    }
}

/// Agent → client: what the agent needs the client to do before data flows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeRequest {
    /// The agent's version, four numeric parts; decides mux and keep-alive (protocol.md §7.6).
    pub agent_version: String,
    /// The actions, SessionType first.
    #[serde(default)]
    pub requested_client_actions: Vec<RequestedClientAction>,
}

impl HandshakeRequest {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("handshake request", bytes)
    }
}

/// One action of a handshake request, as on the wire. Read it with [`RequestedClientAction::kind`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RequestedClientAction {
    /// `SessionType`, `KMSEncryption`, or a name this crate does not know.
    pub action_type: String,
    /// Parameters, shaped by the action type.
    #[serde(default)]
    pub action_parameters: serde_json::Value,
}

/// A requested action, typed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ClientAction {
    /// Which kind of session this is, with the document's resolved properties.
    SessionType(SessionTypeRequest),
    /// Set up KMS encryption of stream data.
    KmsEncryption(KmsEncryptionRequest),
    /// An action this client does not know; it must be answered Unsupported.
    Unknown(String),
}

impl RequestedClientAction {
    /// The name of the `SessionType` action.
    pub const SESSION_TYPE: &'static str = "SessionType";
    /// The name of the `KMSEncryption` action.
    pub const KMS_ENCRYPTION: &'static str = "KMSEncryption";

    /// Reads the parameters for the action's type.
    pub fn kind(&self) -> Result<ClientAction, PayloadError> {
        let parse = |what| move |source| PayloadError::Json { what, source };
        Ok(match self.action_type.as_str() {
            Self::SESSION_TYPE => ClientAction::SessionType(
                serde_json::from_value(self.action_parameters.clone())
                    .map_err(parse("SessionType action"))?,
            ),
            Self::KMS_ENCRYPTION => ClientAction::KmsEncryption(
                serde_json::from_value(self.action_parameters.clone())
                    .map_err(parse("KMSEncryption action"))?,
            ),
            other => ClientAction::Unknown(other.to_owned()),
        })
    }

    /// Wraps a typed session-type request.
    pub fn session_type(request: &SessionTypeRequest) -> Self {
        RequestedClientAction {
            action_type: Self::SESSION_TYPE.to_owned(),
            // Invariant: a struct of strings and a JSON value always converts.
            action_parameters: serde_json::to_value(request).expect("plain data"),
        }
    }

    /// Wraps a typed KMS request.
    pub fn kms_encryption(request: &KmsEncryptionRequest) -> Self {
        RequestedClientAction {
            action_type: Self::KMS_ENCRYPTION.to_owned(),
            // Invariant: a struct of strings always converts.
            action_parameters: serde_json::to_value(request).expect("plain data"),
        }
    }
}

/// Parameters of the `SessionType` action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionTypeRequest {
    /// `Standard_Stream`, `InteractiveCommands`, `NonInteractiveCommands` or `Port`.
    pub session_type: String,
    /// The document's properties after parameter substitution (all values strings); null for
    /// shell-type sessions.
    #[serde(default)]
    pub properties: serde_json::Value,
}

impl SessionTypeRequest {
    /// A string property such as `portNumber`, `localPortNumber`, `host` or `type`.
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties.get(name)?.as_str()
    }
}

/// Parameters of the `KMSEncryption` action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KmsEncryptionRequest {
    /// The key the client asks KMS for a data key under.
    #[serde(rename = "KMSKeyId")]
    pub kms_key_id: String,
    /// Base64 of 16 random bytes, from agents 3.3.808.0 on (protocol.md §8.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge: Option<String>,
}

/// Client → agent: the outcome of each requested action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HandshakeResponse {
    /// The client's version, four numeric parts.
    pub client_version: String,
    /// One entry per requested action, in order.
    #[serde(default)]
    pub processed_client_actions: Vec<ProcessedClientAction>,
    /// Session-level errors, if any.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub errors: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

impl HandshakeResponse {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("handshake response", bytes)
    }
}

/// The client's answer to one action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProcessedClientAction {
    /// Same as the request's.
    pub action_type: String,
    /// Success, Failed or Unsupported.
    pub action_status: ActionStatus,
    /// Action-specific result (KMS: the encrypted data key).
    #[serde(default)]
    pub action_result: serde_json::Value,
    /// Why it failed; empty on success.
    #[serde(default)]
    pub error: String,
}

/// How the client fared with an action (u32 on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionStatus {
    /// 1.
    Success,
    /// 2.
    Failed,
    /// 3.
    Unsupported,
    /// Any other number (the plugin writes 0 for unknown actions); the agent treats every
    /// status but Success as fatal.
    Other(u32),
}

impl Serialize for ActionStatus {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(match self {
            ActionStatus::Success => 0x1,
            ActionStatus::Failed => 0x2,
            ActionStatus::Unsupported => 0x3,
            ActionStatus::Other(n) => *n,
        })
    }
}

impl<'de> Deserialize<'de> for ActionStatus {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match u32::deserialize(d)? {
            0x1 => ActionStatus::Success,
            0x2 => ActionStatus::Failed,
            0x3 => ActionStatus::Unsupported,
            n => ActionStatus::Other(n),
        })
    }
}

/// Agent → client: the handshake is over and data may flow.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HandshakeComplete {
    /// How long the handshake took, in nanoseconds.
    pub handshake_time_to_complete: i64,
    /// Text to show the user (e.g. that the session is KMS-encrypted); may be empty.
    pub customer_message: String,
}

impl HandshakeComplete {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("handshake complete", bytes)
    }
}

/// The KMS challenge, both ways (payload types 8 and 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionChallenge {
    /// Base64 of the encrypted challenge bytes.
    pub challenge: String,
}

impl EncryptionChallenge {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("encryption challenge", bytes)
    }
}

/// Terminal size (payload type 3), client → agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalSize {
    /// Columns.
    pub cols: u32,
    /// Rows.
    pub rows: u32,
}

impl TerminalSize {
    /// JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        to_json(self)
    }

    /// Parses JSON bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        from_json("terminal size", bytes)
    }
}

/// A flag payload (payload type 10): a big-endian u32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PortFlag {
    /// 1, client → agent, basic port forwarding: the local connection closed.
    DisconnectToPort,
    /// 2, client → agent: end the session.
    TerminateSession,
    /// 3, agent → client, mux: the agent could not reach the destination port.
    ConnectToPortError,
    /// Any other value.
    Other(u32),
}

impl PortFlag {
    /// The four payload bytes.
    pub fn to_bytes(self) -> [u8; 4] {
        let n = match self {
            PortFlag::DisconnectToPort => 0x1,
            PortFlag::TerminateSession => 0x2,
            PortFlag::ConnectToPortError => 0x3,
            PortFlag::Other(n) => n,
        };
        u32::to_be_bytes(n)
    }

    /// Reads four payload bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        let raw: [u8; 4] =
            bytes.try_into().map_err(|_| PayloadError::Malformed { what: "flag" })?;
        Ok(match u32::from_be_bytes(raw) {
            0x1 => PortFlag::DisconnectToPort,
            0x2 => PortFlag::TerminateSession,
            0x3 => PortFlag::ConnectToPortError,
            n => PortFlag::Other(n),
        })
    }
}

/// The exit code of a command or shell (payload type 12): text `EXIT_CODE: <n>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitCode(pub i32);

impl ExitCode {
    const PREFIX: &'static str = "EXIT_CODE: ";

    /// The payload text.
    pub fn to_bytes(self) -> Vec<u8> {
        format!("{}{}", Self::PREFIX, self.0).into_bytes()
    }

    /// Reads the payload text.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PayloadError> {
        let malformed = PayloadError::Malformed { what: "exit code" };
        let text = std::str::from_utf8(bytes)
            .map_err(|_| PayloadError::Malformed { what: "exit code" })?;
        let number = text.trim().strip_prefix(Self::PREFIX.trim_end()).ok_or(malformed)?;
        number
            .trim()
            .parse()
            .map(ExitCode)
            .map_err(|_| PayloadError::Malformed { what: "exit code" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_response_accepts_null_errors_and_unknown_fields() {
        let text = br#"{"ClientVersion":"1.2.677.0","ProcessedClientActions":[{"ActionType":"SessionType","ActionStatus":1,"ActionResult":null,"Error":""}],"Errors":null,"NewField":{"x":1}}"#;
        let parsed = HandshakeResponse::from_bytes(text).expect("plugin's own shape");
        assert!(parsed.errors.is_empty(), "null Errors reads as none");
        assert_eq!(parsed.processed_client_actions[0].action_status, ActionStatus::Success);
    }

    #[test]
    fn plugin_quirk_status_zero_is_kept() {
        let text = br#"{"ActionType":"Frobnicate","ActionStatus":0,"ActionResult":3,"Error":""}"#;
        let parsed: ProcessedClientAction = serde_json::from_slice(text).expect("valid JSON");
        assert_eq!(parsed.action_status, ActionStatus::Other(0));
    }

    #[test]
    fn session_type_action_reads_properties() {
        let request = HandshakeRequest::from_bytes(
            br#"{"AgentVersion":"3.3.987.0","RequestedClientActions":[{"ActionType":"SessionType","ActionParameters":{"SessionType":"Port","Properties":{"portNumber":"22","type":"LocalPortForwarding","localPortNumber":"0"}}},{"ActionType":"Teleport","ActionParameters":{}}]}"#,
        )
        .expect("agent's shape");
        let ClientAction::SessionType(session) =
            request.requested_client_actions[0].kind().expect("typed")
        else {
            panic!("first action is SessionType");
        };
        assert_eq!(session.session_type, "Port");
        assert_eq!(session.property("portNumber"), Some("22"));
        assert_eq!(
            request.requested_client_actions[1].kind().expect("unknown actions still parse"),
            ClientAction::Unknown("Teleport".into())
        );
    }

    #[test]
    fn flags_and_exit_codes() {
        assert_eq!(PortFlag::TerminateSession.to_bytes(), [0, 0, 0, 2], "protocol.md §3.3");
        assert_eq!(PortFlag::from_bytes(&[0, 0, 0, 3]).ok(), Some(PortFlag::ConnectToPortError));
        assert!(PortFlag::from_bytes(&[0, 0, 3]).is_err(), "a flag is exactly four bytes");
        assert_eq!(ExitCode(-3).to_bytes(), b"EXIT_CODE: -3");
        assert_eq!(ExitCode::from_bytes(b"EXIT_CODE: 127").ok(), Some(ExitCode(127)));
        assert!(ExitCode::from_bytes(b"EXIT: 1").is_err());
    }

    #[test]
    fn open_data_channel_debug_hides_the_token() {
        let open = OpenDataChannel {
            message_schema_version: "1.0".into(),
            request_id: "r".into(),
            token_value: "s3cr3t-token".into(),
            client_id: None,
            client_version: Some("1.2.764.0".into()),
        };
        assert!(!format!("{open:?}").contains("s3cr3t"), "tokens never reach logs");
        let text = open.to_json();
        assert!(!text.contains("ClientId"), "an absent ClientId is left out, not null");
        assert_eq!(OpenDataChannel::from_json(&text).ok(), Some(open));
    }
}
