//! Remote Desktop to Windows nodes, from the node list: the tunnel itself is an ordinary
//! tunnel tab (`tunnels::start_tunnel`); here the engine's `rdp` finds the administrator
//! password and starts the system's RDP client on the tunnel's local end.

use std::net::SocketAddr;
use std::path::PathBuf;

use airlock_core::rdp::RdpClient;
use serde::Serialize;
use tauri::State;
use tauri_plugin_dialog::DialogExt;

use crate::error::UiError;
use crate::state::AppState;

/// The RDP client started.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct RdpLaunched {
    /// Its name: FreeRDP, Remmina, ...
    client: String,
    /// The command line (it holds no password).
    command: String,
}

/// The administrator password of the Windows instance `target`, decrypted with `key_file`.
/// Shown to the user who asked; never logged (the instrument skips it).
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn windows_password(
    state: State<'_, AppState>,
    target: String,
    key_file: String,
) -> Result<String, UiError> {
    let place = state.place()?;
    let node = place.aws.windows_node(target.trim()).await?;
    let password = place.aws.windows_password(&node.id, &PathBuf::from(key_file.trim())).await?;
    Ok(password.reveal().to_owned())
}

/// Starts the system's RDP client on `local_address` (a running tunnel's) as `user`.
#[tauri::command]
#[tracing::instrument(err)]
pub async fn launch_rdp(local_address: String, user: String) -> Result<RdpLaunched, UiError> {
    let local: SocketAddr = local_address
        .parse()
        .map_err(|_| UiError::invalid(format!("{local_address:?} is not a tunnel's address.")))?;
    let Some(client) = RdpClient::find() else {
        return Err(UiError::new(
            "no-rdp-client",
            format!(
                "No RDP client was found: install FreeRDP (xfreerdp) or Remmina and choose Open RDP client again, or connect the client you use to {local}."
            ),
        ));
    };
    let launch = client.launch(local, user.trim());
    let mut child = std::process::Command::new(&launch.program)
        .args(&launch.args)
        .stdin(std::process::Stdio::null())
        .spawn()
        .map_err(|e| {
            UiError::new(
                "no-rdp-client",
                format!(
                    "Could not start {}: {e}. Connect your RDP client to {local}.",
                    launch.program.display()
                ),
            )
        })?;
    // Reaped when it exits; the tunnel runs on until its tab stops it.
    std::thread::spawn(move || child.wait());
    Ok(RdpLaunched { client: client.name().to_owned(), command: launch.display() })
}

/// Asks for the key pair file (.pem); `None` when the user cancels.
#[tauri::command]
#[tracing::instrument(skip(app), err)]
pub async fn choose_key_file(app: tauri::AppHandle) -> Result<Option<String>, UiError> {
    let picked = app
        .dialog()
        .file()
        .set_title("The instance's key pair file")
        .add_filter("Key pair", &["pem"])
        .blocking_pick_file();
    Ok(picked.and_then(|p| p.into_path().ok()).map(|p| p.display().to_string()))
}

/// On the demo fleet, the demo Windows node's key pair file (written, owner-only, to the
/// app's configuration directory); `None` elsewhere.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub fn demo_key_file(state: State<'_, AppState>) -> Result<Option<String>, UiError> {
    if !state.place()?.is_demo() {
        return Ok(None);
    }
    let dir = airlock_core::config_file::config_dir()
        .ok_or_else(|| UiError::new("io", "No configuration directory: set HOME."))?;
    let path = dir.join("demo-win-1-key.pem");
    airlock_core::config_file::write_atomically(&path, ssm_emulator::fleet::DEMO_WINDOWS_KEY)
        .map_err(|e| UiError::new("io", format!("Cannot write the demo key: {}", e.reason)))?;
    Ok(Some(path.display().to_string()))
}
