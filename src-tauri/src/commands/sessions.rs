//! The sessions view: the place's active and recent sessions (DescribeSessions), and ending
//! one (TerminateSession), as `airlock sessions` and `airlock terminate` do.

use airlock_core::aws::{SessionList, SessionSummary};
use serde::Serialize;
use tauri::State;

use crate::error::UiError;
use crate::state::AppState;

/// The most sessions the view lists at once (the newest first, as DescribeSessions pages them).
const LIMIT: usize = 200;

/// One session, as the view shows it; times are RFC 3339 (UTC).
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct SessionRow {
    id: String,
    target: String,
    owner: String,
    status: String,
    document: Option<String>,
    reason: Option<String>,
    started: Option<String>,
    ended: Option<String>,
}

impl From<SessionSummary> for SessionRow {
    fn from(s: SessionSummary) -> Self {
        let text = |t: String| Some(t).filter(|t| !t.is_empty());
        SessionRow {
            started: text(s.started_text()),
            ended: text(s.ended_text()),
            id: s.id,
            target: s.target,
            owner: s.owner,
            status: s.status,
            document: s.document,
            reason: s.reason,
        }
    }
}

/// The active sessions of the place, or (`history`) the ended ones.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn list_sessions(
    state: State<'_, AppState>,
    history: bool,
) -> Result<Vec<SessionRow>, UiError> {
    let which = if history { SessionList::History } else { SessionList::Active };
    let sessions = state.place()?.aws.list_sessions(which, LIMIT).await?;
    Ok(sessions.into_iter().map(SessionRow::from).collect())
}

/// Ends a session at the service; whoever holds it (this app, a terminal elsewhere) sees it end.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn terminate_session(state: State<'_, AppState>, id: String) -> Result<(), UiError> {
    Ok(state.place()?.aws.terminate_session(&id).await?)
}
