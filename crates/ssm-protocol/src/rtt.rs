//! Round-trip time and retransmission timeout estimation, as RFC 6298 describes and with the
//! constants the agent and plugin share (plugin `src/config/config.go`,
//! `CalculateRetransmissionTimeout` in `src/datachannel/streaming.go`; agent
//! `agent/session/config/config.go`).
//!
//! This module owns the arithmetic only. Which acknowledgements give a sample (Karn's rule: none
//! from a message that was sent more than once) is decided by `reliability`.

use std::time::Duration;

/// Tunables of the estimator. The defaults are the official ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttConfig {
    /// RTT assumed before the first sample: 100 ms.
    pub initial_rtt: Duration,
    /// Timeout before the first sample: 200 ms.
    pub initial_rto: Duration,
    /// Floor of the variance term: 10 ms.
    pub clock_granularity: Duration,
    /// Cap on the timeout: 1 s.
    pub max_rto: Duration,
}

impl Default for RttConfig {
    fn default() -> Self {
        RttConfig {
            initial_rtt: Duration::from_millis(100),
            initial_rto: Duration::from_millis(200),
            clock_granularity: Duration::from_millis(10),
            max_rto: Duration::from_secs(1),
        }
    }
}

/// Smoothed RTT, its variance, and the timeout that follows from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    config: RttConfig,
    srtt: Duration,
    rttvar: Duration,
    rto: Duration,
}

impl RttEstimator {
    /// An estimator that has seen no sample yet.
    pub fn new(config: RttConfig) -> Self {
        RttEstimator {
            config,
            srtt: config.initial_rtt,
            rttvar: Duration::ZERO,
            rto: config.initial_rto.min(config.max_rto),
        }
    }

    /// Folds in one measured round trip.
    ///
    /// `RTTVAR = 3/4·RTTVAR + 1/4·|SRTT − R|`, then `SRTT = 7/8·SRTT + 1/8·R`, then
    /// `RTO = SRTT + max(G, 4·RTTVAR)` capped at the maximum. The variance uses the old SRTT,
    /// as RFC 6298 §2.3 orders it.
    pub fn on_sample(&mut self, sample: Duration) {
        let deviation = self.srtt.abs_diff(sample);
        self.rttvar = self.rttvar * 3 / 4 + deviation / 4;
        self.srtt = self.srtt * 7 / 8 + sample / 8;
        let variance_term = (self.rttvar * 4).max(self.config.clock_granularity);
        self.rto = (self.srtt + variance_term).min(self.config.max_rto);
    }

    /// A timeout fired: the timeout doubles, up to the maximum, until the next sample resets
    /// it (RFC 6298 §5.5). The official ends keep it fixed, so that a slow moment makes every
    /// message in flight time out again and again; doubling lets a congested link recover.
    pub fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.config.max_rto);
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round-trip time.
    pub fn srtt(&self) -> Duration {
        self.srtt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_double_the_timeout_up_to_the_cap_and_a_sample_resets_it() {
        let mut rtt = RttEstimator::new(RttConfig::default());
        rtt.back_off();
        assert_eq!(rtt.rto(), Duration::from_millis(400));
        rtt.back_off();
        rtt.back_off();
        assert_eq!(rtt.rto(), Duration::from_secs(1), "capped at the maximum");
        rtt.on_sample(Duration::from_millis(20));
        assert_eq!(
            rtt.rto(),
            Duration::from_millis(170),
            "a sample brings the computed value back"
        );
    }

    #[test]
    fn starts_at_the_official_values() {
        let rtt = RttEstimator::new(RttConfig::default());
        assert_eq!(rtt.rto(), Duration::from_millis(200), "initial RTO is 200 ms");
        assert_eq!(rtt.srtt(), Duration::from_millis(100), "initial RTT is 100 ms");
    }

    #[test]
    fn one_sample_moves_by_the_smoothing_factors() {
        let mut rtt = RttEstimator::new(RttConfig::default());
        rtt.on_sample(Duration::from_millis(20));
        // RTTVAR = 0·3/4 + |100-20|/4 = 20 ms; SRTT = 100·7/8 + 20/8 = 90 ms;
        // RTO = 90 + max(10, 80) = 170 ms.
        assert_eq!(rtt.srtt(), Duration::from_millis(90));
        assert_eq!(rtt.rto(), Duration::from_millis(170));
    }

    #[test]
    fn steady_samples_converge_to_rtt_plus_granularity() {
        let mut rtt = RttEstimator::new(RttConfig::default());
        for _ in 0..200 {
            rtt.on_sample(Duration::from_millis(5));
        }
        let rto = rtt.rto();
        assert!(
            rto >= Duration::from_millis(15) && rto < Duration::from_millis(16),
            "with no variance the timeout is SRTT (≈5 ms) plus the 10 ms granularity, got {rto:?}"
        );
    }

    #[test]
    fn timeout_is_capped() {
        let mut rtt = RttEstimator::new(RttConfig::default());
        rtt.on_sample(Duration::from_secs(30));
        assert_eq!(rtt.rto(), Duration::from_secs(1), "the cap is 1 s");
    }
}
