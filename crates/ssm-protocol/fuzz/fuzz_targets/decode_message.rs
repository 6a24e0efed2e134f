//! Fuzz target: the binary message decoder never panics, and what decodes re-encodes losslessly.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssm_protocol::fuzzing::decode_message(data));
