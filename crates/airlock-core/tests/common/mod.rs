//! What the engine's integration tests share: reaching an emulator the way the demo fleet is
//! reached (its endpoint, its key pair, trusting only its certificate authority, over TLS).

#![allow(dead_code)] // each test file uses a part

use std::sync::Arc;

use airlock_core::aws::{Aws, AwsError, DirectEndpoint};
use airlock_core::aws_profiles::ProfileFiles;
use airlock_core::credentials::Prompter;
use ssm_emulator::RunningEmulator;

/// The emulator as a far side: HTTPS and wss:// under its own authority.
pub fn far_side(emulator: &RunningEmulator) -> DirectEndpoint {
    let key = emulator.credentials();
    DirectEndpoint::new(
        emulator.endpoint_url(),
        emulator.region(),
        (&key.access_key_id, &key.secret_access_key),
        emulator.ca_pem(),
    )
}

/// Clients for `profile` of `files`, resolved by Airlock's resolver against the emulator.
pub fn with_profile(
    emulator: &RunningEmulator,
    profile: &str,
    files: ProfileFiles,
    prompter: Arc<dyn Prompter>,
    ssm_endpoint: Option<String>,
) -> Result<Aws, AwsError> {
    let (base, network) = far_side(emulator).sdk_config()?;
    Aws::with_profile(&base, network, profile, files, prompter, ssm_endpoint)
}
