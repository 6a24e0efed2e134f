//! Fault injection for reliability tests: what the link does to frames in each direction, and
//! when it dies. Set in the fleet file (`[faults]`) or at run time with
//! `POST /_emulator/faults` (the same JSON shape); `GET` returns the current settings.
//!
//! Data-channel faults apply per frame, after the socket and before the session (client →
//! agent) or after the session and before the socket (agent → client). `api_failures` make
//! API actions fail as a broken service or load balancer does.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// What happens to the frames of one direction. Fractions are between 0 and 1.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectionFaults {
    /// Fraction of frames lost.
    pub drop: f64,
    /// Fraction of frames delivered twice.
    pub duplicate: f64,
    /// Fraction of frames held back and delivered after the next one.
    pub reorder: f64,
    /// Delay before each frame, in milliseconds.
    pub delay_ms: u64,
    /// Fraction of frames whose payload digest is corrupted.
    pub corrupt_digest: f64,
}

/// All faults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Frames from the agent to the client.
    pub to_client: DirectionFaults,
    /// Frames from the client to the agent.
    pub to_agent: DirectionFaults,
    /// Close each data-channel socket after this many frames (both directions counted).
    pub close_after_frames: Option<u64>,
    /// Close each data-channel socket this many seconds after it opened.
    pub close_after_secs: Option<f64>,
    /// ResumeSession fails (as when the service no longer knows the session).
    pub refuse_resume: bool,
    /// Stop reading client frames (the socket stays open).
    pub stall_reading: bool,
    /// The link goes silent, as when a network path dies under an open TCP connection: the
    /// socket stays open, nothing is read from it and nothing is written to it (frames for
    /// the client are lost; the agent's reliability layer sends them again later).
    pub silent: bool,
    /// API actions that fail with a given HTTP status and body, whoever calls them.
    pub api_failures: Vec<ApiFailure>,
    /// How far the service's clock is ahead of this machine's (negative: behind), in seconds:
    /// the Date of every answer and the signature check follow it, as when a client's clock
    /// is wrong.
    pub service_clock_ahead_seconds: i64,
}

/// An API action that fails.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiFailure {
    /// `service:Operation`, for example `ec2:DescribeInstances`.
    pub action: String,
    /// The HTTP status (500 to 599 for a server error).
    pub status: u16,
    /// The response body, as it is sent (empty for a proxy or load balancer that sends none).
    pub body: String,
}

impl FaultConfig {
    /// Checks that fractions are fractions.
    pub fn validate(&self) -> Result<(), String> {
        for (name, d) in [("to_client", &self.to_client), ("to_agent", &self.to_agent)] {
            for (field, value) in [
                ("drop", d.drop),
                ("duplicate", d.duplicate),
                ("reorder", d.reorder),
                ("corrupt_digest", d.corrupt_digest),
            ] {
                if !(0.0..=1.0).contains(&value) {
                    return Err(format!(
                        "faults.{name}.{field} is {value}; give a fraction between 0 and 1"
                    ));
                }
            }
        }
        if self
            .close_after_secs
            .is_some_and(|s| !(s.is_finite() && s > 0.0 && s <= MAX_FAULT_SECONDS as f64))
        {
            return Err(format!("faults.close_after_secs must be a positive number of seconds, at most {MAX_FAULT_SECONDS}"));
        }
        if self.service_clock_ahead_seconds.unsigned_abs() > MAX_FAULT_SECONDS {
            return Err(format!("faults.service_clock_ahead_seconds must be within {MAX_FAULT_SECONDS} seconds either way"));
        }
        for failure in &self.api_failures {
            if !(400..=599).contains(&failure.status) || !failure.action.contains(':') {
                return Err(format!("faults.api_failures: {:?} needs an action like ec2:DescribeInstances and a status from 400 to 599", failure.action));
            }
        }
        Ok(())
    }
}

/// The longest time a fault may name (ten years): beyond it a clock or a deadline would
/// overflow.
const MAX_FAULT_SECONDS: u64 = 10 * 365 * 24 * 3600;

impl Faults {
    /// The service's time now (see [`FaultConfig::service_clock_ahead_seconds`]).
    pub fn service_now(&self) -> std::time::SystemTime {
        let ahead = self.get().service_clock_ahead_seconds;
        let now = std::time::SystemTime::now();
        let by = std::time::Duration::from_secs(ahead.unsigned_abs());
        if ahead >= 0 {
            now + by
        } else {
            now.checked_sub(by).unwrap_or(now)
        }
    }

    /// The failure set for `action`, if any.
    pub fn api_failure(&self, action: &str) -> Option<ApiFailure> {
        self.get().api_failures.into_iter().find(|f| f.action.eq_ignore_ascii_case(action))
    }
}

/// A direction of the data channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Agent to client.
    ToClient,
    /// Client to agent.
    ToAgent,
}

/// The live fault settings, shared by every socket.
#[derive(Debug, Default)]
pub struct Faults {
    config: Mutex<FaultConfig>,
    rng: Mutex<u64>,
}

/// Offset of the payload digest in a frame: header length, type, schema, date, sequence number,
/// flags, message id.
const DIGEST_OFFSET: usize = 4 + 32 + 4 + 8 + 8 + 8 + 16;

impl Faults {
    /// Faults with the given settings.
    pub fn new(config: FaultConfig) -> Self {
        Faults { config: Mutex::new(config), rng: Mutex::new(0x5eed_1234_abcd_ef01) }
    }

    /// The current settings.
    pub fn get(&self) -> FaultConfig {
        self.config.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Replaces the settings.
    pub fn set(&self, config: FaultConfig) -> Result<(), String> {
        config.validate()?;
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    fn chance(&self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        let mut state = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    /// Applies the faults of `direction` to one frame: returns the frames to pass on now, in
    /// order. `held` keeps a frame held back for reordering until the next one.
    pub async fn apply(
        &self,
        direction: Direction,
        mut frame: Vec<u8>,
        held: &mut Option<Vec<u8>>,
    ) -> Vec<Vec<u8>> {
        let config = self.get();
        let faults = match direction {
            Direction::ToClient => &config.to_client,
            Direction::ToAgent => &config.to_agent,
        };
        if faults.delay_ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(faults.delay_ms)).await;
        }
        if self.chance(faults.drop) {
            return held.take().into_iter().collect();
        }
        if self.chance(faults.corrupt_digest) {
            if let Some(byte) = frame.get_mut(DIGEST_OFFSET) {
                *byte ^= 0xff;
            }
        }
        let mut out = Vec::with_capacity(3);
        if held.is_none() && self.chance(faults.reorder) {
            *held = Some(frame);
            return out;
        }
        if self.chance(faults.duplicate) {
            out.push(frame.clone());
        }
        out.push(frame);
        out.extend(held.take());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reorder_holds_a_frame_until_the_next() {
        let faults = Faults::new(FaultConfig {
            to_agent: DirectionFaults { reorder: 1.0, ..Default::default() },
            ..Default::default()
        });
        let mut held = None;
        assert!(faults.apply(Direction::ToAgent, vec![1], &mut held).await.is_empty());
        // The held frame goes out after the next one, which is not held (only one at a time).
        assert_eq!(
            faults.apply(Direction::ToAgent, vec![2], &mut held).await,
            vec![vec![2], vec![1]]
        );
    }

    #[tokio::test]
    async fn drop_and_duplicate_do_what_they_say() {
        let faults = Faults::new(FaultConfig {
            to_client: DirectionFaults { drop: 1.0, ..Default::default() },
            ..Default::default()
        });
        assert!(faults.apply(Direction::ToClient, vec![1], &mut None).await.is_empty());
        assert_eq!(
            faults.apply(Direction::ToAgent, vec![1], &mut None).await,
            vec![vec![1]],
            "other direction untouched"
        );
        faults
            .set(FaultConfig {
                to_client: DirectionFaults { duplicate: 1.0, ..Default::default() },
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            faults.apply(Direction::ToClient, vec![1], &mut None).await,
            vec![vec![1], vec![1]]
        );
    }

    #[test]
    fn fractions_outside_zero_to_one_are_refused() {
        let bad = FaultConfig {
            to_client: DirectionFaults { drop: 1.5, ..Default::default() },
            ..Default::default()
        };
        assert!(Faults::default().set(bad).unwrap_err().contains("to_client.drop"));
    }

    proptest::proptest! {
        /// Any JSON body for the fault route is a configuration or a refusal, never a panic, and
        /// what is accepted is within range.
        #[test]
        fn any_fault_json_is_taken_or_refused(
            drop in -2.0f64..2.0, duplicate in proptest::num::f64::ANY, delay in proptest::num::i64::ANY, text in "\\PC{0,200}",
        ) {
            let _ = serde_json::from_str::<FaultConfig>(&text);
            let body = serde_json::json!({"to_client": {"drop": drop, "duplicate": duplicate}, "close_after_secs": delay as f64, "service_clock_ahead_seconds": delay});
            if let Ok(config) = serde_json::from_value::<FaultConfig>(body) {
                let faults = Faults::new(FaultConfig::default());
                if faults.set(config.clone()).is_ok() {
                    proptest::prop_assert!((0.0..=1.0).contains(&config.to_client.drop));
                    // What is accepted can be used: the service's clock and a socket's deadline.
                    let _ = faults.service_now();
                    if let Some(secs) = config.close_after_secs {
                        let _ = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
                    }
                }
            }
        }
    }
}
