//! The desktop around the app: remembered settings, the clipboard, links opened in the user's
//! browser, and the window's part in closing and in the tray's choices.

use airlock_core::settings::{CloseWithTunnels, Theme, FONT_SIZES};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::{Manager, State};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

use crate::error::UiError;
use crate::state::{AppState, DesktopEvent};

#[derive(Debug, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Settings")]
pub struct SettingsDto {
    theme: Theme,
    font_size: u16,
}

#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub fn load_settings(state: State<'_, AppState>) -> Result<SettingsDto, UiError> {
    let settings = state.settings_store()?.load()?;
    Ok(SettingsDto { theme: settings.theme, font_size: settings.font_size })
}

/// Saves the look; the place is remembered by `choose_place`.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub fn save_settings(state: State<'_, AppState>, settings: SettingsDto) -> Result<(), UiError> {
    let font_size = settings.font_size.clamp(*FONT_SIZES.start(), *FONT_SIZES.end());
    state.settings_store()?.update(|current| {
        current.theme = settings.theme;
        current.font_size = font_size;
    })?;
    Ok(())
}

#[tauri::command]
pub fn copy_text(app: tauri::AppHandle, text: String) -> Result<(), UiError> {
    app.clipboard()
        .write_text(text)
        .map_err(|e| UiError::new("clipboard", format!("Could not copy to the clipboard: {e}")))
}

#[tauri::command]
pub fn read_clipboard(app: tauri::AppHandle) -> Result<String, UiError> {
    // An empty clipboard (or one holding an image) pastes nothing.
    Ok(app.clipboard().read_text().unwrap_or_default())
}

/// Opens an http(s) link from a terminal in the user's browser; nothing else is opened.
#[tauri::command]
#[tracing::instrument(skip(app), err)]
pub fn open_url(app: tauri::AppHandle, url: String) -> Result<(), UiError> {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(UiError::invalid("Only web links (http and https) are opened."));
    }
    app.opener()
        .open_url(url, None::<&str>)
        .map_err(|e| UiError::new("open", format!("Could not open the link: {e}")))
}

/// Desktop events (a close while tunnels run, a profile started from the tray) reach the
/// window on `channel` from now on.
#[tauri::command]
pub fn watch_desktop(state: State<'_, AppState>, channel: Channel<DesktopEvent>) {
    state.watch_desktop(channel);
}

/// The answer to "Tunnels are running": keep them running with the window hidden, or quit;
/// with `remember`, the answer is the rule from now on (it can be changed in settings.toml).
#[tauri::command]
#[tracing::instrument(skip(app, state), err)]
pub fn close_window(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    keep_running: bool,
    remember: bool,
) -> Result<(), UiError> {
    if remember {
        let rule =
            if keep_running { CloseWithTunnels::KeepRunning } else { CloseWithTunnels::Quit };
        state.settings_store()?.update(|s| s.close_with_tunnels = rule)?;
    }
    if keep_running {
        if let Some(window) = app.get_webview_window("main") {
            window
                .hide()
                .map_err(|e| UiError::new("window", format!("Could not hide the window: {e}")))?;
        }
    } else {
        app.exit(0);
    }
    Ok(())
}
