//! Tauri's build step, with the configuration at the repository root (as DESIGN.md lays it
//! out) and an explicit list of the app's commands, so capabilities can allow each by name.

/// Every command of the app; `capabilities/main.json` allows each by name.
const COMMANDS: &[&str] = &[
    "context",
    "choose_place",
    "whoami",
    "doctor",
    "watch_prompts",
    "answer_prompt",
    "list_nodes",
    "list_documents",
    "document_details",
    "open_shell",
    "shell_input",
    "shell_resize",
    "shell_ack",
    "close_shell",
    "start_tunnel",
    "start_profile",
    "stop_tunnel",
    "free_port",
    "start_copy",
    "cancel_copy",
    "choose_file_to_send",
    "choose_where_to_save",
    "default_download_dir",
    "windows_password",
    "launch_rdp",
    "choose_key_file",
    "demo_key_file",
    "list_sessions",
    "terminate_session",
    "list_profiles",
    "save_profile",
    "delete_profile",
    "choose_profiles_import",
    "import_profiles",
    "export_profiles",
    "load_settings",
    "save_settings",
    "copy_text",
    "read_clipboard",
    "open_url",
    "watch_desktop",
    "close_window",
];

fn main() {
    let attributes = tauri_build::Attributes::new()
        .config_path("../tauri.conf.json")
        .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS));
    if let Err(error) = tauri_build::try_build(attributes) {
        panic!("tauri build step failed: {error:#}");
    }
}
