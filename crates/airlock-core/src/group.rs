//! Tunnel groups: the forwards of one saved profile, started together (all of them, or none)
//! and stopped together, each keeping its own figures.

use std::net::SocketAddr;

use crate::aws::Aws;
use crate::session::{ForwardTunnel, OpenError, TunnelFigures, TunnelSpec};

/// One forward of a group could not start; the others were stopped. A group of one says
/// only why its forward could not start.
#[derive(Debug, thiserror::Error)]
pub struct GroupError {
    /// Which forward, counted from 1 in the profile's order.
    pub number: usize,
    /// How many the group holds.
    pub count: usize,
    /// Where it leads, as [`destination`] says it.
    pub destination: String,
    /// Why it could not start.
    #[source]
    pub source: OpenError,
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.count <= 1 {
            return self.source.fmt(f);
        }
        write!(
            f,
            "forward {} of {} ({}): {}; the group's other forwards were stopped",
            self.number, self.count, self.destination, self.source
        )
    }
}

/// Where a forward leads, for the user: `i-0abc port 5432` or `db.internal:5432 through i-0abc`.
pub fn destination(spec: &TunnelSpec) -> String {
    match &spec.remote_host {
        Some(host) => format!("{host}:{} through {}", spec.remote_port, spec.target),
        None => format!("{} port {}", spec.target, spec.remote_port),
    }
}

/// One forward's figures in a group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
pub struct ForwardFigures {
    /// Where local clients connect.
    pub local_address: String,
    /// Where it leads, as the user reads it: `i-0abc port 5432`, `db:5432 through i-0abc`.
    pub destination: String,
    /// Its own totals.
    pub figures: TunnelFigures,
}

/// The running forwards of a group, in the profile's order; never none.
#[derive(Debug)]
pub struct TunnelGroup {
    forwards: Vec<(String, ForwardTunnel)>,
}

impl Aws {
    /// Starts every forward side by side. When one cannot start, the ones that did are
    /// stopped and the first failure (in the profile's order) is returned.
    pub async fn forward_group(&self, specs: &[TunnelSpec]) -> Result<TunnelGroup, GroupError> {
        if specs.is_empty() {
            return Err(GroupError {
                number: 0,
                count: 0,
                destination: String::new(),
                source: OpenError::Invalid("a tunnel group needs at least one forward".into()),
            });
        }
        let started =
            futures_util::future::join_all(specs.iter().map(|spec| self.forward(spec))).await;
        let mut forwards = Vec::new();
        let mut failure = None;
        for (i, (spec, result)) in specs.iter().zip(started).enumerate() {
            match result {
                Ok(tunnel) => forwards.push((destination(spec), tunnel)),
                Err(source) if failure.is_none() => {
                    failure = Some(GroupError {
                        number: i + 1,
                        count: specs.len(),
                        destination: destination(spec),
                        source,
                    })
                }
                Err(_) => {}
            }
        }
        match failure {
            Some(error) => {
                futures_util::future::join_all(forwards.into_iter().map(|(_, t)| t.stop())).await;
                Err(error)
            }
            None => Ok(TunnelGroup { forwards }),
        }
    }
}

impl TunnelGroup {
    /// Where local clients of the first forward connect.
    pub fn local_addr(&self) -> SocketAddr {
        // `forward_group` makes no group without a forward.
        self.forwards[0].1.local_addr()
    }

    /// Each forward's local address and destination, in order.
    pub fn lines(&self) -> Vec<(SocketAddr, &str)> {
        self.forwards.iter().map(|(to, t)| (t.local_addr(), to.as_str())).collect()
    }

    /// Each forward's figures, in order.
    pub fn forward_figures(&self) -> Vec<ForwardFigures> {
        self.forwards
            .iter()
            .map(|(to, t)| ForwardFigures {
                local_address: t.local_addr().to_string(),
                destination: to.clone(),
                figures: t.figures(),
            })
            .collect()
    }

    /// The figures summed over the forwards (the round trip: the highest).
    pub fn figures(&self) -> TunnelFigures {
        let mut total = TunnelFigures::default();
        for (_, tunnel) in &self.forwards {
            total.add(&tunnel.figures());
        }
        total
    }

    /// Resolves when the first forward has ended by itself, naming it and why: a group stops
    /// together, so the caller stops the rest.
    pub async fn wait(&self) -> String {
        if let [(_, only)] = &self.forwards[..] {
            return only.wait().await;
        }
        let waits = self.forwards.iter().map(|(to, t)| {
            Box::pin(async move { format!("the forward to {to} ended: {}", t.wait().await) })
        });
        futures_util::future::select_all(waits).await.0
    }

    /// Stops every forward.
    pub async fn stop(self) {
        futures_util::future::join_all(self.forwards.into_iter().map(|(_, t)| t.stop())).await;
    }
}
