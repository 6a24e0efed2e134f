//! The far side of Session Manager, for tests, benchmarks and the demo fleet: the SSM and EC2
//! APIs behind real SigV4 checks, and the agent end of the data channel, on one address.
//!
//! # Layout
//! - [`fleet`]: the fleet file (nodes, key pairs, documents, faults) and the default fleet.
//! - [`service`]: what the service knows: nodes, documents, sessions and their tokens.
//! - [`api`]: the HTTP routes: SSM JSON, EC2 Query, control endpoints.
//! - [`sigv4`]: signature verification with `aws-sigv4`.
//! - [`documents`]: Session documents and parameter resolution.
//! - [`agent`]: the agent end of the data channel (pty shells, port forwarding, handshake).
//! - [`faults`]: fault injection on the data channel.
//! - [`kms`]: the account's KMS keys: GenerateDataKey, Decrypt, DescribeKey.
//! - [`metrics`]: counters served at `/_emulator/metrics`.
//! - [`testkit`]: TCP peers for tests and benchmarks (checked transfers, echo); with the
//!   `testkit` feature (on by default, off in the app).
//! - [`tls`]: the certificate authority made at start, and HTTPS / `wss://` serving.
//!
//! In a test: `Emulator::start(EmulatorConfig::default()).await?` serves TLS on a free port;
//! point a client at [`RunningEmulator::endpoint_url`] with [`RunningEmulator::credentials`],
//! trusting [`RunningEmulator::ca_pem`]. The app's demo fleet starts it with
//! [`Audience::OwnerOnly`], so no other user of the machine can use it.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod api;
pub mod documents;
pub mod faults;
pub mod fleet;
pub mod identity;
pub mod kms;
pub mod metrics;
pub mod service;
pub mod sigv4;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::faults::Faults;
use crate::fleet::{Fleet, KeyPair};
use crate::metrics::Metrics;
use crate::service::Service;

/// How to start an emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// The fleet.
    pub fleet: Fleet,
    /// Pace like the agent and limit the client's message rate like the service (default).
    pub paced: bool,
    /// Serve HTTPS and `wss://` under a certificate authority made at start (default), as
    /// AWS is reached; `false` serves plaintext, for debugging.
    pub tls: bool,
    /// Where to write the CA certificate (PEM) for clients' `AWS_CA_BUNDLE`.
    pub ca_file: Option<PathBuf>,
    /// Host names the server certificate covers besides localhost and the loopback addresses.
    pub server_names: Vec<String>,
    /// Also serve an HTTP proxy whose `CONNECT` to AWS's own host names
    /// (`ssm.<region>.amazonaws.com`, `kms.…`, `ssmmessages.…`) reaches this emulator: clients
    /// then need no endpoint override, only `HTTPS_PROXY` and the CA (TLS only).
    pub aws_hosts_proxy: bool,
    /// Who may use it.
    pub audience: Audience,
}

/// Who an emulator serves. Its shells are real shells of the user running it, so anything
/// that can sign a StartSession for it can run commands as that user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Audience {
    /// Tests, benchmarks and developers: the fleet's own (documented) key pairs, the
    /// `/_emulator/*` control routes (with the `testkit` feature), any `Host`.
    #[default]
    Anyone,
    /// Only the process that started it, as the app's demo fleet: every key pair of the fleet is
    /// replaced by a random one made at start and held in memory ([`RunningEmulator::credentials`]
    /// hands it to the owner; it is never printed, logged or written); no control routes; and a
    /// request whose `Host` is not the listener's own `127.0.0.1:<port>` is refused, so a web
    /// page cannot reach it through DNS rebinding. It listens on loopback: the AWS SDK and the
    /// `wss://` stream URL reach endpoints by host and port, so a Unix socket is not open to it.
    OwnerOnly,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            fleet: Fleet::default_fleet(),
            paced: true,
            tls: true,
            ca_file: None,
            server_names: Vec::new(),
            aws_hosts_proxy: false,
            audience: Audience::Anyone,
        }
    }
}

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The address is taken or not ours.
    #[error("cannot listen on {address}: {source} (choose another address with --listen)")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The TLS certificates could not be made.
    #[error(transparent)]
    Tls(#[from] tls::AuthorityError),
    /// The CA file could not be written.
    #[error("cannot write the CA certificate to {}: {source}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// The emulator.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts serving on the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen { address: config.listen, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| StartError::Listen { address: config.listen, source })?;
        let mut fleet = config.fleet.clone();
        if config.audience == Audience::OwnerOnly {
            for pair in &mut fleet.credentials {
                *pair = KeyPair {
                    access_key_id: random_access_key_id(),
                    secret_access_key: random_secret(),
                    ..pair.clone()
                };
            }
        }
        let faults = Arc::new(Faults::new(fleet.faults.clone()));
        let metrics = Arc::new(Metrics::default());
        let service =
            Service::new(&fleet, faults.clone(), metrics.clone(), config.paced, config.tls);
        let state = api::AppState {
            service: service.clone(),
            faults: faults.clone(),
            metrics: metrics.clone(),
        };
        let router = match config.audience {
            Audience::Anyone => api::router(state),
            Audience::OwnerOnly => api::owner_only_router(state, addr),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let mut proxy_addr = None;
        let ca_pem = if config.tls {
            let mut names = config.server_names.clone();
            let proxy = if config.aws_hosts_proxy {
                names.extend(tls::aws_host_names(&config.fleet.region));
                let proxy = TcpListener::bind(SocketAddr::new(addr.ip(), 0))
                    .await
                    .map_err(|source| StartError::Listen { address: addr, source })?;
                proxy_addr = proxy.local_addr().ok();
                Some(proxy)
            } else {
                None
            };
            let authority = tls::Authority::generate(addr.ip(), &names)?;
            if let Some(path) = &config.ca_file {
                std::fs::write(path, authority.ca_pem())
                    .map_err(|source| StartError::CaFile { path: path.clone(), source })?;
            }
            let listener = authority.listen(listener, proxy);
            tokio::spawn(async move {
                let _ = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<api::PeerAddr>(),
                )
                .with_graceful_shutdown(stopped)
                .await;
            });
            Some(authority.ca_pem().to_owned())
        } else {
            tokio::spawn(async move {
                let listener = tls::PlainListener(listener);
                let _ = axum::serve(
                    listener,
                    router.into_make_service_with_connect_info::<api::PeerAddr>(),
                )
                .with_graceful_shutdown(stopped)
                .await;
            });
            None
        };
        Ok(RunningEmulator {
            addr,
            proxy_addr,
            ca_pem,
            credentials: fleet.credentials[0].clone(),
            region: fleet.region.clone(),
            service,
            faults,
            metrics,
            _stop: stop,
        })
    }
}

/// A serving emulator; dropping it stops accepting new connections.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    proxy_addr: Option<SocketAddr>,
    ca_pem: Option<String>,
    credentials: KeyPair,
    region: String,
    service: Arc<Service>,
    faults: Arc<Faults>,
    metrics: Arc<Metrics>,
    _stop: oneshot::Sender<()>,
}

impl RunningEmulator {
    /// The address it serves on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `AWS_ENDPOINT_URL`: `https://` unless serving plaintext.
    pub fn endpoint_url(&self) -> String {
        let scheme = if self.ca_pem.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The value for `HTTPS_PROXY` that reaches this emulator by AWS's host names, when
    /// [`EmulatorConfig::aws_hosts_proxy`] is on.
    pub fn proxy_url(&self) -> Option<String> {
        self.proxy_addr.map(|a| format!("http://{a}"))
    }

    /// The CA certificate (PEM) clients must trust; `None` when serving plaintext.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The first key pair of the fleet (made at start for [`Audience::OwnerOnly`]).
    pub fn credentials(&self) -> &KeyPair {
        &self.credentials
    }

    /// The fleet's region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// The service state (sessions, nodes).
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// The live faults.
    pub fn faults(&self) -> &Arc<Faults> {
        &self.faults
    }

    /// The live counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

/// An access key id shaped like AWS's: `AKIA` and 16 of A–Z and 2–7.
fn random_access_key_id() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    "AKIA"
        .chars()
        .chain((0..16).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char))
        .collect()
}

/// A secret access key: 40 random characters, 238 bits.
fn random_secret() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}
