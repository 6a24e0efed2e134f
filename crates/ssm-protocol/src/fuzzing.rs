//! Bodies of the fuzz targets in `fuzz/`, kept here so that the property tests run the very
//! same checks on every `cargo test` and the fuzz crate stays a thin shell.
//!
//! Not part of the API: hidden from the docs and free to change.

use crate::codec::ClientMessage;
use crate::payload::{
    Acknowledge, ChannelClosed, HandshakeComplete, HandshakeRequest, HandshakeResponse, OpenDataChannel,
};

/// Decoding arbitrary bytes never panics; whatever decodes re-encodes to bytes that decode to
/// the same message (decode ∘ encode is the identity on decoded messages).
pub fn decode_message(data: &[u8]) {
    if let Ok(message) = ClientMessage::decode(data) {
        // Invariant: a decoded payload is at most the frame's length, so it fits in 32 bits
        // whenever the frame came from a u32 length field.
        let encoded = message.encode().expect("a decoded payload always fits");
        let again = ClientMessage::decode(&encoded).expect("what we encode always decodes");
        assert_eq!(again, message, "re-encoding changed the message");
    }
}

/// The JSON parsers of handshake and acknowledgement payloads never panic, and what parses
/// serialises and parses back to the same value.
pub fn parse_json_payloads(data: &[u8]) {
    if let Ok(ack) = Acknowledge::from_bytes(data) {
        assert_eq!(Acknowledge::from_bytes(&ack.to_bytes()).ok(), Some(ack));
    }
    if let Ok(request) = HandshakeRequest::from_bytes(data) {
        for action in &request.requested_client_actions {
            let _ = action.kind();
        }
        let _ = crate::handshake::answer_request(&request, crate::handshake::CLIENT_VERSION, |_| {
            crate::handshake::KmsAnswer::Failed("fuzzing".into())
        });
        assert_eq!(HandshakeRequest::from_bytes(&request.to_bytes()).ok(), Some(request));
    }
    if let Ok(response) = HandshakeResponse::from_bytes(data) {
        assert_eq!(HandshakeResponse::from_bytes(&response.to_bytes()).ok(), Some(response));
    }
    if let Ok(complete) = HandshakeComplete::from_bytes(data) {
        assert_eq!(HandshakeComplete::from_bytes(&complete.to_bytes()).ok(), Some(complete));
    }
    if let Ok(closed) = ChannelClosed::from_bytes(data) {
        assert_eq!(ChannelClosed::from_bytes(&closed.to_bytes()).ok(), Some(closed));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(open) = OpenDataChannel::from_json(text) {
            assert_eq!(OpenDataChannel::from_json(&open.to_json()).ok(), Some(open));
        }
    }
}
