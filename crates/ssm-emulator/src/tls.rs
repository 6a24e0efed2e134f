//! TLS as the service serves it: HTTPS for the APIs and `wss://` for the data channel, under a
//! certificate authority the emulator makes at start (rcgen), so clients trust it the
//! standard way: its PEM in a file for `AWS_CA_BUNDLE`, or in memory for the app's demo fleet.
//!
//! Plaintext (`--plaintext`, for debugging) is served through [`PlainListener`].
//!
//! Handshakes run in their own tasks, so a client that opens a socket and sends nothing does
//! not hold up the others; a finished handshake is handed to the HTTP server through
//! [`TlsListener`].

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority made for one run, and the server certificate it signed.
pub struct Authority {
    ca_pem: String,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

/// Why the authority could not be made.
#[derive(Debug, thiserror::Error)]
#[error("could not make the emulator's TLS certificates: {0}")]
pub struct AuthorityError(String);

impl Authority {
    /// A new CA, and a server certificate for `localhost`, `127.0.0.1`, `::1`, the address
    /// served on and `extra_names`.
    pub fn generate(listen: IpAddr, extra_names: &[String]) -> Result<Authority, AuthorityError> {
        let fail = |e: rcgen::Error| AuthorityError(e.to_string());
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "ssm-emulator test authority");
        ca.distinguished_name.push(DnType::OrganizationName, "Airlock (not a real CA)");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().map_err(fail)?;
        let ca_cert = ca.self_signed(&ca_key).map_err(fail)?;
        let issuer = Issuer::new(ca, ca_key);

        let mut names = vec!["localhost".to_owned()];
        names.extend(extra_names.iter().cloned());
        let mut leaf = CertificateParams::new(names).map_err(fail)?;
        leaf.distinguished_name.push(DnType::CommonName, "ssm-emulator");
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        for ip in
            [IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST), listen]
        {
            if !leaf.subject_alt_names.contains(&SanType::IpAddress(ip)) && !ip.is_unspecified() {
                leaf.subject_alt_names.push(SanType::IpAddress(ip));
            }
        }
        let leaf_key = KeyPair::generate().map_err(fail)?;
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(fail)?;

        let chain = vec![leaf_cert.der().clone(), CertificateDer::from(ca_cert.der().to_vec())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der()));
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| AuthorityError(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| AuthorityError(e.to_string()))?;
        Ok(Authority { ca_pem: ca_cert.pem(), server: Arc::new(server) })
    }

    /// The CA certificate, PEM: what clients must trust.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Serves TLS on `listener`: handshakes in the background, finished ones from the result.
    /// With `proxy`, that listener too serves as an HTTP proxy whose `CONNECT` to any AWS host
    /// name (`*.amazonaws.com`) reaches this server, so a client reaches the emulator as it
    /// reaches AWS, by AWS's own host names and no endpoint override.
    pub fn listen(&self, listener: TcpListener, proxy: Option<TcpListener>) -> TlsListener {
        let acceptor = TlsAcceptor::from(self.server.clone());
        let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
        let (ready, incoming) = mpsc::channel(64);
        if let Some(proxy) = proxy {
            tokio::spawn(serve_proxy(proxy, acceptor.clone(), ready.clone()));
        }
        tokio::spawn(async move {
            loop {
                let (tcp, peer) = accept(&listener).await;
                if ready.is_closed() {
                    return; // the server is gone
                }
                let acceptor = acceptor.clone();
                let ready = ready.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
                    {
                        let _ = ready.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { incoming, local }
    }
}

/// The next connection, with no delay; a failing accept (out of descriptors and the like) is
/// tried again after a short wait instead of spinning.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((tcp, peer)) => {
                let _ = tcp.set_nodelay(true);
                return (tcp, peer);
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// The proxy's side: read `CONNECT host:port`, answer 200 for AWS host names (403 for any
/// other), then run TLS on the tunnel as on a direct connection.
async fn serve_proxy(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let (mut tcp, peer) = accept(&listener).await;
        if ready.is_closed() {
            return;
        }
        let (acceptor, ready) = (acceptor.clone(), ready.clone());
        tokio::spawn(async move {
            let head = async {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                    if tcp.read(&mut byte).await.ok()? == 0 {
                        return None;
                    }
                    head.push(byte[0]);
                }
                Some(String::from_utf8_lossy(&head).into_owned())
            };
            let Ok(Some(head)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, head).await else {
                return;
            };
            let target = head
                .lines()
                .next()
                .and_then(|line| line.strip_prefix("CONNECT "))
                .and_then(|rest| rest.split(' ').next())
                .unwrap_or_default()
                .to_owned();
            let host = target
                .rsplit_once(':')
                .map_or(target.as_str(), |(host, _)| host)
                .to_ascii_lowercase();
            if !(host.ends_with(".amazonaws.com") || host.ends_with(".amazonaws.com.cn")) {
                let _ = tcp.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n").await;
                return;
            }
            if tcp.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await.is_err() {
                return;
            }
            if let Ok(Ok(tls)) = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await
            {
                let _ = ready.send((tls, peer)).await;
            }
        });
    }
}

/// The AWS host names of `region` the server certificate covers in proxy mode.
pub fn aws_host_names(region: &str) -> Vec<String> {
    vec![
        format!("*.{region}.amazonaws.com"),
        "sts.amazonaws.com".into(),
        format!("portal.sso.{region}.amazonaws.com"),
        format!("*.sso.{region}.amazonaws.com"),
    ]
}

/// Finished TLS connections, for the HTTP server.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(accepted) => accepted,
            // The accept task is gone only when the runtime shuts down.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// Plain TCP connections, for `--plaintext`.
pub struct PlainListener(pub TcpListener);

impl axum::serve::Listener for PlainListener {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok((tcp, peer)) => {
                    // Go, which the service and agent are written in, turns Nagle's algorithm
                    // off on every TCP socket; small frames (keystrokes, acks) leave at once.
                    let _ = tcp.set_nodelay(true);
                    return (tcp, peer);
                }
                // Out of descriptors and the like: wait instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}
