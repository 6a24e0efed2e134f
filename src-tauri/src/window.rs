//! The main window on the desktop: it opens where it was (when that is still on a screen),
//! its place is remembered a moment after it stops moving, and closing it while tunnels run
//! asks, hides it to the tray or quits, as the user chose; files dropped on it go to the
//! window, whose shell tab offers to send them.

use std::time::Duration;

use airlock_core::settings::{CloseWithTunnels, WindowPlacement};
use tauri::{Manager, PhysicalPosition, PhysicalSize, Runtime, WebviewWindow, WindowEvent};
use tokio::sync::watch;

use crate::state::{AppState, DesktopEvent};

/// How long the window must stay still before its place is written.
const SETTLE: Duration = Duration::from_millis(400);

/// Puts the window where it was, shows it, and starts remembering where it goes.
pub fn restore<R: Runtime>(window: &WebviewWindow<R>) {
    let state = window.state::<AppState>();
    let saved = state.settings.as_ref().and_then(|s| s.load().ok()).and_then(|s| s.window);
    if let Some(placement) = saved {
        let _ = window.set_size(PhysicalSize::new(placement.width, placement.height));
        if on_a_screen(window, &placement) {
            let _ = window.set_position(PhysicalPosition::new(placement.x, placement.y));
        }
        if placement.maximized {
            let _ = window.maximize();
        }
    }
    let _ = window.show();

    let (moved, mut settled) = watch::channel(saved);
    let app = window.app_handle().clone();
    tauri::async_runtime::spawn(async move {
        while settled.changed().await.is_ok() {
            // Wait until it has been still for a moment: a drag sends many moves.
            while tokio::time::timeout(SETTLE, settled.changed()).await.is_ok_and(|r| r.is_ok()) {}
            let placement = *settled.borrow_and_update();
            let state = app.state::<AppState>();
            if let (Some(store), Some(placement)) = (state.settings.as_ref(), placement) {
                if let Err(error) = store.update(|s| s.window = Some(placement)) {
                    tracing::warn!("the window's place was not remembered: {error}");
                }
            }
        }
    });
    let window_ = window.clone();
    window.on_window_event(move |event| match event {
        WindowEvent::Moved(_) | WindowEvent::Resized(_) => {
            let previous = *moved.borrow();
            if let Some(placement) = placement(&window_, previous) {
                moved.send_replace(Some(placement));
            }
        }
        WindowEvent::CloseRequested { api, .. } if !closing_quits(&window_) => api.prevent_close(),
        // Files dropped on the window: the shell tab they were dropped on offers to send them.
        WindowEvent::DragDrop(tauri::DragDropEvent::Drop { paths, .. }) => {
            let paths = paths.iter().map(|p| p.display().to_string()).collect();
            window_.state::<AppState>().tell_window(DesktopEvent::FilesDropped { paths });
        }
        _ => {}
    });
}

/// Where the window is now; while maximised, the size to return to is kept.
fn placement<R: Runtime>(
    window: &WebviewWindow<R>,
    previous: Option<WindowPlacement>,
) -> Option<WindowPlacement> {
    if window.is_minimized().unwrap_or(false) || !window.is_visible().unwrap_or(true) {
        return None;
    }
    let maximized = window.is_maximized().unwrap_or(false);
    if maximized {
        return previous.map(|p| WindowPlacement { maximized: true, ..p });
    }
    let position = window.outer_position().ok()?;
    let size = window.inner_size().ok()?;
    Some(WindowPlacement {
        x: position.x,
        y: position.y,
        width: size.width,
        height: size.height,
        maximized: false,
    })
}

/// Whether the window's top-left corner would be on one of the screens there are now (a
/// screen unplugged since must not leave the window out of sight).
fn on_a_screen<R: Runtime>(window: &WebviewWindow<R>, placement: &WindowPlacement) -> bool {
    let Ok(monitors) = window.available_monitors() else { return false };
    monitors.iter().any(|monitor| {
        let (origin, size) = (monitor.position(), monitor.size());
        let inside = |value: i32, start: i32, length: u32| {
            value >= start && i64::from(value) < i64::from(start) + i64::from(length)
        };
        inside(placement.x, origin.x, size.width) && inside(placement.y, origin.y, size.height)
    })
}

/// Decides a close: true lets the window close (and the app quit with it).
fn closing_quits<R: Runtime>(window: &WebviewWindow<R>) -> bool {
    let state = window.state::<AppState>();
    let tunnels = state.tunnel_count();
    if tunnels == 0 {
        return true;
    }
    let rule = state
        .settings
        .as_ref()
        .and_then(|s| s.load().ok())
        .map(|s| s.close_with_tunnels)
        .unwrap_or_default();
    match rule {
        CloseWithTunnels::Quit => true,
        CloseWithTunnels::KeepRunning => {
            let _ = window.hide();
            false
        }
        CloseWithTunnels::Ask => {
            let tray = state.tray.load(std::sync::atomic::Ordering::Relaxed);
            // With no window listening there is no one to ask: closing quits, as it did.
            !state.tell_window(DesktopEvent::CloseRequested { tunnels, tray })
        }
    }
}
