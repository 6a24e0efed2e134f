//! File copy between this machine and a node, from a shell tab (Send file…, Get file…, a file
//! dropped on the tab): the engine's `transfer` copies; its progress and its end go to the
//! dialog's channel, and Cancel ends it. The native file choosers are here too.

use std::path::PathBuf;
use std::time::Duration;

use airlock_core::transfer::{Copied, CopyError, Progress};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;
use tauri_plugin_dialog::DialogExt;

use crate::error::UiError;
use crate::state::AppState;

/// Which way a file goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum CopyDirection {
    /// From this machine to the node.
    Upload,
    /// From the node to this machine.
    Download,
}

#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "CopyRequest")]
pub struct CopyRequestDto {
    direction: CopyDirection,
    target: String,
    /// This machine's path: the file to send, or where to put the one fetched (a folder keeps
    /// its name).
    local: String,
    /// The node's path: where to put the file sent (a folder, or ending in `/`, keeps its
    /// name), or the file to fetch.
    remote: String,
}

/// One message on a copy's channel.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum CopyMessage {
    #[serde(rename_all = "camelCase")]
    Progress { done: u64, total: Option<u64>, bytes_per_second: f64, left_ms: Option<u64> },
    /// Copied; the digests matched.
    Done { path: String, bytes: u64, sha256: String },
    /// Not copied: why, and what became of the partial file.
    #[serde(rename_all = "camelCase")]
    Failed { message: String, cancelled: bool },
}

impl From<Progress> for CopyMessage {
    fn from(p: Progress) -> Self {
        CopyMessage::Progress {
            done: p.done,
            total: p.total,
            bytes_per_second: p.rate(),
            left_ms: p.left().map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

fn ended(outcome: Result<Copied, CopyError>) -> CopyMessage {
    match outcome {
        Ok(copied) => {
            CopyMessage::Done { path: copied.path, bytes: copied.bytes, sha256: copied.sha256 }
        }
        Err(error) => CopyMessage::Failed {
            cancelled: matches!(error, CopyError::Cancelled { .. }),
            message: airlock_core::sentence::sentence(&error.to_string()),
        },
    }
}

/// Starts a copy; returns its id for [`cancel_copy`]. Progress, at most a few times a second,
/// and the end arrive on `channel`.
#[tauri::command]
#[tracing::instrument(skip(app, state, channel), err)]
pub async fn start_copy(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: CopyRequestDto,
    channel: Channel<CopyMessage>,
) -> Result<u64, UiError> {
    let (local, remote) = (request.local.trim().to_owned(), request.remote.trim().to_owned());
    if local.is_empty() {
        return Err(UiError::invalid("Give the file's path on this machine."));
    }
    if remote.is_empty() {
        return Err(UiError::invalid("Give the path on the node."));
    }
    let aws = state.place()?.aws.clone();
    let id = state.next_id();
    let (cancel, cancelled) = tokio::sync::oneshot::channel();
    state.add_copy(id, cancel);
    let target = request.target;
    let progress_channel = channel.clone();
    let mut last = None::<std::time::Instant>;
    // Progress is sent at most every 100 ms (and always at the first and the last byte).
    let progress = move |p: Progress| {
        let now = std::time::Instant::now();
        let due = last.is_none_or(|at| now.duration_since(at) >= Duration::from_millis(100))
            || p.total == Some(p.done);
        if due {
            last = Some(now);
            let _ = progress_channel.send(CopyMessage::from(p));
        }
    };
    let cancelled = async {
        let _ = cancelled.await;
    };
    tokio::spawn(async move {
        let outcome = match request.direction {
            CopyDirection::Upload => {
                aws.upload(&target, &PathBuf::from(&local), &remote, None, progress, cancelled)
                    .await
            }
            CopyDirection::Download => {
                aws.download(&target, &remote, &PathBuf::from(&local), None, progress, cancelled)
                    .await
            }
        };
        tauri::Manager::state::<AppState>(&app).remove_copy(id);
        let _ = channel.send(ended(outcome));
    });
    Ok(id)
}

/// Cancels a copy; its channel reports the end (and what became of the partial file).
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub fn cancel_copy(state: State<'_, AppState>, id: u64) -> Result<(), UiError> {
    if let Some(cancel) = state.remove_copy(id) {
        let _ = cancel.send(());
    }
    Ok(())
}

/// Asks for a file to send; `None` when the user cancels.
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn choose_file_to_send(app: tauri::AppHandle) -> Result<Option<String>, UiError> {
    let picked = app.dialog().file().set_title("Send a file to the node").blocking_pick_file();
    Ok(picked.and_then(|p| p.into_path().ok()).map(|p| p.display().to_string()))
}

/// Asks where to save a file fetched from the node; `None` when the user cancels.
#[tauri::command]
#[tracing::instrument(skip(app), err)]
pub async fn choose_where_to_save(
    app: tauri::AppHandle,
    name: String,
) -> Result<Option<String>, UiError> {
    let picked = app
        .dialog()
        .file()
        .set_title("Save the node's file as")
        .set_file_name(&name)
        .blocking_save_file();
    Ok(picked.and_then(|p| p.into_path().ok()).map(|p| p.display().to_string()))
}

/// Where a fetched file goes unless the user says otherwise: the Downloads folder (else home).
#[tauri::command]
pub fn default_download_dir(app: tauri::AppHandle) -> Option<String> {
    use tauri::Manager;
    let paths = app.path();
    paths.download_dir().or_else(|_| paths.home_dir()).ok().map(|p| p.display().to_string())
}
