//! Fuzz target: see `ssm_protocol::fuzzing::smux_session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssm_protocol::fuzzing::smux_session(data));
