//! What the commands share: the current place, the open terminals and tunnels by id, the
//! stores on disk, and the window's ear for desktop events. Every lock here is a plain mutex
//! held for a map lookup, never across an await; each session's state lives in its own task in
//! airlock-core.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use airlock_core::monitor::TunnelHandle;
use airlock_core::place::Place;
use airlock_core::profiles::ProfileStore;
use airlock_core::settings::SettingsStore;
use airlock_core::terminal::{TerminalDone, TerminalHandle};

use tauri::ipc::Channel;

use crate::demo::Demo;
use crate::error::UiError;

/// A tunnel that runs, and the saved profile it was started from.
pub struct RunningTunnel {
    pub handle: TunnelHandle,
    pub profile: Option<String>,
}

/// A terminal the UI has open.
pub struct OpenTerminal {
    pub handle: TerminalHandle,
    pub done: Option<TerminalDone>,
}

pub struct AppState {
    place: RwLock<Option<Arc<Place>>>,
    pub demo: Demo,
    terminals: Mutex<HashMap<u64, OpenTerminal>>,
    tunnels: Mutex<HashMap<u64, RunningTunnel>>,
    /// File copies under way: each one's Cancel.
    copies: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
    next_id: AtomicU64,
    pub profiles: Option<ProfileStore>,
    pub settings: Option<SettingsStore>,
    pub prompts: crate::prompts::SharedPrompter,
    /// Where desktop events (close asked, tray choices) reach the window, once it listens.
    desktop: Mutex<Option<Channel<DesktopEvent>>>,
    /// The tray icon was made (the desktop may have no tray, or no library for one).
    pub tray: std::sync::atomic::AtomicBool,
}

/// What the desktop around the window asks of it.
#[derive(Debug, Clone, serde::Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DesktopEvent {
    /// The window was closed while `tunnels` run: keep them running, or quit?
    CloseRequested { tunnels: usize, tray: bool },
    /// "Start" on a saved profile in the tray: start it as the window's Start would.
    StartProfile { name: String },
    /// Files were dropped on the window (their paths on this machine).
    FilesDropped { paths: Vec<String> },
}

fn unpoisoned<T>(result: std::sync::LockResult<T>) -> T {
    // A panic while holding one of these locks leaves a map in a consistent state (each
    // operation is a single insert, remove or clone), so the data is still good.
    result.unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AppState {
    pub fn new(profiles: Option<ProfileStore>, settings: Option<SettingsStore>) -> AppState {
        AppState {
            place: RwLock::new(None),
            demo: Demo::default(),
            terminals: Mutex::new(HashMap::new()),
            tunnels: Mutex::new(HashMap::new()),
            copies: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            profiles,
            settings,
            prompts: crate::prompts::SharedPrompter::default(),
            desktop: Mutex::new(None),
            tray: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Who answers credential prompts: the window.
    pub fn prompter(&self) -> Arc<dyn airlock_core::credentials::Prompter> {
        Arc::new(self.prompts.clone())
    }

    pub fn place(&self) -> Result<Arc<Place>, UiError> {
        unpoisoned(self.place.read()).clone().ok_or_else(|| {
            UiError::new("starting", "Airlock is still starting; try again in a moment.")
        })
    }

    pub fn set_place(&self, place: Arc<Place>) {
        *unpoisoned(self.place.write()) = Some(place);
    }

    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn add_terminal(&self, id: u64, terminal: OpenTerminal) {
        unpoisoned(self.terminals.lock()).insert(id, terminal);
    }

    pub fn terminal(&self, id: u64) -> Result<TerminalHandle, UiError> {
        unpoisoned(self.terminals.lock())
            .get(&id)
            .map(|t| t.handle.clone())
            .ok_or_else(|| UiError::new("not-found", "That terminal is closed."))
    }

    pub fn remove_terminal(&self, id: u64) -> Option<OpenTerminal> {
        unpoisoned(self.terminals.lock()).remove(&id)
    }

    pub fn add_copy(&self, id: u64, cancel: tokio::sync::oneshot::Sender<()>) {
        unpoisoned(self.copies.lock()).insert(id, cancel);
    }

    /// The copy's Cancel, once: `None` when it has ended (or was cancelled already).
    pub fn remove_copy(&self, id: u64) -> Option<tokio::sync::oneshot::Sender<()>> {
        unpoisoned(self.copies.lock()).remove(&id)
    }

    pub fn add_tunnel(&self, id: u64, tunnel: RunningTunnel) {
        unpoisoned(self.tunnels.lock()).insert(id, tunnel);
    }

    pub fn remove_tunnel(&self, id: u64) -> Option<TunnelHandle> {
        unpoisoned(self.tunnels.lock()).remove(&id).map(|t| t.handle)
    }

    /// How many tunnels run.
    pub fn tunnel_count(&self) -> usize {
        unpoisoned(self.tunnels.lock()).len()
    }

    /// The saved profiles whose tunnel runs, each with its tunnel's id and local address.
    pub fn running_profiles(&self) -> HashMap<String, (u64, std::net::SocketAddr)> {
        unpoisoned(self.tunnels.lock())
            .iter()
            .filter_map(|(id, t)| {
                t.profile.clone().map(|name| (name, (*id, t.handle.local_addr())))
            })
            .collect()
    }

    /// From now on desktop events go to `channel` (the window listens again after a reload).
    pub fn watch_desktop(&self, channel: Channel<DesktopEvent>) {
        *unpoisoned(self.desktop.lock()) = Some(channel);
    }

    /// Tells the window; false when no window listens.
    pub fn tell_window(&self, event: DesktopEvent) -> bool {
        unpoisoned(self.desktop.lock()).as_ref().is_some_and(|c| c.send(event).is_ok())
    }

    pub fn profiles(&self) -> Result<&ProfileStore, UiError> {
        self.profiles.as_ref().ok_or_else(|| UiError::new("io", "There is no configuration directory (HOME is not set), so profiles cannot be saved."))
    }

    pub fn settings_store(&self) -> Result<&SettingsStore, UiError> {
        self.settings.as_ref().ok_or_else(|| UiError::new("io", "There is no configuration directory (HOME is not set), so settings cannot be saved."))
    }

    /// On exit: terminates every open session and stops every tunnel, waiting a little for
    /// the service to hear it (a session left open lingers until its idle timeout).
    pub async fn shut_down(&self) {
        let terminals: Vec<OpenTerminal> =
            unpoisoned(self.terminals.lock()).drain().map(|(_, t)| t).collect();
        let tunnels: Vec<TunnelHandle> =
            unpoisoned(self.tunnels.lock()).drain().map(|(_, t)| t.handle).collect();
        let mut waits = Vec::new();
        for mut terminal in terminals {
            terminal.handle.close();
            if let Some(done) = terminal.done.take() {
                waits.push(tokio::spawn(done));
            }
        }
        for tunnel in tunnels {
            waits.push(tokio::spawn(tunnel.stop()));
        }
        let all = async {
            for wait in waits {
                let _ = wait.await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(3), all).await;
    }
}
