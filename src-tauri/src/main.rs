//! Airlock's desktop app: the Tauri shell around airlock-core. This crate only translates:
//! commands in `commands/` parse what the UI sends, call the core, and map the result; the
//! place (real AWS or the demo fleet) is in `place`, what commands share in `state`, errors
//! for the UI in `error`.
//!
//! The path of a byte: a key pressed in xterm.js → `shell_input` (commands/shells.rs) → the
//! terminal task (airlock_core::terminal) → the data-channel driver → WebSocket. Back: the
//! driver's `Notice::Data` → the terminal task batches it → `TerminalEvent::Output` → the tab's
//! channel as raw bytes → `term.write` in ui/src/terminal/terminalController.ts.

#![forbid(unsafe_code)]
// Without a console window on Windows release builds.
#![cfg_attr(all(not(debug_assertions), target_os = "windows"), windows_subsystem = "windows")]

#[cfg(test)]
mod bindings;
mod commands;
mod demo;
mod error;
mod prompts;
mod state;

use airlock_core::profiles::ProfileStore;
use airlock_core::settings::SettingsStore;
use tauri::Manager;

use crate::state::AppState;

fn main() {
    let filter = airlock_core::logging::filter(std::env::var("AIRLOCK_LOG").ok().as_deref());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    let state =
        AppState::new(ProfileStore::default_location().ok(), SettingsStore::default_location());
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_opener::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            // Where the app looks
            commands::place::context,
            commands::place::choose_place,
            commands::place::whoami,
            commands::place::doctor,
            commands::place::watch_prompts,
            commands::place::answer_prompt,
            // Nodes and documents
            commands::nodes::list_nodes,
            commands::nodes::list_documents,
            commands::nodes::document_details,
            // Terminal tabs
            commands::shells::open_shell,
            commands::shells::shell_input,
            commands::shells::shell_resize,
            commands::shells::shell_ack,
            commands::shells::close_shell,
            // Tunnel tabs
            commands::tunnels::start_tunnel,
            commands::tunnels::start_profile,
            commands::tunnels::stop_tunnel,
            commands::tunnels::free_port,
            commands::sessions::list_sessions,
            commands::sessions::terminate_session,
            // Saved tunnel profiles
            commands::profiles::list_profiles,
            commands::profiles::save_profile,
            commands::profiles::delete_profile,
            commands::profiles::choose_profiles_import,
            commands::profiles::import_profiles,
            commands::profiles::export_profiles,
            // The desktop
            commands::desktop::load_settings,
            commands::desktop::save_settings,
            commands::desktop::copy_text,
            commands::desktop::read_clipboard,
            commands::desktop::open_url,
        ])
        .build(tauri::generate_context!("../tauri.conf.json"));
    let app = match app {
        Ok(app) => app,
        Err(error) => {
            eprintln!("Airlock could not start: {error}");
            std::process::exit(1);
        }
    };
    app.run(|handle, event| {
        if let tauri::RunEvent::ExitRequested { .. } = event {
            // Sessions left open would linger on the service until their idle timeout.
            tauri::async_runtime::block_on(handle.state::<AppState>().shut_down());
        }
    });
}
