//! What Airlock may have to ask the user while it resolves credentials, as data: the CLI
//! answers on the terminal, the desktop app in a dialog, tests with a script. Nothing here
//! does I/O.

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

/// A question for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[ts(rename = "CredentialPrompt")]
pub enum Prompt {
    /// The current code of an MFA device (six digits).
    #[serde(rename_all = "camelCase")]
    MfaCode {
        /// The profile that needs it.
        profile: String,
        /// The device (`mfa_serial`).
        serial: String,
    },
    /// An IAM Identity Center login to approve in the browser; the answer is only an
    /// acknowledgement (Airlock polls for the approval itself).
    #[serde(rename_all = "camelCase")]
    SsoLogin {
        /// The profile that needs it.
        profile: String,
        /// The portal (`sso_start_url`).
        start_url: String,
        /// The page to open, with the code filled in.
        verification_uri: String,
        /// The code the page shows, for the user to compare.
        user_code: String,
    },
}

/// The user did not answer (cancelled the dialog, closed stdin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the user did not answer")]
pub struct Declined;

/// The answer to a prompt, in time.
pub type Answer = Pin<Box<dyn Future<Output = Result<String, Declined>> + Send>>;

/// Whoever can answer prompts.
pub trait Prompter: Send + Sync + std::fmt::Debug {
    /// Asks; the future resolves with the answer.
    fn ask(&self, prompt: Prompt) -> Answer;
}

/// Whether an MFA code is well-formed (six digits); the UI checks before it sends.
pub fn valid_mfa_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}
