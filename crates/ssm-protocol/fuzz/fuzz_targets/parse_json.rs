//! Fuzz target: the handshake, acknowledge, channel-closed and open-data-channel JSON parsers.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssm_protocol::fuzzing::parse_json_payloads(data));
