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
//! - [`metrics`]: counters served at `/_emulator/metrics`.
//! - [`testkit`]: TCP peers for tests and benchmarks (checked transfers, echo).
//!
//! In a test or the app's demo mode: `Emulator::start(EmulatorConfig::default()).await?` and
//! point the AWS SDK at [`RunningEmulator::endpoint_url`] with [`RunningEmulator::credentials`].

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod agent;
pub mod api;
pub mod documents;
pub mod faults;
pub mod fleet;
pub mod identity;
pub mod metrics;
pub mod service;
pub mod sigv4;
pub mod testkit;

use std::net::SocketAddr;
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
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig { listen: SocketAddr::from(([127, 0, 0, 1], 0)), fleet: Fleet::default_fleet(), paced: true }
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
}

/// The emulator.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts serving on the current tokio runtime.
    pub async fn start(config: EmulatorConfig) -> Result<RunningEmulator, StartError> {
        let listener = TcpListener::bind(config.listen).await.map_err(|source| StartError::Listen { address: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen { address: config.listen, source })?;
        let faults = Arc::new(Faults::new(config.fleet.faults.clone()));
        let metrics = Arc::new(Metrics::default());
        let service = Service::new(&config.fleet, faults.clone(), metrics.clone(), config.paced);
        let router = api::router(api::AppState { service: service.clone(), faults: faults.clone(), metrics: metrics.clone() });
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            // Go, which the service and agent are written in, turns Nagle's algorithm off on
            // every TCP socket; small frames (keystrokes, acks) leave at once.
            let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(RunningEmulator { addr, credentials: config.fleet.credentials[0].clone(), region: config.fleet.region.clone(), service, faults, metrics, _stop: stop })
    }
}

/// A serving emulator; dropping it stops accepting new connections.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
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

    /// The value for `AWS_ENDPOINT_URL`.
    pub fn endpoint_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The first key pair of the fleet.
    pub fn credentials(&self) -> &KeyPair {
        &self.credentials
    }

    /// An AWS SDK configuration that reaches this emulator: its endpoint, region and first key
    /// pair. The app's demo mode and the tests use it; any other client can use the exported
    /// variables `ssm-emulator` prints instead.
    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        let credentials = aws_credential_types::Credentials::new(
            self.credentials.access_key_id.clone(),
            self.credentials.secret_access_key.clone(),
            None,
            None,
            "ssm-emulator",
        );
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(self.region.clone()))
            .endpoint_url(self.endpoint_url())
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(credentials))
            .build()
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
