//! Desktop notifications: a tunnel that dropped and could not reconnect is said on the desktop,
//! since its tab may be hidden, or the window closed to the tray.

use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt;

/// "Tunnel db dropped": the tunnel's label and why it ended.
pub fn tunnel_dropped<R: Runtime>(app: &AppHandle<R>, label: &str, reason: &str) {
    let shown = app
        .notification()
        .builder()
        .title(format!("Tunnel {label} dropped"))
        .body(format!("{reason} Start it again from Airlock."))
        .show();
    if let Err(error) = shown {
        tracing::warn!("the desktop did not show that tunnel {label} dropped: {error}");
    }
}
