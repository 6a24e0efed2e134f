//! Airlock's desktop app: the Tauri shell around airlock-core. This crate only translates:
//! commands in `commands/` parse what the UI sends, call the core, and map the result; the
//! place (real AWS or the demo fleet) is in `place`, what commands share in `state`, errors
//! for the UI in `error`. Around the window: `window` (its place, what closing it does),
//! `tray` (saved tunnels in the tray), `notify` (desktop notifications); one app per
//! configuration is airlock_core::instance.
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
mod notify;
mod prompts;
mod state;
mod tray;
mod window;

use airlock_core::instance::{self, Launch};
use airlock_core::profiles::ProfileStore;
use airlock_core::settings::SettingsStore;
use tauri::Manager;

use crate::state::AppState;

fn main() {
    let filter = airlock_core::logging::filter(std::env::var("AIRLOCK_LOG").ok().as_deref());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();

    // One app per configuration: a second launch shows the first one's window and leaves.
    let instance = match airlock_core::config_file::config_dir().map(|d| instance::claim(&d)) {
        Some(Ok(Launch::First(instance))) => Some(instance),
        Some(Ok(Launch::Shown { pid })) => {
            println!("Airlock is already running (process {pid}); its window is shown.");
            return;
        }
        Some(Err(error @ instance::InstanceError::Unreachable { .. })) => {
            eprintln!("Airlock did not start: {error}.");
            std::process::exit(1);
        }
        Some(Err(error)) => {
            tracing::warn!("a second launch will start a second app: {error}");
            None
        }
        None => None,
    };

    let state =
        AppState::new(ProfileStore::default_location().ok(), SettingsStore::default_location());
    let app = tauri::Builder::default()
        .setup(move |app| {
            let handle = app.handle().clone();
            if let Some(instance) = instance {
                instance.serve(move || {
                    let shown = handle.clone();
                    let _ = handle.run_on_main_thread(move || tray::show_window(&shown));
                });
            }
            let made = tray::create(app.handle());
            app.state::<AppState>().tray.store(made, std::sync::atomic::Ordering::Relaxed);
            if let Some(window) = app.get_webview_window("main") {
                window::restore(&window);
            }
            Ok(())
        })
        .plugin(tauri_plugin_notification::init())
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
            // File copy from a shell tab
            commands::files::start_copy,
            commands::files::cancel_copy,
            commands::files::choose_file_to_send,
            commands::files::choose_where_to_save,
            commands::files::default_download_dir,
            commands::rdp::windows_password,
            commands::rdp::launch_rdp,
            commands::rdp::choose_key_file,
            commands::rdp::demo_key_file,
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
            commands::desktop::watch_desktop,
            commands::desktop::close_window,
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
