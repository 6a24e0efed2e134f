//! The engine against far sides that misbehave on purpose, played by small servers in the test:
//! one that stops in the middle of a dial stage, one that sends a WebSocket frame far larger
//! than any Session Manager message. Each must cost a bounded time and memory and end with an
//! error that names what happened.

use std::time::Duration;

use airlock_core::datachannel::{
    self, DriverConfig, Ending, Endpoint, Notice, Resume, ResumeFuture,
};
use airlock_core::network::{
    DialError, Network, NetworkSettings, ProxySource, Stage, Timeouts, TrustSettings,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A guard against a hung test, not a performance limit.
const HANG_GUARD: Duration = Duration::from_secs(120);

fn network(ca_pem: &str, timeouts: Timeouts) -> Network {
    let trust = TrustSettings::only(ca_pem.as_bytes().to_vec(), "the test's authority");
    Network::new(&NetworkSettings { trust, proxies: ProxySource::Direct, timeouts }).unwrap()
}

/// Accepts connections and holds them open without a word.
async fn hold_open(listener: TcpListener) {
    let mut held = Vec::new();
    while let Ok((stream, _)) = listener.accept().await {
        held.push(stream);
    }
}

#[tokio::test]
async fn each_dial_stage_that_hangs_fails_at_its_own_timeout() {
    let authority = ssm_emulator::tls::Authority::generate([127, 0, 0, 1].into(), &[]).unwrap();
    let timeouts = Timeouts {
        connect: Duration::from_secs(10),
        tls: Duration::from_millis(300),
        upgrade: Duration::from_millis(400),
    };
    let network = network(authority.ca_pem(), timeouts);

    // TCP is accepted; the TLS handshake is never answered.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url =
        format!("wss://127.0.0.1:{}/v1/data-channel/s-1", silent.local_addr().unwrap().port());
    tokio::spawn(hold_open(silent));
    let error = tokio::time::timeout(HANG_GUARD, network.websocket(&url, Vec::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, DialError::TimedOut { stage: Stage::Tls, after, .. } if after == timeouts.tls),
        "{error:?}"
    );

    // TLS completes; the WebSocket upgrade is never answered.
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://127.0.0.1:{}/v1/data-channel/s-1", tcp.local_addr().unwrap().port());
    let mut tls = authority.listen(tcp, None);
    tokio::spawn(async move {
        use axum::serve::Listener;
        let mut held = Vec::new();
        loop {
            held.push(tls.accept().await);
        }
    });
    let error = tokio::time::timeout(HANG_GUARD, network.websocket(&url, Vec::new()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(error, DialError::TimedOut { stage: Stage::Upgrade, after, .. } if after == timeouts.upgrade),
        "{error:?}"
    );
    assert!(error.to_string().contains("127.0.0.1"), "names the host: {error}");
}

struct NoResume;

impl Resume for NoResume {
    fn resume<'a>(&'a mut self, _session_id: &'a str) -> ResumeFuture<'a> {
        Box::pin(async { Ok(None) })
    }
}

/// Answers the WebSocket upgrade by hand, then writes the header of one binary frame of
/// `claimed` bytes and only `sent` of them, and keeps the connection open.
async fn oversized_frame_server(listener: TcpListener, claimed: u64, sent: usize) {
    let Ok((mut stream, _)) = listener.accept().await else { return };
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the client closed during the upgrade");
        request.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&request).into_owned();
    let key = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("Sec-WebSocket-Key: ").or_else(|| l.strip_prefix("sec-websocket-key: "))
        })
        .expect("a WebSocket key");
    let accept =
        tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.trim().as_bytes());
    let answer = format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n");
    stream.write_all(answer.as_bytes()).await.unwrap();
    let mut frame = vec![0x82, 127];
    frame.extend_from_slice(&claimed.to_be_bytes());
    frame.extend(std::iter::repeat_n(0u8, sent));
    stream.write_all(&frame).await.unwrap();
    // Read (and drop) whatever the client sends, until it hangs up.
    let _ = tokio::io::copy(&mut stream, &mut tokio::io::sink()).await;
}

#[tokio::test]
async fn a_64_mib_frame_is_refused_from_its_header_and_ends_the_session() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let claimed = 64 << 20;
    let server = tokio::spawn(oversized_frame_server(listener, claimed, 4096));
    let authority = ssm_emulator::tls::Authority::generate([127, 0, 0, 1].into(), &[]).unwrap();
    let config = DriverConfig::new(network(authority.ca_pem(), Timeouts::default()));
    let endpoint = Endpoint {
        session_id: "s-1".into(),
        stream_url: format!("ws://127.0.0.1:{port}/v1/data-channel/s-1?role=publish_subscribe"),
        token: "token".into(),
        target: "i-0a1b2c3d4e5f60001".into(),
    };
    let mut session = tokio::time::timeout(
        HANG_GUARD,
        datachannel::connect(endpoint, Box::new(NoResume), config),
    )
    .await
    .unwrap()
    .unwrap();
    let ending = tokio::time::timeout(HANG_GUARD, async {
        loop {
            match session.notices.recv().await {
                Some(Notice::Ended(ending)) => break ending,
                Some(Notice::Reconnecting { reason, .. }) => {
                    panic!("a reconnect would only bring the same frame: {reason}")
                }
                Some(_) => {}
                None => panic!("the session's task ended without a word"),
            }
        }
    })
    .await
    .unwrap();
    match &ending {
        Ending::Protocol(reason) => assert!(
            reason.contains(&airlock_core::network::dial::MAX_WEBSOCKET_MESSAGE.to_string()),
            "{reason}"
        ),
        other => panic!("expected a protocol ending, got {other:?}"),
    }
    assert!(ending.to_string().contains("broke the Session Manager protocol"), "{ending}");
    // The client hung up without waiting for the 64 MiB it was promised.
    tokio::time::timeout(HANG_GUARD, server).await.unwrap().unwrap();
}
