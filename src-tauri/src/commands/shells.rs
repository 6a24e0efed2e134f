//! Terminal tabs: a shell (or any shell-type document) per tab. Output and state changes go
//! to the tab's channel: output as raw bytes, states as JSON.

use airlock_core::aws::StartRequest;
use airlock_core::terminal::{open_terminal, Stage, TerminalEvent, TerminalState};
use serde::{Deserialize, Serialize};
use ssm_protocol::payload::TerminalSize;
use tauri::ipc::{Channel, InvokeResponseBody};
use tauri::State;

use crate::error::UiError;
use crate::state::{AppState, OpenTerminal};

#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ShellRequest")]
pub struct ShellRequestDto {
    target: String,
    document: Option<String>,
    parameters: std::collections::HashMap<String, String>,
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, ts_rs::TS)]
#[ts(rename = "TerminalSize")]
pub struct SizeDto {
    cols: u32,
    rows: u32,
}

impl SizeDto {
    fn checked(self) -> Result<TerminalSize, UiError> {
        if self.cols == 0 || self.rows == 0 || self.cols > 10_000 || self.rows > 10_000 {
            return Err(UiError::invalid(format!(
                "A terminal of {}×{} cells is not possible.",
                self.cols, self.rows
            )));
        }
        Ok(TerminalSize { cols: self.cols, rows: self.rows })
    }
}

/// A terminal's state as the tab shows it.
#[derive(Debug, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(tag = "state", rename_all = "kebab-case")]
#[ts(rename = "SessionState")]
pub enum StateDto {
    Connecting {
        stage: Stage,
    },
    #[serde(rename_all = "camelCase")]
    Connected {
        session_id: String,
        encrypted_with: Option<String>,
        message: Option<String>,
    },
    #[serde(rename_all = "camelCase")]
    Reconnecting {
        attempt: u32,
        delay_ms: u64,
        reason: String,
    },
    #[serde(rename_all = "camelCase")]
    Ended {
        reason: String,
        exit_code: Option<i32>,
        by_user: bool,
        failed: bool,
    },
}

impl From<TerminalState> for StateDto {
    fn from(state: TerminalState) -> Self {
        match state {
            TerminalState::Connecting(stage) => StateDto::Connecting { stage },
            TerminalState::Connected { session_id, encrypted_with, message } => {
                StateDto::Connected { session_id, encrypted_with, message }
            }
            TerminalState::Reconnecting { attempt, delay, reason } => {
                StateDto::Reconnecting { attempt, delay_ms: delay.as_millis() as u64, reason }
            }
            TerminalState::Ended { reason, exit_code, by_user, failed } => {
                StateDto::Ended { reason, exit_code, by_user, failed }
            }
        }
    }
}

/// One message on a terminal's channel.
pub fn message(event: TerminalEvent) -> InvokeResponseBody {
    match event {
        TerminalEvent::Output(bytes) | TerminalEvent::Stderr(bytes) => {
            InvokeResponseBody::Raw(bytes)
        }
        TerminalEvent::State(state) => InvokeResponseBody::Json(
            serde_json::to_string(&StateDto::from(state)).unwrap_or_else(|_| "null".into()),
        ),
    }
}

/// Opens a terminal; returns its id at once. How it goes arrives on `channel`.
#[tauri::command]
#[tracing::instrument(skip(app, state, channel), fields(target = %request.target), err)]
pub async fn open_shell(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: ShellRequestDto,
    size: SizeDto,
    channel: Channel<InvokeResponseBody>,
) -> Result<u64, UiError> {
    let size = size.checked()?;
    if request.target.trim().is_empty() {
        return Err(UiError::invalid("Choose a node to open the session on."));
    }
    let place = state.place()?;
    let start = StartRequest {
        target: request.target.trim().to_owned(),
        document: request.document.filter(|d| !d.is_empty()),
        parameters: request
            .parameters
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k, vec![v]))
            .collect(),
        reason: request.reason.filter(|r| !r.trim().is_empty()),
    };
    let (handle, mut events, done) =
        open_terminal(place.aws.clone(), start, place.aws.driver_config(), Some(size));
    let id = state.next_id();
    state.add_terminal(id, OpenTerminal { handle, done: Some(done) });
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if channel.send(message(event)).is_err() {
                break; // The window is gone.
            }
        }
        // The session is over (or nobody is watching): forget it, which also closes it.
        if let Some(terminal) = tauri::Manager::state::<AppState>(&app).remove_terminal(id) {
            terminal.handle.close();
        }
    });
    Ok(id)
}

#[tauri::command]
pub fn shell_input(state: State<'_, AppState>, id: u64, data: String) -> Result<(), UiError> {
    state.terminal(id)?.input(data.into_bytes());
    Ok(())
}

#[tauri::command]
pub fn shell_resize(state: State<'_, AppState>, id: u64, size: SizeDto) -> Result<(), UiError> {
    state.terminal(id)?.resize(size.checked()?);
    Ok(())
}

#[tauri::command]
pub fn shell_ack(state: State<'_, AppState>, id: u64, bytes: usize) -> Result<(), UiError> {
    state.terminal(id)?.ack(bytes);
    Ok(())
}

/// Ends the session (TerminateSession); the tab shows the end it reports.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub fn close_shell(state: State<'_, AppState>, id: u64) -> Result<(), UiError> {
    match state.remove_terminal(id) {
        Some(terminal) => {
            terminal.handle.close();
            Ok(())
        }
        None => Ok(()), // Closed already: closing twice is not an error.
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn states_cross_as_the_ui_reads_them() {
        let json = |s: TerminalState| serde_json::to_value(StateDto::from(s)).unwrap();
        assert_eq!(
            json(TerminalState::Connecting(Stage::OpeningDataChannel)),
            serde_json::json!({"state": "connecting", "stage": "opening-data-channel"})
        );
        assert_eq!(
            json(TerminalState::Connected {
                session_id: "s-1".into(),
                encrypted_with: Some("alias/k".into()),
                message: Some("This session is encrypted using AWS KMS.".into())
            }),
            serde_json::json!({"state": "connected", "sessionId": "s-1", "encryptedWith": "alias/k", "message": "This session is encrypted using AWS KMS."})
        );
        assert_eq!(
            json(TerminalState::Reconnecting {
                attempt: 2,
                delay: Duration::from_millis(1500),
                reason: "reset".into()
            }),
            serde_json::json!({"state": "reconnecting", "attempt": 2, "delayMs": 1500, "reason": "reset"})
        );
        assert_eq!(
            json(TerminalState::Ended {
                reason: "bye".into(),
                exit_code: Some(3),
                by_user: false,
                failed: false
            }),
            serde_json::json!({"state": "ended", "reason": "bye", "exitCode": 3, "byUser": false, "failed": false})
        );
    }

    #[test]
    fn output_crosses_as_raw_bytes() {
        assert!(
            matches!(message(TerminalEvent::Output(vec![1, 2, 3])), InvokeResponseBody::Raw(b) if b == [1, 2, 3])
        );
        assert!(matches!(
            message(TerminalEvent::State(TerminalState::Connected {
                session_id: "s".into(),
                encrypted_with: None,
                message: None
            })),
            InvokeResponseBody::Json(_)
        ));
    }

    #[test]
    fn impossible_sizes_are_refused() {
        assert!(SizeDto { cols: 0, rows: 24 }.checked().is_err());
        assert!(SizeDto { cols: 80, rows: 100_000 }.checked().is_err());
        assert_eq!(
            SizeDto { cols: 80, rows: 24 }.checked().unwrap(),
            TerminalSize { cols: 80, rows: 24 }
        );
    }
}
