//! Byte-exact agreement with the official implementation: every message in
//! `tests/data/client-messages.json` (encoded by the plugin's own code, copied from
//! `shared/vectors/`) must encode to exactly its bytes and decode back to its fields.

use std::path::PathBuf;

use serde::Deserialize;
use ssm_protocol::codec::{ClientMessage, Flags, MessageId, MessageType, PayloadType, SeqNum};
use ssm_protocol::payload::{
    Acknowledge, HandshakeComplete, HandshakeRequest, HandshakeResponse, PortFlag, TerminalSize,
};

#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    message_type: String,
    schema_version: u32,
    created_date_ms: u64,
    sequence_number: i64,
    flags: u64,
    message_id: String,
    payload_type: u32,
    payload_hex: String,
    encoded_hex: String,
}

/// The crate's folder, as cargo says when it runs the test (a target directory shared between
/// two checkouts may hold a binary built in the other one, with the other's path compiled in).
fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

fn data_dir() -> PathBuf {
    crate_dir().join("tests/data")
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(data_dir().join("client-messages.json"))
        .expect("the vector file is part of the crate");
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("the vector file is valid JSON");
    assert!(vectors.len() >= 8, "the official file holds at least eight vectors");
    vectors
}

fn message_of(v: &Vector) -> ClientMessage {
    ClientMessage {
        message_type: MessageType::from_name(&v.message_type)
            .expect("vector types are valid names"),
        schema_version: v.schema_version,
        created_date: v.created_date_ms,
        sequence_number: SeqNum(v.sequence_number),
        flags: Flags(v.flags),
        message_id: MessageId::parse(&v.message_id).expect("vector ids are hyphenated UUIDs"),
        payload_type: PayloadType::from_u32(v.payload_type),
        payload: hex::decode(&v.payload_hex).expect("payload_hex is hex"),
    }
}

#[test]
fn every_vector_encodes_to_its_exact_bytes() {
    for v in vectors() {
        let encoded = message_of(&v).encode().expect("vector payloads are small");
        assert_eq!(
            hex::encode(&encoded),
            v.encoded_hex,
            "vector {} must encode byte for byte as the plugin does",
            v.name
        );
    }
}

#[test]
fn every_vector_decodes_to_its_fields() {
    for v in vectors() {
        let bytes = hex::decode(&v.encoded_hex).expect("encoded_hex is hex");
        let decoded = ClientMessage::decode(&bytes)
            .unwrap_or_else(|e| panic!("vector {} must decode: {e}", v.name));
        assert_eq!(
            decoded,
            message_of(&v),
            "vector {} decodes to the fields listed beside it",
            v.name
        );
        assert_eq!(
            decoded.message_id.to_string(),
            v.message_id,
            "vector {}: id text survives",
            v.name
        );
    }
}

#[test]
fn every_vector_payload_parses_as_its_type() {
    for v in vectors() {
        let m = message_of(&v);
        let parsed = match (&m.message_type, m.payload_type) {
            (MessageType::Acknowledge, _) => {
                Acknowledge::from_bytes(&m.payload).map(|a| format!("{a:?}"))
            }
            (_, PayloadType::Size) => {
                TerminalSize::from_bytes(&m.payload).map(|s| format!("{s:?}"))
            }
            (_, PayloadType::HandshakeRequest) => {
                HandshakeRequest::from_bytes(&m.payload).map(|r| format!("{r:?}"))
            }
            (_, PayloadType::HandshakeResponse) => {
                HandshakeResponse::from_bytes(&m.payload).map(|r| format!("{r:?}"))
            }
            (_, PayloadType::HandshakeComplete) => {
                HandshakeComplete::from_bytes(&m.payload).map(|r| format!("{r:?}"))
            }
            (_, PayloadType::Flag) => PortFlag::from_bytes(&m.payload).map(|f| format!("{f:?}")),
            _ => Ok(String::new()),
        };
        assert!(parsed.is_ok(), "vector {}: payload must parse as its type: {parsed:?}", v.name);
    }
}

#[test]
fn every_vector_survives_one_flipped_byte_without_panic() {
    // Not only valid input: each single-byte corruption must give an error or a message,
    // never a panic, and a corrupted payload byte must be caught by the digest.
    for v in vectors() {
        let bytes = hex::decode(&v.encoded_hex).expect("encoded_hex is hex");
        for i in 0..bytes.len() {
            let mut corrupt = bytes.clone();
            corrupt[i] ^= 0x5a;
            let result = ClientMessage::decode(&corrupt);
            if i >= 120 {
                assert!(
                    result.is_err(),
                    "vector {}: a flipped payload byte {i} must fail the digest",
                    v.name
                );
            }
        }
    }
}

/// The crate's copy must equal `shared/vectors` whenever that folder is beside the checkout,
/// so a change to the official vectors cannot be missed.
#[test]
fn the_copy_matches_shared_vectors_when_present() {
    let shared = crate_dir().join("../../../shared/vectors/client-messages.json");
    let Ok(official) = std::fs::read(&shared) else {
        eprintln!("shared/vectors not beside this checkout; comparing nothing");
        return;
    };
    let copy = std::fs::read(data_dir().join("client-messages.json"))
        .expect("the copy is part of the crate");
    assert!(
        official == copy,
        "tests/data/client-messages.json differs from {}: copy the new file in",
        shared.display()
    );
}
