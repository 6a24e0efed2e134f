//! Property tests: the codec round-trips arbitrary messages and survives arbitrary bytes, and two
//! channels joined by a simulated link that drops, duplicates, reorders and delays frames (and
//! sometimes dies and comes back) deliver every payload exactly once and in order, in a bounded
//! number of steps. Time is virtual: nothing here sleeps or reads a clock after the start.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, UNIX_EPOCH};

use proptest::prelude::*;
use ssm_protocol::codec::{ClientMessage, Flags, MessageId, MessageType, PayloadType, SeqNum};
use ssm_protocol::{Channel, Config, Event, Role};

fn message_type() -> impl Strategy<Value = MessageType> {
    prop_oneof![
        Just(MessageType::InputStreamData),
        Just(MessageType::OutputStreamData),
        Just(MessageType::Acknowledge),
        Just(MessageType::ChannelClosed),
        "[a-z_]{1,32}".prop_map(
            |name| MessageType::from_name(&name).expect("the pattern only makes valid names")
        ),
    ]
}

fn message() -> impl Strategy<Value = ClientMessage> {
    (
        message_type(),
        any::<u32>(),
        any::<u64>(),
        any::<i64>(),
        any::<u64>(),
        any::<[u8; 16]>(),
        any::<u32>(),
        proptest::collection::vec(any::<u8>(), 0..2048),
    )
        .prop_map(
            |(
                message_type,
                schema_version,
                created_date,
                seq,
                flags,
                id,
                payload_type,
                payload,
            )| ClientMessage {
                message_type,
                schema_version,
                created_date,
                sequence_number: SeqNum(seq),
                flags: Flags(flags),
                message_id: MessageId(id),
                payload_type: PayloadType::from_u32(payload_type),
                payload,
            },
        )
}

proptest! {
    #[test]
    fn encode_then_decode_is_the_identity(message in message()) {
        let bytes = message.encode().expect("payloads under 4 GiB encode");
        prop_assert_eq!(ClientMessage::decode(&bytes).expect("what we encode decodes"), message);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        ssm_protocol::fuzzing::decode_message(&bytes);
    }

    #[test]
    fn decoding_a_mutated_valid_frame_never_panics(
        message in message(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = message.encode().expect("encodes");
        for (at, value) in edits {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        ssm_protocol::fuzzing::decode_message(&bytes[..keep]);
    }

    #[test]
    fn json_parsers_never_panic(text in "\\PC{0,200}") {
        ssm_protocol::fuzzing::parse_json_payloads(text.as_bytes());
    }

    #[test]
    fn an_smux_session_fed_arbitrary_bytes_stays_within_its_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        ssm_protocol::fuzzing::smux_session(&bytes);
    }

    #[test]
    fn a_channel_fed_a_hostile_program_delivers_each_number_once_in_order(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        ssm_protocol::fuzzing::channel_frames(&bytes);
    }
}

/// What the simulated link does to each frame.
#[derive(Debug, Clone, Copy)]
struct Faults {
    /// Per mille of frames lost.
    drop: u32,
    /// Per mille of frames delivered twice.
    duplicate: u32,
    /// Per mille of frames held back by an extra random delay (which reorders them).
    reorder: u32,
    /// One-way latency.
    latency: Duration,
    /// After this many frames the link dies (everything in flight is lost) and comes back.
    kill_after: Option<usize>,
}

/// A small deterministic generator, so a failing case replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn per_mille(&mut self, p: u32) -> bool {
        (self.next() % 1000) < u64::from(p)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Side {
    Client,
    Agent,
}

/// Two channels, a link between them and a virtual clock.
struct Pair {
    now: Instant,
    client: Channel,
    agent: Channel,
    /// Frames in flight, by arrival time then a tie-breaking counter.
    link: BTreeMap<(Instant, u64), (Side, Vec<u8>)>,
    counter: u64,
    frames_carried: usize,
    faults: Faults,
    rng: Rng,
    killed: bool,
}

impl Pair {
    fn new(faults: Faults, seed: u64) -> Self {
        let now = Instant::now();
        let unix = UNIX_EPOCH + Duration::from_millis(1_763_812_345_678);
        let client =
            Channel::new(Role::Client, Config { id_seed: seed, ..Config::default() }, now, unix);
        let agent =
            Channel::new(Role::Agent, Config { id_seed: !seed, ..Config::default() }, now, unix);
        Pair {
            now,
            client,
            agent,
            link: BTreeMap::new(),
            counter: 0,
            frames_carried: 0,
            faults,
            rng: Rng(seed),
            killed: false,
        }
    }

    fn channel(&mut self, side: Side) -> &mut Channel {
        match side {
            Side::Client => &mut self.client,
            Side::Agent => &mut self.agent,
        }
    }

    /// Moves every frame either channel wants to send onto the link, applying the faults.
    fn transmit(&mut self) {
        for from in [Side::Client, Side::Agent] {
            while let Some(frame) = self.channel(from).poll_transmit() {
                self.frames_carried += 1;
                if self.rng.per_mille(self.faults.drop) {
                    continue;
                }
                let copies = if self.rng.per_mille(self.faults.duplicate) { 2 } else { 1 };
                for _ in 0..copies {
                    let mut delay = self.faults.latency;
                    if self.rng.per_mille(self.faults.reorder) {
                        delay += Duration::from_millis(self.rng.next() % 300);
                    }
                    let to = match from {
                        Side::Client => Side::Agent,
                        Side::Agent => Side::Client,
                    };
                    self.counter += 1;
                    self.link.insert((self.now + delay, self.counter), (to, frame.clone()));
                }
            }
        }
    }

    /// Kills the link once, as a WebSocket drop: frames in flight are lost, both ends are told,
    /// then both reconnect.
    fn maybe_kill(&mut self) {
        let Some(limit) = self.faults.kill_after else { return };
        if self.killed || self.frames_carried < limit {
            return;
        }
        self.killed = true;
        self.link.clear();
        self.client.handle_link_down();
        self.agent.handle_link_down();
        self.client.handle_link_up(self.now);
        self.agent.handle_link_up(self.now);
    }

    /// Advances the clock to the next arrival or timer and handles it. False when nothing is
    /// left to happen.
    fn step(&mut self) -> bool {
        self.transmit();
        self.maybe_kill();
        let arrival = self.link.keys().next().map(|(at, _)| *at);
        let timers = [self.client.poll_timeout(), self.agent.poll_timeout()];
        let Some(next) = timers.into_iter().flatten().chain(arrival).min() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(entry) = self.link.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, frame) = entry.remove();
            let now = self.now;
            // A frame may be refused (e.g. while the receive buffer is full); it is resent.
            let _ = self.channel(to).handle_frame(now, &frame);
        }
        let now = self.now;
        self.client.handle_timeout(now);
        self.agent.handle_timeout(now);
        true
    }
}

/// Sends `outgoing` from `side` as far as the window allows, from `next`.
fn pump(channel: &mut Channel, now: Instant, outgoing: &[Vec<u8>], next: &mut usize) {
    while *next < outgoing.len() {
        match channel.send(now, PayloadType::Output, &outgoing[*next]) {
            Ok(_) => *next += 1,
            Err(ssm_protocol::ChannelError::WindowFull) => break,
            Err(other) => panic!("send failed: {other}"),
        }
    }
}

fn drain(channel: &mut Channel, into: &mut Vec<Vec<u8>>) {
    while let Some(event) = channel.poll_event() {
        match event {
            Event::Message(m) => into.push(m.payload),
            Event::Writable | Event::PublicationPaused | Event::PublicationStarted => {}
            other => panic!("unexpected event {other:?}"),
        }
    }
}

struct Outcome {
    to_agent: Vec<Vec<u8>>,
    to_client: Vec<Vec<u8>>,
    client_resends: u64,
    agent_resends: u64,
}

/// Runs both directions to completion within `max_steps`, or fails.
fn exchange(
    faults: Faults,
    seed: u64,
    up: &[Vec<u8>],
    down: &[Vec<u8>],
    max_steps: usize,
) -> Result<Outcome, String> {
    let mut pair = Pair::new(faults, seed);
    let (mut next_up, mut next_down) = (0, 0);
    let mut outcome = Outcome {
        to_agent: Vec::new(),
        to_client: Vec::new(),
        client_resends: 0,
        agent_resends: 0,
    };
    for _ in 0..max_steps {
        let now = pair.now;
        pump(&mut pair.client, now, up, &mut next_up);
        pump(&mut pair.agent, now, down, &mut next_down);
        let done = next_up == up.len()
            && next_down == down.len()
            && pair.client.in_flight() == 0
            && pair.agent.in_flight() == 0
            && outcome.to_agent.len() == up.len()
            && outcome.to_client.len() == down.len();
        if done {
            outcome.client_resends = pair.client.stats().messages_resent;
            outcome.agent_resends = pair.agent.stats().messages_resent;
            return Ok(outcome);
        }
        if !pair.step() {
            return Err("the pair went quiet with work left".into());
        }
        drain(&mut pair.agent, &mut outcome.to_agent);
        drain(&mut pair.client, &mut outcome.to_client);
    }
    Err(format!(
        "not done after {max_steps} steps: sent {next_up}/{} up, {next_down}/{} down; delivered {}/{}",
        up.len(),
        down.len(),
        outcome.to_agent.len(),
        outcome.to_client.len()
    ))
}

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..300), 0..300)
}

fn faults() -> impl Strategy<Value = Faults> {
    (0u32..250, 0u32..250, 0u32..250, 0u64..150, proptest::option::of(1usize..400)).prop_map(
        |(drop, duplicate, reorder, latency_ms, kill_after)| Faults {
            drop,
            duplicate,
            reorder,
            latency: Duration::from_millis(latency_ms),
            kill_after,
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn faulty_link_delivers_everything_exactly_once_in_order(
        up in payloads(),
        down in payloads(),
        faults in faults(),
        seed in any::<u64>(),
    ) {
        let outcome = exchange(faults, seed, &up, &down, 500_000).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&outcome.to_agent, &up);
        prop_assert_eq!(&outcome.to_client, &down);
    }

    #[test]
    fn a_clean_link_faster_than_the_initial_timeout_needs_no_resend(
        up in payloads(),
        down in payloads(),
        latency_ms in 0u64..50,
        seed in any::<u64>(),
    ) {
        // Round trip under 100 ms, below the initial 200 ms timeout: every ack beats its timer.
        let faults = Faults { drop: 0, duplicate: 0, reorder: 0, latency: Duration::from_millis(latency_ms), kill_after: None };
        let outcome = exchange(faults, seed, &up, &down, 100_000).map_err(TestCaseError::fail)?;
        prop_assert_eq!(&outcome.to_agent, &up);
        prop_assert_eq!(&outcome.to_client, &down);
        prop_assert_eq!(outcome.client_resends + outcome.agent_resends, 0);
    }
}

#[test]
fn a_lossy_link_resends_but_only_what_was_lost_or_late() {
    // Deterministic companion of the property above: with 20 % loss both ways, resends happen,
    // and the channel still finishes.
    let faults = Faults {
        drop: 200,
        duplicate: 0,
        reorder: 0,
        latency: Duration::from_millis(20),
        kill_after: None,
    };
    let up: Vec<Vec<u8>> = (0..500u32).map(|i| i.to_be_bytes().to_vec()).collect();
    let outcome = exchange(faults, 7, &up, &[], 500_000).expect("finishes");
    assert_eq!(outcome.to_agent, up);
    assert!(outcome.client_resends > 0, "20 % loss must cause resends");
}
