//! Fuzz target: see `ssm_protocol::fuzzing::channel_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ssm_protocol::fuzzing::channel_frames(data));
