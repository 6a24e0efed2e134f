//! Pacing of a client's stream messages under the service's limit: the service closes a
//! socket whose client stays above about 1000 stream messages a second for two seconds
//! (protocol.md §5.8), so uploads go through a token bucket just under it. Time is passed in.

use std::time::{Duration, Instant};

/// A token bucket: `rate` messages a second, bursts of a twentieth of a second.
#[derive(Debug, Clone)]
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Pacer {
    /// A full bucket at `now`.
    pub fn new(rate: u32, now: Instant) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = (rate / 20.0).max(1.0);
        Pacer { rate, burst, tokens: burst, at: now }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// Whole messages that may go at `now`.
    pub fn available(&mut self, now: Instant) -> usize {
        self.refill(now);
        self.tokens.floor() as usize
    }

    /// Spends `n` messages' tokens.
    pub fn take(&mut self, n: usize) {
        self.tokens -= n as f64;
    }

    /// When the next message may go: `now` when one may already.
    pub fn next_at(&mut self, now: Instant) -> Instant {
        if self.available(now) > 0 {
            return now;
        }
        let missing = (1.0 - self.tokens).max(0.0);
        self.at + Duration::from_secs_f64(missing / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_allows_its_rate_and_no_more() {
        let t0 = Instant::now();
        let mut pacer = Pacer::new(1000, t0);
        let burst = pacer.available(t0);
        assert_eq!(burst, 50);
        pacer.take(burst);
        assert_eq!(pacer.available(t0), 0);
        assert_eq!(pacer.next_at(t0), t0 + Duration::from_millis(1));
        assert_eq!(pacer.available(t0 + Duration::from_millis(10)), 10);
        assert_eq!(
            pacer.available(t0 + Duration::from_secs(5)),
            50,
            "unused time is capped at the burst"
        );
    }

    #[test]
    fn tokens_that_came_meanwhile_are_due_at_once() {
        // The case that once stalled uploads until the next heartbeat: tokens came in while
        // frames were being written, so the next message is due now, not later.
        let t0 = Instant::now();
        let mut pacer = Pacer::new(1000, t0);
        let burst = pacer.available(t0);
        pacer.take(burst);
        let later = t0 + Duration::from_millis(3);
        assert_eq!(pacer.next_at(later), later);
    }
}
