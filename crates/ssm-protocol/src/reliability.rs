//! Reliable, ordered delivery for one direction each way: the outgoing window of messages sent
//! but not yet acknowledged, with their resend deadlines, and the incoming reorder buffer.
//!
//! This module owns sequence-number bookkeeping and nothing else: it stores encoded frames and
//! payloads but never encodes, parses or decides message types (`channel` does).
//!
//! Differences from the official implementations, on purpose (see also DEVIATIONS in the crate
//! README):
//! - every message whose timeout has passed is resent, not only the oldest;
//! - the window is bounded and full means "push back on the caller", never "evict the oldest
//!   unacknowledged message" (plugin `AddDataToOutgoingMessageBuffer`);
//! - a duplicate (sequence below the expected one) is acknowledged again, as the agent does, so a
//!   lost acknowledgement cannot cause endless resends;
//! - no RTT sample is taken from a message sent more than once (Karn's rule).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::codec::{Flags, PayloadType, SeqNum};
use crate::rtt::RttEstimator;

/// Messages sent and not yet acknowledged, in sequence order.
#[derive(Debug)]
pub(crate) struct SendWindow {
    next: SeqNum,
    capacity: usize,
    unacked: BTreeMap<SeqNum, Outstanding>,
    /// Sends in time order: `(sent at, seq)`. An entry is stale once its message was acked or
    /// sent again; it is skipped when reached. Time order holds because `now` never goes back.
    deadlines: VecDeque<(Instant, SeqNum)>,
}

#[derive(Debug)]
struct Outstanding {
    frame: Vec<u8>,
    first_sent: Instant,
    last_sent: Instant,
    sends: u32,
}

/// What an acknowledgement did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Acked {
    /// It removed a message; `sample` is its round trip when it was sent once.
    Removed { sample: Option<Duration> },
    /// Nothing was waiting under that number (a duplicate or stray ack).
    Unknown,
}

impl SendWindow {
    pub(crate) fn new(capacity: usize) -> Self {
        SendWindow {
            next: SeqNum(0),
            capacity,
            unacked: BTreeMap::new(),
            deadlines: VecDeque::new(),
        }
    }

    /// Messages that may still be sent before the window is full.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.unacked.len())
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.unacked.len()
    }

    /// The number the next message will carry.
    pub(crate) fn next_seq(&self) -> SeqNum {
        self.next
    }

    /// Whether `seq` was sent and has been acknowledged.
    pub(crate) fn is_acknowledged(&self, seq: SeqNum) -> bool {
        seq < self.next && !self.unacked.contains_key(&seq)
    }

    /// Records a message as sent at `now` under the next number. The caller checked `room`.
    pub(crate) fn push(&mut self, now: Instant, frame: Vec<u8>) -> SeqNum {
        let seq = self.next;
        self.next = seq.next();
        self.unacked.insert(seq, Outstanding { frame, first_sent: now, last_sent: now, sends: 1 });
        self.deadlines.push_back((now, seq));
        seq
    }

    pub(crate) fn ack(&mut self, now: Instant, seq: SeqNum) -> Acked {
        match self.unacked.remove(&seq) {
            Some(message) => Acked::Removed {
                sample: (message.sends == 1)
                    .then(|| now.saturating_duration_since(message.last_sent)),
            },
            None => Acked::Unknown,
        }
    }

    /// When the earliest resend falls due.
    pub(crate) fn next_resend(&mut self, rtt: &RttEstimator) -> Option<Instant> {
        self.drop_stale_deadlines();
        self.deadlines.front().map(|&(sent, _)| sent + rtt.rto())
    }

    /// Takes every message whose timeout has passed, marks it sent again at `now` and returns
    /// the frames to send, oldest first.
    pub(crate) fn take_due(&mut self, now: Instant, rtt: &RttEstimator) -> Vec<Vec<u8>> {
        let mut due = Vec::new();
        loop {
            self.drop_stale_deadlines();
            match self.deadlines.front() {
                Some(&(sent, seq)) if sent + rtt.rto() <= now => {
                    self.deadlines.pop_front();
                    if let Some(frame) = self.mark_sent(now, seq) {
                        due.push(frame);
                    }
                }
                _ => break,
            }
        }
        due
    }

    /// Takes every unacknowledged message for sending again now (after a reconnect).
    pub(crate) fn take_all(&mut self, now: Instant) -> Vec<Vec<u8>> {
        let seqs: Vec<SeqNum> = self.unacked.keys().copied().collect();
        self.deadlines.clear();
        seqs.into_iter().filter_map(|seq| self.mark_sent(now, seq)).collect()
    }

    /// The send time of the oldest unacknowledged message, for the delivery budget.
    pub(crate) fn oldest_first_sent(&self) -> Option<(SeqNum, Instant)> {
        self.unacked.iter().next().map(|(&seq, message)| (seq, message.first_sent))
    }

    fn mark_sent(&mut self, now: Instant, seq: SeqNum) -> Option<Vec<u8>> {
        let message = self.unacked.get_mut(&seq)?;
        message.last_sent = now;
        message.sends = message.sends.saturating_add(1);
        self.deadlines.push_back((now, seq));
        Some(message.frame.clone())
    }

    fn drop_stale_deadlines(&mut self) {
        while let Some(&(sent, seq)) = self.deadlines.front() {
            let live = self.unacked.get(&seq).is_some_and(|message| message.last_sent == sent);
            if live {
                break;
            }
            self.deadlines.pop_front();
        }
    }
}

/// One received stream message, ready to hand to the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// Its sequence number in the peer's stream.
    pub sequence_number: SeqNum,
    /// Header flags (the agent sets SYN on its first message).
    pub flags: Flags,
    /// How to read the payload.
    pub payload_type: PayloadType,
    /// The payload.
    pub payload: Vec<u8>,
}

/// What to do with an incoming stream message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Receipt {
    /// In order: acknowledge it; it and the buffered messages after it are returned in order.
    Deliver(Vec<Delivered>),
    /// Ahead of a gap: stored, acknowledge it.
    Buffered,
    /// Already delivered or already buffered: acknowledge it again, deliver nothing.
    Duplicate,
    /// No room to keep it: do not acknowledge; the peer will send it again.
    Refused,
}

/// The incoming side: the next expected number and messages that arrived ahead of it.
#[derive(Debug)]
pub(crate) struct ReorderBuffer {
    expected: SeqNum,
    capacity: usize,
    /// Most payload bytes kept ahead of the gap.
    byte_capacity: usize,
    ahead: BTreeMap<SeqNum, Delivered>,
    ahead_bytes: usize,
}

impl ReorderBuffer {
    pub(crate) fn new(capacity: usize, byte_capacity: usize) -> Self {
        ReorderBuffer {
            expected: SeqNum(0),
            capacity,
            byte_capacity,
            ahead: BTreeMap::new(),
            ahead_bytes: 0,
        }
    }

    /// Whether messages are kept ahead of a missing one.
    pub(crate) fn has_gap(&self) -> bool {
        !self.ahead.is_empty()
    }

    /// Payload bytes kept ahead of the gap.
    #[cfg(test)]
    pub(crate) fn ahead_bytes(&self) -> usize {
        self.ahead_bytes
    }

    #[cfg(test)]
    pub(crate) fn expected(&self) -> SeqNum {
        self.expected
    }

    /// Sorts one message into delivered, buffered, duplicate or refused. `can_deliver` says
    /// whether the application has room for more; when it has not, in-order messages are
    /// refused (not acknowledged) so that the peer holds on to them.
    pub(crate) fn receive(&mut self, message: Delivered, can_deliver: bool) -> Receipt {
        let seq = message.sequence_number;
        if seq < self.expected {
            return Receipt::Duplicate;
        }
        if seq == self.expected {
            if !can_deliver {
                return Receipt::Refused;
            }
            self.expected = seq.next();
            let mut run = vec![message];
            while let Some(next) = self.ahead.remove(&self.expected) {
                self.ahead_bytes -= next.payload.len();
                self.expected = self.expected.next();
                run.push(next);
            }
            return Receipt::Deliver(run);
        }
        if self.ahead.contains_key(&seq) {
            return Receipt::Duplicate;
        }
        // Only keep what lies within `capacity` of the gap, so a hostile sequence number cannot
        // make the buffer hold messages it will never be able to deliver.
        let distance = seq.0.saturating_sub(self.expected.0);
        let too_many_bytes = self.ahead_bytes + message.payload.len() > self.byte_capacity;
        if self.ahead.len() >= self.capacity || distance > self.capacity as i64 || too_many_bytes {
            return Receipt::Refused;
        }
        self.ahead_bytes += message.payload.len();
        self.ahead.insert(seq, message);
        Receipt::Buffered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtt::RttConfig;

    fn delivered(seq: i64) -> Delivered {
        Delivered {
            sequence_number: SeqNum(seq),
            flags: Flags::NONE,
            payload_type: PayloadType::Output,
            payload: vec![seq as u8],
        }
    }

    fn seqs(receipt: Receipt) -> Vec<i64> {
        match receipt {
            Receipt::Deliver(run) => run.iter().map(|m| m.sequence_number.0).collect(),
            other => panic!("expected a delivery, got {other:?}"),
        }
    }

    #[test]
    fn the_three_sequence_cases() {
        let mut rx = ReorderBuffer::new(8, 1 << 20);
        assert_eq!(rx.receive(delivered(1), true), Receipt::Buffered, "seq > expected is buffered");
        assert_eq!(
            rx.receive(delivered(1), true),
            Receipt::Duplicate,
            "a buffered seq again is a duplicate"
        );
        assert_eq!(
            seqs(rx.receive(delivered(0), true)),
            vec![0, 1],
            "the gap filled delivers the run"
        );
        assert_eq!(
            rx.receive(delivered(0), true),
            Receipt::Duplicate,
            "seq < expected is a duplicate"
        );
        assert_eq!(rx.expected(), SeqNum(2));
    }

    #[test]
    fn no_room_means_refused_not_lost() {
        let mut rx = ReorderBuffer::new(2, 1 << 20);
        assert_eq!(
            rx.receive(delivered(0), false),
            Receipt::Refused,
            "application full: refuse in-order"
        );
        assert_eq!(rx.receive(delivered(5), true), Receipt::Refused, "too far ahead of the gap");
        assert_eq!(rx.receive(delivered(1), true), Receipt::Buffered);
        assert_eq!(rx.receive(delivered(2), true), Receipt::Buffered);
        assert_eq!(rx.receive(delivered(3), true), Receipt::Refused, "buffer holds two");
        assert_eq!(seqs(rx.receive(delivered(0), true)), vec![0, 1, 2]);
    }

    #[test]
    fn messages_ahead_of_a_gap_are_bounded_in_bytes_too() {
        let big = |seq: i64| Delivered { payload: vec![0; 1000], ..delivered(seq) };
        let mut rx = ReorderBuffer::new(4096, 2500);
        assert_eq!(rx.receive(big(1), true), Receipt::Buffered);
        assert_eq!(rx.receive(big(2), true), Receipt::Buffered);
        assert_eq!(
            rx.receive(big(3), true),
            Receipt::Refused,
            "a third kilobyte passes 2500 bytes"
        );
        assert_eq!(rx.receive(delivered(3), true), Receipt::Buffered, "a small one still fits");
        assert_eq!(rx.ahead_bytes(), 2001);
        assert_eq!(seqs(rx.receive(delivered(0), true)), vec![0, 1, 2, 3]);
        assert_eq!(rx.ahead_bytes(), 0, "delivered runs free their bytes");
        assert!(!rx.has_gap());
    }

    #[test]
    fn every_due_message_is_resent_and_acked_ones_are_not() {
        let rtt = RttEstimator::new(RttConfig::default());
        let t0 = Instant::now();
        let mut tx = SendWindow::new(16);
        for i in 0..4u8 {
            tx.push(t0 + Duration::from_millis(i as u64), vec![i]);
        }
        assert_eq!(tx.room(), 12);
        assert!(matches!(
            tx.ack(t0 + Duration::from_millis(50), SeqNum(1)),
            Acked::Removed { sample: Some(_) }
        ));
        assert_eq!(
            tx.next_resend(&rtt),
            Some(t0 + Duration::from_millis(200)),
            "oldest send + RTO"
        );
        assert!(
            tx.take_due(t0 + Duration::from_millis(199), &rtt).is_empty(),
            "nothing due before the RTO"
        );
        let due = tx.take_due(t0 + Duration::from_millis(300), &rtt);
        assert_eq!(
            due,
            vec![vec![0], vec![2], vec![3]],
            "all three unacked messages are due, not just the oldest"
        );
        assert_eq!(
            tx.next_resend(&rtt),
            Some(t0 + Duration::from_millis(500)),
            "a resend restarts that message's timer"
        );
        assert_eq!(
            tx.ack(t0 + Duration::from_millis(310), SeqNum(0)),
            Acked::Removed { sample: None },
            "Karn: a resent message gives no RTT sample"
        );
        assert_eq!(tx.ack(t0 + Duration::from_millis(310), SeqNum(0)), Acked::Unknown);
    }
}
