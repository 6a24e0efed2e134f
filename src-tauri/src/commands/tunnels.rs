//! Tunnel tabs: ad-hoc tunnels (a forward, or a SOCKS proxy through the node), saved profiles
//! started by name, and a free-port suggestion.
//! Figures and the end arrive on the tab's channel as JSON.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use airlock_core::aws::Aws;
use airlock_core::group::ForwardFigures;
use airlock_core::monitor::{self, TunnelEvent};
use airlock_core::place::Place;
use airlock_core::session::{PortDocument, TunnelFigures, TunnelSpec};
use airlock_core::socks::{SocksSpec, DEFAULT_IDLE};
use serde::{Deserialize, Serialize};
use tauri::ipc::Channel;
use tauri::State;

use crate::error::UiError;
use crate::state::{AppState, RunningTunnel};

/// What a tunnel tab runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum TunnelKind {
    /// Local connections to one port on the node or, through it, on a remote host.
    #[default]
    Forward,
    /// A SOCKS5 proxy: each connection reaches the destination it names, through the node.
    Socks,
}

#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "TunnelRequest")]
pub struct TunnelRequestDto {
    #[serde(default)]
    kind: TunnelKind,
    target: String,
    remote_port: u16,
    remote_host: Option<String>,
    local_port: u16,
    bind: String,
    sessions: usize,
    reason: Option<String>,
    document: Option<String>,
    parameters: HashMap<String, String>,
    /// Keep the tunnel from being closed for being idle.
    #[serde(default)]
    keep_alive: bool,
}

impl TunnelRequestDto {
    fn spec(self) -> Result<TunnelSpec, UiError> {
        let bind: IpAddr = self.bind.trim().parse().map_err(|_| {
            UiError::new(
                "invalid",
                format!(
                    "{:?} is not an IP address; use 127.0.0.1 for this machine only.",
                    self.bind
                ),
            )
        })?;
        if self.target.trim().is_empty() {
            return Err(UiError::invalid("Choose the node the tunnel goes through."));
        }
        let document = self.document.filter(|d| !d.is_empty()).map(|name| PortDocument {
            name,
            parameters: self
                .parameters
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k, vec![v]))
                .collect(),
        });
        Ok(TunnelSpec {
            target: self.target.trim().to_owned(),
            remote_port: self.remote_port,
            remote_host: self.remote_host.map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()),
            local: SocketAddr::new(bind, self.local_port),
            sessions: self.sessions,
            reason: self.reason.filter(|r| !r.trim().is_empty()),
            document,
            keep_alive: self.keep_alive.then_some(airlock_core::session::KEEP_ALIVE_INTERVAL),
        })
    }
}

#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct TunnelStarted {
    id: u64,
    local_address: String,
}

/// One message on a tunnel's channel.
#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum TunnelMessage {
    Figures {
        figures: TunnelFigures,
        /// Each forward's own, for a profile of several; empty otherwise.
        forwards: Vec<ForwardFigures>,
    },
    #[serde(rename_all = "camelCase")]
    Ended { reason: String, by_user: bool },
}

impl From<TunnelEvent> for TunnelMessage {
    fn from(event: TunnelEvent) -> Self {
        match event {
            TunnelEvent::Figures { total, forwards } => {
                TunnelMessage::Figures { figures: total, forwards }
            }
            TunnelEvent::Ended { reason, by_user } => TunnelMessage::Ended { reason, by_user },
        }
    }
}

async fn start(
    app: tauri::AppHandle,
    state: &AppState,
    aws: &Aws,
    spec: TunnelSpec,
    channel: Channel<TunnelMessage>,
) -> Result<TunnelStarted, UiError> {
    let tunnel = aws.forward(&spec).await?;
    let label = airlock_core::group::destination(&spec);
    Ok(watched(app, state, tunnel.into(), label, None, channel))
}

/// Follows a started tunnel: its figures and end to `channel`, a notification when it drops.
fn watched(
    app: tauri::AppHandle,
    state: &AppState,
    tunnel: monitor::Watched,
    label: String,
    profile: Option<String>,
    channel: Channel<TunnelMessage>,
) -> TunnelStarted {
    let (handle, mut events) = monitor::watch(tunnel);
    let id = state.next_id();
    let local_address = handle.local_addr().to_string();
    state.add_tunnel(id, RunningTunnel { handle, profile });
    crate::tray::refresh(&app);
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if let TunnelEvent::Ended { reason, by_user: false } = &event {
                crate::notify::tunnel_dropped(&app, &label, reason);
            }
            let _ = channel.send(TunnelMessage::from(event));
        }
        tauri::Manager::state::<AppState>(&app).remove_tunnel(id);
        crate::tray::refresh(&app);
    });
    TunnelStarted { id, local_address }
}

/// Starts a tunnel from the form.
#[tauri::command]
#[tracing::instrument(skip(app, state, channel), err)]
pub async fn start_tunnel(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    request: TunnelRequestDto,
    channel: Channel<TunnelMessage>,
) -> Result<TunnelStarted, UiError> {
    let kind = request.kind;
    let spec = request.spec()?;
    let place = state.place()?;
    if kind == TunnelKind::Socks {
        let socks =
            SocksSpec { target: spec.target.clone(), local: spec.local, idle: DEFAULT_IDLE };
        let proxy = place.aws.socks(&socks).await?;
        let label = format!("SOCKS proxy through {}", spec.target);
        return Ok(watched(app, &state, proxy.into(), label, None, channel));
    }
    start(app, &state, &place.aws, spec, channel).await
}

/// Starts a saved profile's forwards (all of them, or none), in the profile's own AWS profile
/// and region when it names them, else where the app looks now.
#[tauri::command]
#[tracing::instrument(skip(app, state, channel), err)]
pub async fn start_profile(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    name: String,
    channel: Channel<TunnelMessage>,
) -> Result<TunnelStarted, UiError> {
    let profile = state.profiles()?.get(&name)?;
    let current = state.place()?;
    let choice = current.choice.for_saved(&profile, (None, None));
    let place = if choice == current.choice {
        current
    } else {
        let files = airlock_core::aws_profiles::ProfileFiles::load();
        Arc::new(Place::open(&choice, || state.demo.endpoint(), &files, state.prompter()).await?.0)
    };
    let group = place.aws.forward_group(&profile.tunnel_specs()).await?;
    Ok(watched(app, &state, group.into(), name.clone(), Some(name), channel))
}

/// Stops a tunnel; its channel reports the end.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn stop_tunnel(state: State<'_, AppState>, id: u64) -> Result<(), UiError> {
    if let Some(tunnel) = state.remove_tunnel(id) {
        tunnel.stop().await;
    }
    Ok(())
}

/// A local port that is free now on `bind` (the operating system's choice).
#[tauri::command]
#[tracing::instrument(err)]
pub async fn free_port(bind: String) -> Result<u16, UiError> {
    let ip: IpAddr = bind
        .trim()
        .parse()
        .map_err(|_| UiError::invalid(format!("{bind:?} is not an IP address.")))?;
    airlock_core::tunnel::free_port(ip).await.map_err(|e| {
        UiError::new(
            "invalid",
            format!("Cannot listen on {ip}: {e}. Use 127.0.0.1, or an address of this machine."),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TunnelRequestDto {
        TunnelRequestDto {
            kind: TunnelKind::Forward,
            target: " i-0123 ".into(),
            remote_port: 5432,
            remote_host: Some(" ".into()),
            local_port: 0,
            bind: "127.0.0.1".into(),
            sessions: 2,
            reason: Some("".into()),
            document: None,
            parameters: HashMap::new(),
            keep_alive: true,
        }
    }

    #[test]
    fn a_request_becomes_a_spec_with_blanks_left_out() {
        let spec = request().spec().unwrap();
        assert_eq!(spec.target, "i-0123");
        assert_eq!(spec.remote_host, None, "a blank host is no host");
        assert_eq!(spec.reason, None);
        assert_eq!(spec.local, SocketAddr::from(([127, 0, 0, 1], 0)));
        assert_eq!(spec.keep_alive, Some(airlock_core::session::KEEP_ALIVE_INTERVAL));
        let custom = TunnelRequestDto {
            document: Some("Team-Db".into()),
            parameters: HashMap::from([
                ("portNumber".into(), "5432".into()),
                ("x".into(), "".into()),
            ]),
            ..request()
        }
        .spec()
        .unwrap();
        assert_eq!(
            custom.document,
            Some(PortDocument {
                name: "Team-Db".into(),
                parameters: HashMap::from([("portNumber".into(), vec!["5432".into()])])
            })
        );
    }

    #[test]
    fn a_bad_bind_address_says_what_to_use() {
        let error = TunnelRequestDto { bind: "localhost".into(), ..request() }.spec().unwrap_err();
        assert!(error.message.contains("127.0.0.1"), "{}", error.message);
    }

    #[test]
    fn messages_cross_as_the_ui_reads_them() {
        let ended = serde_json::to_value(TunnelMessage::from(TunnelEvent::Ended {
            reason: "stopped".into(),
            by_user: true,
        }))
        .unwrap();
        assert_eq!(
            ended,
            serde_json::json!({"kind": "ended", "reason": "stopped", "byUser": true})
        );
        let figures = serde_json::to_value(TunnelMessage::from(TunnelEvent::Figures {
            total: TunnelFigures { bytes_down: 5, ..Default::default() },
            forwards: Vec::new(),
        }))
        .unwrap();
        assert_eq!(figures["kind"], "figures");
        assert_eq!(figures["figures"]["bytesDown"], 5);
    }
}
