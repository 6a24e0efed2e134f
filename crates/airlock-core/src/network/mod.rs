//! How Airlock reaches AWS: one [`Network`] per place holds what every connection of that
//! place shares, so an API call and the data channel it opens go the same way.
//!
//! - [`trust`]: which certificate authorities are trusted (`AWS_CA_BUNDLE`, a profile's
//!   `ca_bundle`, `SSL_CERT_FILE`, else the platform's store);
//! - [`proxy`]: which proxy a host is reached through (`HTTPS_PROXY`, `NO_PROXY`, …) and the
//!   `CONNECT` that opens a tunnel;
//! - [`dial`]: TCP, proxy, TLS and WebSocket upgrade, each with a timeout and a typed error.
//!
//! The SDK's HTTPS client ([`Network::sdk_http_client`]) is built from the same roots, the
//! same crypto provider (ring) and the same proxy rules. Nothing here knows Session Manager;
//! [`crate::datachannel`] dials through it and [`crate::doctor`] probes with it.

pub mod dial;
pub mod proxy;
pub mod trust;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

pub use dial::{Connection, Socket, Target};
pub use proxy::{Proxies, ProxyRoute, ProxySource};
pub use trust::{Trust, TrustError, TrustSetting, TrustSettings};

/// How long each stage of opening a connection may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect, to the host or its proxy (and the proxy's answer to CONNECT).
    pub connect: Duration,
    /// The TLS handshake.
    pub tls: Duration,
    /// The WebSocket upgrade.
    pub upgrade: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        // The plugin's dialer allows 45 s for the whole handshake; each stage here gets less,
        // so a dead path is reported sooner and a reconnect can try again.
        Timeouts {
            connect: Duration::from_secs(15),
            tls: Duration::from_secs(15),
            upgrade: Duration::from_secs(15),
        }
    }
}

/// Everything a [`Network`] is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSettings {
    /// Which authorities to trust.
    pub trust: TrustSettings,
    /// Where proxies come from.
    pub proxies: ProxySource,
    /// Stage timeouts.
    pub timeouts: Timeouts,
}

impl NetworkSettings {
    /// The AWS CLI's conventions, from this process's environment and the chosen profile's
    /// `ca_bundle` (name and value).
    pub fn from_env(profile_bundle: Option<(&str, &str)>) -> NetworkSettings {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        NetworkSettings {
            trust: TrustSettings::from_env(&env, profile_bundle),
            proxies: ProxySource::Environment,
            timeouts: Timeouts::default(),
        }
    }
}

/// A stage of opening a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// TCP connect.
    Connect,
    /// The proxy's CONNECT.
    Proxy,
    /// The TLS handshake.
    Tls,
    /// The WebSocket upgrade.
    Upgrade,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Connect => "connecting",
            Stage::Proxy => "opening a tunnel through the proxy",
            Stage::Tls => "the TLS handshake",
            Stage::Upgrade => "the WebSocket upgrade",
        })
    }
}

/// Why a connection could not be opened, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    /// The URL cannot be dialled.
    #[error("{url} cannot be dialled: {why}")]
    BadUrl {
        /// The URL without its query.
        url: String,
        /// Why.
        why: String,
    },
    /// TCP to the host failed.
    #[error("cannot connect to {host}: {source} (check the host name, your network or VPN; behind a proxy, set HTTPS_PROXY)")]
    Connect {
        /// `host:port`.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TCP to the proxy failed, or it broke off.
    #[error("cannot reach the proxy {proxy}: {source} (check HTTPS_PROXY)")]
    ProxyConnect {
        /// The proxy.
        proxy: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The proxy wants credentials.
    #[error("{}", proxy_auth_message(proxy, *sent_credentials))]
    ProxyAuthRequired {
        /// The proxy.
        proxy: String,
        /// Whether credentials were sent (and refused).
        sent_credentials: bool,
    },
    /// The proxy refused the tunnel.
    #[error("the proxy {proxy} refused a tunnel to {destination} (HTTP {status} {reason}): ask whether the proxy allows it, or add the host to NO_PROXY to go direct")]
    ProxyRefused {
        /// The proxy.
        proxy: String,
        /// `host:port`.
        destination: String,
        /// Its status code.
        status: u16,
        /// Its reason phrase.
        reason: String,
    },
    /// The proxy does not speak HTTP.
    #[error("the proxy {proxy} did not answer as an HTTP proxy: {what} (check HTTPS_PROXY)")]
    ProxyProtocol {
        /// The proxy.
        proxy: String,
        /// What it did.
        what: String,
    },
    /// The server's certificate does not verify.
    #[error("the certificate of {host} is not trusted ({detail}); Airlock trusts {trust}. If a corporate proxy inspects TLS, put its CA certificate in a PEM file and point AWS_CA_BUNDLE at it")]
    Untrusted {
        /// The host.
        host: String,
        /// What rustls found wrong.
        detail: String,
        /// What is trusted.
        trust: String,
    },
    /// TLS failed for another reason.
    #[error("TLS with {host} failed: {source}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The WebSocket upgrade was refused.
    #[error("the WebSocket upgrade at {url} failed: {why}")]
    Upgrade {
        /// The URL without its query.
        url: String,
        /// Why.
        why: String,
    },
    /// A stage took too long.
    #[error("{stage} with {host} did not finish within {} s: check your network, VPN or proxy", after.as_secs())]
    TimedOut {
        /// Which stage.
        stage: Stage,
        /// The host.
        host: String,
        /// The limit.
        after: Duration,
    },
}

fn proxy_auth_message(proxy: &str, sent: bool) -> String {
    if sent {
        format!("the proxy {proxy} refused the credentials in its URL (HTTP 407): check the user name and password in HTTPS_PROXY")
    } else {
        format!("the proxy {proxy} asks for credentials (HTTP 407): put them in the proxy URL, as in HTTPS_PROXY=http://user:password@proxy.example:3128")
    }
}

/// The shared parts of every connection of a place.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    trust: Trust,
    tls: Arc<rustls::ClientConfig>,
    proxies: Proxies,
    timeouts: Timeouts,
    sdk: SharedHttpClient,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network")
            .field("trust", &self.inner.trust)
            .field("proxies", &self.inner.proxies)
            .finish_non_exhaustive()
    }
}

/// The crypto provider of every TLS connection Airlock makes.
fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Network {
    /// Loads the trusted roots and builds both clients.
    pub fn new(settings: &NetworkSettings) -> Result<Network, TrustError> {
        let trust = Trust::load(&settings.trust)?;
        let tls = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            // ring supports every safe default version; failing here would be a build mistake.
            .map_err(|e| {
                TrustError::NoSystemRoots(format!("the TLS configuration is invalid: {e}"))
            })?
            .with_root_certificates(trust.roots())
            .with_no_client_auth();
        let proxies = Proxies::new(settings.proxies);
        let sdk = SharedHttpClient::new(SdkHttpClient {
            tls: tls::TlsContext::builder()
                .with_trust_store(
                    tls::TrustStore::empty()
                        .with_native_roots(false)
                        .with_pem_certificate(trust.pem().to_vec()),
                )
                .build()
                .map_err(|e| {
                    TrustError::NoSystemRoots(format!(
                        "the SDK refused the trusted certificates: {e}"
                    ))
                })?,
            proxy: proxies.sdk_config(),
            connectors: Arc::new(Mutex::new(HashMap::new())),
        });
        Ok(Network {
            inner: Arc::new(Inner {
                trust,
                tls: Arc::new(tls),
                proxies,
                timeouts: settings.timeouts,
                sdk,
            }),
        })
    }

    /// The HTTPS client for the AWS SDK: these roots, these proxies.
    pub fn sdk_http_client(&self) -> SharedHttpClient {
        self.inner.sdk.clone()
    }

    /// What is trusted.
    pub fn trust(&self) -> &Trust {
        &self.inner.trust
    }

    /// The proxy rules.
    pub fn proxies(&self) -> &Proxies {
        &self.inner.proxies
    }

    /// The TLS client configuration every connection uses.
    pub fn tls_config(&self) -> Arc<rustls::ClientConfig> {
        self.inner.tls.clone()
    }

    /// The stage timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.inner.timeouts
    }
}

/// The SDK's HTTP client over Airlock's roots and proxies: hyper with rustls (ring), as
/// `aws-smithy-http-client` builds it, one connector (and connection pool) per set of timeouts.
#[derive(Clone)]
struct SdkHttpClient {
    tls: tls::TlsContext,
    proxy: aws_smithy_http_client::proxy::ProxyConfig,
    connectors: ConnectorCache,
}

/// One connector per (connect, read) timeout pair the SDK asks for.
type ConnectorCache =
    Arc<Mutex<HashMap<(Option<Duration>, Option<Duration>), SharedHttpConnector>>>;

impl fmt::Debug for SdkHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdkHttpClient").finish_non_exhaustive()
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let key = (settings.connect_timeout(), settings.read_timeout());
        let mut connectors =
            self.connectors.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        connectors
            .entry(key)
            .or_insert_with(|| {
                let mut builder = aws_smithy_http_client::Connector::builder();
                builder.set_connector_settings(Some(settings.clone()));
                builder.set_sleep_impl(components.sleep_impl());
                let connector = builder
                    .proxy_config(self.proxy.clone())
                    .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
                    .tls_context(self.tls.clone())
                    .build();
                SharedHttpConnector::new(connector)
            })
            .clone()
    }
}

/// The certificate problem somewhere in `error`'s chain, if any, in words. io::Error hides its
/// inner error from `source()`, so the walk looks inside each one.
pub fn find_certificate_error(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        if let Some(rustls::Error::InvalidCertificate(problem)) =
            current.downcast_ref::<rustls::Error>()
        {
            return Some(describe_certificate_error(problem));
        }
        if let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
            if let Some(found) = find_certificate_error(inner) {
                return Some(found);
            }
        }
        next = current.source();
    }
    None
}

fn describe_certificate_error(problem: &rustls::CertificateError) -> String {
    use rustls::CertificateError as E;
    match problem {
        E::UnknownIssuer => "it is signed by an authority Airlock does not trust".into(),
        E::Expired | E::ExpiredContext { .. } => {
            "it has expired (or this computer's clock is wrong)".into()
        }
        E::NotValidYet | E::NotValidYetContext { .. } => {
            "it is not valid yet (or this computer's clock is wrong)".into()
        }
        E::NotValidForName | E::NotValidForNameContext { .. } => {
            "it was issued for another host name".into()
        }
        E::Revoked => "it has been revoked".into(),
        E::BadSignature => "its signature does not verify".into(),
        other => format!("{other:?}"),
    }
}
