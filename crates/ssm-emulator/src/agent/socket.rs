//! The WebSocket end of the data channel: the open-data-channel token check, then frames both
//! ways between the socket and the session task, through the fault injector and the service's
//! message-rate limit.
//!
//! One socket is one link; a session outlives its sockets (see the module above).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use ssm_protocol::payload::OpenDataChannel;
use tokio::sync::mpsc;

use super::{Outgoing, SessionHandle, SessionInput};
use crate::faults::{Direction, Faults};
use crate::metrics::Metrics;

/// How the socket finds its session from the first frame.
pub trait SessionDirectory: Send + Sync + 'static {
    /// Checks `token` for `session_id` and returns the session's task, starting it on the
    /// first open. The error text goes back to the client in the close frame.
    fn attach(&self, session_id: &str, token: &str) -> Result<Attached, String>;

    /// Checks a SigV4-signed upgrade (service `ssmmessages`), as newer clients send it; an
    /// unsigned upgrade is accepted, as the service still does for older clients.
    fn verify_upgrade(&self, _path_and_query: &str, _headers: &HeaderMap) -> Result<(), String> {
        Ok(())
    }
}

/// A session a socket may join.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The session task.
    pub handle: SessionHandle,
    /// Whether the service's message-rate limit applies (off with `--unpaced`).
    pub rate_limited: bool,
}

/// How long a client has to send the open-data-channel frame.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The service closes a socket whose client stays above this many stream messages per second...
pub const RATE_LIMIT_PER_SECOND: u32 = 1000;
/// ...for this many consecutive seconds.
pub const RATE_LIMIT_SECONDS: u32 = 2;

static NEXT_LINK: AtomicU64 = AtomicU64::new(1);

/// What the data-channel route needs.
#[derive(Clone)]
pub struct DataChannelState {
    /// Finds sessions by id and token.
    pub directory: Arc<dyn SessionDirectory>,
    /// The live faults.
    pub faults: Arc<Faults>,
    /// The live counters.
    pub metrics: Arc<Metrics>,
}

/// The route `/v1/data-channel/{session_id}`, to merge into the emulator's router.
pub fn routes(state: DataChannelState) -> Router {
    Router::new().route("/v1/data-channel/{session_id}", get(upgrade)).with_state(state)
}

async fn upgrade(
    ws: WebSocketUpgrade,
    Path(session_id): Path<String>,
    uri: OriginalUri,
    headers: HeaderMap,
    State(state): State<DataChannelState>,
    parts: axum::http::request::Parts,
) -> Response {
    if let Some(ConnectInfo(crate::api::PeerAddr(peer))) =
        parts.extensions.get::<ConnectInfo<crate::api::PeerAddr>>()
    {
        state.metrics.data_channel_peer(peer.ip());
    }
    let target = uri.0.path_and_query().map_or("/", |p| p.as_str());
    if let Err(reason) = state.directory.verify_upgrade(target, &headers) {
        return (StatusCode::FORBIDDEN, reason).into_response();
    }
    ws.on_upgrade(move |socket| {
        serve(socket, session_id, state.directory, state.faults, state.metrics)
    })
}

/// Serves one upgraded socket until it closes.
pub async fn serve(
    mut socket: WebSocket,
    session_id: String,
    directory: Arc<dyn SessionDirectory>,
    faults: Arc<Faults>,
    metrics: Arc<Metrics>,
) {
    let attached = match tokio::time::timeout(OPEN_TIMEOUT, socket.recv()).await {
        Ok(Some(Ok(Message::Text(text)))) => match OpenDataChannel::from_json(text.as_str()) {
            Ok(open) => directory.attach(&session_id, &open.token_value),
            Err(_) => Err("the first frame is not an open-data-channel request".into()),
        },
        Ok(_) => Err("the first frame must be the open-data-channel text frame".into()),
        Err(_) => Err("no open-data-channel frame within 30 s".into()),
    };
    let attached = match attached {
        Ok(attached) => attached,
        Err(reason) => {
            close(socket, Some(CloseFrame { code: 1008, reason: reason.into() })).await;
            return;
        }
    };
    let link = NEXT_LINK.fetch_add(1, Ordering::Relaxed);
    let (outgoing, mut frames) = mpsc::unbounded_channel();
    if !attached.handle.send(SessionInput::Attach { link, outgoing }) {
        close(
            socket,
            Some(CloseFrame { code: 1000, reason: "Session is already terminated".into() }),
        )
        .await;
        return;
    }
    let handle = attached.handle;
    let mut limiter = RateLimiter::new(Instant::now());
    let mut frames_seen: u64 = 0;
    let opened = Instant::now();
    let mut held_in: Option<Vec<u8>> = None;
    let mut held_out: Option<Vec<u8>> = None;
    let mut end: Option<CloseFrame> = None;
    loop {
        let config = faults.get();
        if let Some(limit) = config.close_after_frames {
            if frames_seen >= limit {
                metrics.link_killed();
                break;
            }
        }
        let close_at = config.close_after_secs.map(|s| opened + Duration::from_secs_f64(s));
        tokio::select! {
            message = socket.recv(), if !(config.stall_reading || config.silent) => {
                let bytes = match message {
                    Some(Ok(Message::Binary(bytes))) => bytes.to_vec(),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Text(_))) => continue,
                    _ => break,
                };
                frames_seen += 1;
                metrics.frame_in(bytes.len());
                if attached.rate_limited && is_client_stream_message(&bytes) && limiter.count(Instant::now()) {
                    metrics.link_rate_limited();
                    end = Some(CloseFrame { code: 1008, reason: "Rate exceeded".into() });
                    break;
                }
                for frame in faults.apply(Direction::ToAgent, bytes, &mut held_in).await {
                    handle.send(SessionInput::Frame { link, bytes: frame });
                }
            }
            item = frames.recv() => match item {
                Some(Outgoing::Frame(_)) if config.silent => {}
                Some(Outgoing::Frame(bytes)) => {
                    frames_seen += 1;
                    let mut failed = false;
                    for frame in faults.apply(Direction::ToClient, bytes, &mut held_out).await {
                        metrics.frame_out(frame.len());
                        failed |= socket.send(Message::Binary(frame.into())).await.is_err();
                    }
                    if failed {
                        break;
                    }
                }
                Some(Outgoing::Close) | None => {
                    end = Some(CloseFrame { code: 1000, reason: "Bye".into() });
                    break;
                }
            },
            () = tokio::time::sleep_until(close_at.unwrap_or(opened).into()), if close_at.is_some() => {
                metrics.link_killed();
                break;
            }
        }
    }
    handle.send(SessionInput::Detach { link });
    close(socket, end).await;
}

/// The closing handshake: send Close, then read until the client's Close or the end. Dropping
/// the socket with the client's frames (acks) unread would make the kernel reset the
/// connection, and a reset makes the client lose frames it has not read yet, such as the
/// channel_closed that ended the session.
async fn close(mut socket: WebSocket, frame: Option<CloseFrame>) {
    if socket.send(Message::Close(frame)).await.is_err() {
        return;
    }
    let drain = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, drain).await;
}

/// How long the closing handshake may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a frame is a client stream message, by its type field (bytes 4..36).
fn is_client_stream_message(frame: &[u8]) -> bool {
    frame.get(4..36).is_some_and(|t| t.starts_with(b"input_stream_data"))
}

/// Counts stream messages per one-second window; trips after [`RATE_LIMIT_SECONDS`] windows
/// in a row above [`RATE_LIMIT_PER_SECOND`].
#[derive(Debug)]
struct RateLimiter {
    window_start: Instant,
    in_window: u32,
    windows_over: u32,
}

impl RateLimiter {
    fn new(now: Instant) -> Self {
        RateLimiter { window_start: now, in_window: 0, windows_over: 0 }
    }

    /// Counts one message at `now`; true when the socket must be closed.
    fn count(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.window_start);
        if elapsed >= Duration::from_secs(1) {
            let over = self.in_window > RATE_LIMIT_PER_SECOND && elapsed < Duration::from_secs(2);
            self.windows_over = if over { self.windows_over + 1 } else { 0 };
            self.window_start = now;
            self.in_window = 0;
        }
        self.in_window += 1;
        self.windows_over >= RATE_LIMIT_SECONDS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_trips_after_two_busy_seconds_not_one() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(t0);
        let burst = |limiter: &mut RateLimiter, start: Instant| {
            (0..=RATE_LIMIT_PER_SECOND)
                .any(|i| limiter.count(start + Duration::from_micros(u64::from(i) * 900)))
        };
        assert!(!burst(&mut limiter, t0));
        assert!(!burst(&mut limiter, t0 + Duration::from_secs(1)));
        // The third window starts: two windows over the limit are behind us.
        assert!(limiter.count(t0 + Duration::from_secs(2)));
    }

    #[test]
    fn a_quiet_second_resets_the_count() {
        let t0 = Instant::now();
        let mut limiter = RateLimiter::new(t0);
        for i in 0..=RATE_LIMIT_PER_SECOND {
            limiter.count(t0 + Duration::from_micros(u64::from(i) * 900));
        }
        assert!(!limiter.count(t0 + Duration::from_millis(1500)));
        assert!(!limiter.count(t0 + Duration::from_secs(3)));
    }
}
