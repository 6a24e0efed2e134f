//! The tray icon: the saved tunnel profiles with their state, each started or stopped from its
//! menu item, the window opened, and the app quit. The menu is rebuilt whenever a tunnel
//! starts or ends and whenever the profiles change. Starting goes through the window (as its
//! Start button would, so the tunnel gets its tab and figures); stopping is done here.

use std::collections::HashMap;
use std::net::SocketAddr;

use airlock_core::profiles::Profile;
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, Runtime};

use crate::state::{AppState, DesktopEvent};

const TRAY: &str = "airlock";
const SHOW: &str = "show";
const QUIT: &str = "quit";
const PROFILE: &str = "profile:";

/// One line of the tray's menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub id: String,
    pub text: String,
}

/// The menu for these profiles, where `running` maps the running ones to their local address.
pub fn items(profiles: &[Profile], running: &HashMap<String, (u64, SocketAddr)>) -> Vec<Item> {
    profiles
        .iter()
        .map(|profile| {
            let text = match running.get(&profile.name) {
                Some((_, local)) => match profile.more_forwards.len() {
                    0 => format!("■ Stop {} (running on {local})", profile.name),
                    more => {
                        format!("■ Stop {} (running on {local} and {more} more)", profile.name)
                    }
                },
                None => format!("▶ Start {}", profile.name),
            };
            Item { id: format!("{PROFILE}{}", profile.name), text }
        })
        .collect()
}

fn menu<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<Menu<R>> {
    let state = app.state::<AppState>();
    let profiles = state.profiles.as_ref().and_then(|s| s.load().ok()).unwrap_or_default();
    let menu = Menu::new(app)?;
    menu.append(&MenuItem::with_id(app, SHOW, "Open Airlock", true, None::<&str>)?)?;
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    let lines = items(&profiles, &state.running_profiles());
    if lines.is_empty() {
        menu.append(&MenuItem::with_id(app, "none", "No saved tunnels", false, None::<&str>)?)?;
    }
    for line in lines {
        menu.append(&MenuItem::with_id(app, line.id, line.text, true, None::<&str>)?)?;
    }
    menu.append(&PredefinedMenuItem::separator(app)?)?;
    menu.append(&MenuItem::with_id(app, QUIT, "Quit Airlock", true, None::<&str>)?)?;
    Ok(menu)
}

/// Makes the tray icon; false when the desktop cannot show one (it is then left out).
pub fn create(app: &AppHandle) -> bool {
    let build = || -> tauri::Result<()> {
        let mut builder = TrayIconBuilder::with_id(TRAY)
            .tooltip("Airlock")
            .menu(&menu(app)?)
            .show_menu_on_left_click(true)
            .on_menu_event(|app, event| chosen(app, event.id().as_ref()));
        if let Some(icon) = app.default_window_icon() {
            builder = builder.icon(icon.clone());
        }
        builder.build(app)?;
        Ok(())
    };
    // Linux loads the tray library when the first icon is made, and panics without one.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(build)) {
        Ok(Ok(())) => true,
        Ok(Err(error)) => {
            tracing::warn!("no tray icon: {error}");
            false
        }
        Err(_) => {
            tracing::warn!(
                "no tray icon: this desktop has no tray library (libayatana-appindicator3)"
            );
            false
        }
    }
}

/// Rebuilds the menu after tunnels or profiles changed.
pub fn refresh<R: Runtime>(app: &AppHandle<R>) {
    let Some(tray) = app.tray_by_id(TRAY) else { return };
    match menu(app) {
        Ok(menu) => {
            if let Err(error) = tray.set_menu(Some(menu)) {
                tracing::warn!("the tray menu was not updated: {error}");
            }
        }
        Err(error) => tracing::warn!("the tray menu was not rebuilt: {error}"),
    }
}

/// Brings the window back: shown, not minimised, focused.
pub fn show_window<R: Runtime>(app: &AppHandle<R>) {
    if let Some(window) = app.get_webview_window("main") {
        let _ = window.show();
        let _ = window.unminimize();
        let _ = window.set_focus();
    }
}

fn chosen(app: &AppHandle, id: &str) {
    match id {
        SHOW => show_window(app),
        QUIT => app.exit(0),
        _ => {
            let Some(name) = id.strip_prefix(PROFILE) else { return };
            let state = app.state::<AppState>();
            if let Some((tunnel, _)) = state.running_profiles().get(name) {
                if let Some(handle) = state.remove_tunnel(*tunnel) {
                    tauri::async_runtime::spawn(handle.stop());
                }
            } else if !state.tell_window(DesktopEvent::StartProfile { name: name.to_owned() }) {
                tracing::warn!("the tray could not start {name}: the window is not listening");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Profile {
        Profile {
            name: name.into(),
            aws_profile: None,
            region: None,
            target: "i-0123".into(),
            remote_port: 5432,
            remote_host: None,
            local_port: 15432,
            bind: std::net::Ipv4Addr::LOCALHOST.into(),
            sessions: 1,
            auto_start: false,
            keep_alive: false,
            more_forwards: Vec::new(),
        }
    }

    #[test]
    fn the_menu_says_which_profiles_run_and_where() {
        let group = Profile { more_forwards: vec!["6379".parse().unwrap()], ..profile("stack") };
        let profiles = [profile("db"), profile("web"), group];
        let running = HashMap::from([
            ("web".to_owned(), (7, SocketAddr::from(([127, 0, 0, 1], 8080)))),
            ("stack".to_owned(), (8, SocketAddr::from(([127, 0, 0, 1], 5432)))),
        ]);
        let lines = items(&profiles, &running);
        assert_eq!(
            lines,
            vec![
                Item { id: "profile:db".into(), text: "▶ Start db".into() },
                Item {
                    id: "profile:web".into(),
                    text: "■ Stop web (running on 127.0.0.1:8080)".into()
                },
                Item {
                    id: "profile:stack".into(),
                    text: "■ Stop stack (running on 127.0.0.1:5432 and 1 more)".into()
                },
            ]
        );
    }
}
