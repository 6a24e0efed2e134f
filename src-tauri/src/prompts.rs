//! Credential prompts from airlock-core (an MFA code, an SSO login to approve), shown by the
//! UI: each prompt goes to the window over the channel the UI registered with `watch_prompts`
//! and its answer comes back through `answer_prompt`. With no window listening, prompts are
//! declined, and the operation fails with an error that says what was needed.

use std::collections::HashMap;
use std::sync::Mutex;

use airlock_core::credentials::{Answer, Declined, Prompt, Prompter};
use serde::Serialize;
use tauri::ipc::Channel;
use tokio::sync::oneshot;

/// A prompt as the UI receives it.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct PromptEvent {
    pub id: u64,
    pub prompt: Prompt,
}

#[derive(Default)]
struct Inner {
    channel: Option<Channel<PromptEvent>>,
    pending: HashMap<u64, oneshot::Sender<Option<String>>>,
    next: u64,
}

/// Prompts waiting for the user.
#[derive(Default)]
pub struct UiPrompter {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for UiPrompter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiPrompter").finish_non_exhaustive()
    }
}

impl UiPrompter {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The window's channel for prompts (a new window replaces the old one's).
    pub fn watch(&self, channel: Channel<PromptEvent>) {
        self.lock().channel = Some(channel);
    }

    /// The user's answer to prompt `id` (`None`: cancelled); whether it was still waiting.
    pub fn answer(&self, id: u64, answer: Option<String>) -> bool {
        match self.lock().pending.remove(&id) {
            Some(waiting) => waiting.send(answer).is_ok(),
            None => false,
        }
    }

    /// Registers a prompt; returns its id and where its answer will arrive.
    fn register(&self, prompt: Prompt) -> Option<oneshot::Receiver<Option<String>>> {
        let mut inner = self.lock();
        let channel = inner.channel.clone()?;
        inner.next += 1;
        let id = inner.next;
        let (tx, rx) = oneshot::channel();
        inner.pending.insert(id, tx);
        drop(inner);
        if channel.send(PromptEvent { id, prompt }).is_err() {
            self.lock().pending.remove(&id);
            return None;
        }
        Some(rx)
    }
}

/// Shared handle, as airlock-core takes it.
#[derive(Debug, Clone, Default)]
pub struct SharedPrompter(pub std::sync::Arc<UiPrompter>);

impl Prompter for SharedPrompter {
    fn ask(&self, prompt: Prompt) -> Answer {
        let waiting = self.0.register(prompt);
        Box::pin(async move {
            match waiting {
                Some(rx) => rx.await.ok().flatten().ok_or(Declined),
                None => Err(Declined),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn with_no_window_listening_prompts_are_declined() {
        let prompter = SharedPrompter::default();
        let answer = prompter.ask(Prompt::MfaCode {
            profile: "admin".into(),
            serial: "arn:aws:iam::1:mfa/a".into(),
        });
        let answer = tauri::async_runtime::block_on(answer);
        assert_eq!(answer, Err(Declined));
        assert!(!prompter.0.answer(1, Some("123456".into())), "no prompt 1 is waiting");
    }
}
