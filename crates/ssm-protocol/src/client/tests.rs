//! The client session against a scripted agent (a `Channel` in the agent role, the agent's
//! handshake and cipher), in virtual time: every decision without a socket.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::handshake::{AgentHandshake, PortMode, PortSession};
use crate::kms::{AgentChallenge, Cipher, DataKey, End};
use crate::payload::{HandshakeResponse, SessionTypeRequest};

const SESSION: &str = "alice-0123456789abcdef0";
const TARGET: &str = "i-0a1b2c3d4e5f60001";

struct Agent {
    channel: Channel,
}

impl Agent {
    fn new(now: Instant) -> Agent {
        Agent {
            channel: Channel::new(
                Role::Agent,
                Config { id_seed: 99, ..Config::default() },
                now,
                UNIX_EPOCH,
            ),
        }
    }

    fn send(&mut self, now: Instant, payload_type: PayloadType, payload: &[u8]) {
        self.channel.send(now, payload_type, payload).expect("room in the agent's window");
    }

    /// Every stream message the agent has received, in order.
    fn received(&mut self) -> Vec<Delivered> {
        std::iter::from_fn(|| self.channel.poll_event())
            .filter_map(|e| match e {
                Event::Message(m) => Some(m),
                _ => None,
            })
            .collect()
    }
}

fn client(now: Instant, rate: Option<u32>) -> ClientSession {
    let mut config = ClientConfig::new(SESSION, TARGET, 7, [3; 12]);
    config.message_rate = rate;
    ClientSession::new(config, now, UNIX_EPOCH)
}

/// Moves frames both ways until neither side has anything to send.
fn exchange(client: &mut ClientSession, agent: &mut Agent, now: Instant) {
    for _ in 0..100 {
        let mut moved = false;
        while let Some(frame) = client.poll_transmit() {
            agent.channel.handle_frame(now, &frame).expect("the client's frames decode");
            moved = true;
        }
        while let Some(frame) = agent.channel.poll_transmit() {
            client.handle_frame(now, &frame).expect("the agent's frames decode");
            moved = true;
        }
        if !moved {
            return;
        }
    }
    panic!("the two ends never went quiet");
}

fn events(client: &mut ClientSession, now: Instant) -> Vec<SessionEvent> {
    std::iter::from_fn(|| client.poll_event(now)).collect()
}

fn data_key() -> DataKey {
    DataKey {
        plaintext: zeroize::Zeroizing::new((100..164u8).collect()),
        ciphertext_blob: b"kms-blob-for-the-agent".to_vec(),
    }
}

#[test]
fn a_shell_without_handshake_is_ready_at_its_first_output_and_only_then_takes_input() {
    let t0 = Instant::now();
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    client.send_size(t0, TerminalSize { cols: 100, rows: 30 });
    client.send_input(t0, b"uname\r");
    exchange(&mut client, &mut agent, t0);
    assert!(agent.received().is_empty(), "nothing goes before the session is ready");

    agent.send(t0, PayloadType::Output, b"$ ");
    exchange(&mut client, &mut agent, t0);
    let seen = events(&mut client, t0);
    assert_eq!(
        seen[0],
        SessionEvent::Ready(Ready {
            kind: SessionKind::Shell,
            encrypted_with: None,
            customer_message: String::new()
        })
    );
    assert_eq!(seen[1], SessionEvent::Output(b"$ ".to_vec()));
    exchange(&mut client, &mut agent, t0);
    let got = agent.received();
    assert_eq!(
        got.iter().map(|m| m.payload_type).collect::<Vec<_>>(),
        [PayloadType::Size, PayloadType::Output],
        "the size first, then the keystrokes"
    );
    assert_eq!(
        TerminalSize::from_bytes(&got[0].payload).unwrap(),
        TerminalSize { cols: 100, rows: 30 }
    );
    assert_eq!(got[1].payload, b"uname\r");
}

#[test]
fn a_port_handshake_is_answered_and_completed() {
    let t0 = Instant::now();
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let session = SessionTypeRequest {
        session_type: "Port".into(),
        properties: serde_json::json!({"portNumber": "5432", "type": "LocalPortForwarding", "localPortNumber": "0"}),
    };
    let handshake = AgentHandshake::new(t0, "3.3.987.0", &session, None);
    agent.send(t0, PayloadType::HandshakeRequest, &handshake.request().to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(events(&mut client, t0).is_empty(), "nothing to report before HandshakeComplete");
    exchange(&mut client, &mut agent, t0);
    let response = HandshakeResponse::from_bytes(&agent.received()[0].payload).unwrap();
    let (negotiated, complete) = handshake.handle_response(t0, &response, "").unwrap();
    assert!(negotiated.mux && !negotiated.keep_alive && negotiated.kms_ciphertext.is_none());
    agent.send(t0, PayloadType::HandshakeComplete, &complete.to_bytes());
    exchange(&mut client, &mut agent, t0);
    match &events(&mut client, t0)[..] {
        [SessionEvent::Ready(Ready {
            kind: SessionKind::Port(PortSession { mode: PortMode::Mux { keep_alive: false }, .. }),
            encrypted_with: None,
            ..
        })] => {}
        other => panic!("a multiplexed port session, got {other:?}"),
    }
}

#[test]
fn a_session_never_made_ready_ends_at_the_handshake_timeout_and_a_ready_one_never_does() {
    let t0 = Instant::now();
    let timeout = ClientConfig::new(SESSION, TARGET, 7, [3; 12]).handshake_timeout;
    // The agent asks, the client answers, and HandshakeComplete never comes.
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let session = SessionTypeRequest {
        session_type: "Port".into(),
        properties: serde_json::json!({"portNumber": "22"}),
    };
    let handshake = AgentHandshake::new(t0, "3.3.987.0", &session, None);
    agent.send(t0, PayloadType::HandshakeRequest, &handshake.request().to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(events(&mut client, t0).is_empty());
    let mut now = t0;
    while let Some(at) = client.poll_timeout(now) {
        if at >= t0 + timeout {
            now = at;
            break;
        }
        now = at;
        client.handle_timeout(now);
    }
    assert_eq!(now, t0 + timeout, "the deadline is among the session's timers");
    client.handle_timeout(now);
    assert_eq!(
        events(&mut client, now),
        [SessionEvent::Ended(SessionEnd::HandshakeTimedOut(timeout))]
    );

    // A shell ready at its first output has no such deadline left.
    let (mut shell, mut agent) = (self::client(t0, None), Agent::new(t0));
    agent.send(t0, PayloadType::Output, b"$ ");
    exchange(&mut shell, &mut agent, t0);
    events(&mut shell, t0);
    exchange(&mut shell, &mut agent, t0);
    assert_eq!(shell.poll_timeout(t0), None, "nothing pending once ready");
    shell.handle_timeout(t0 + timeout * 2);
    assert!(events(&mut shell, t0 + timeout * 2).is_empty());
}

/// The agent's whole KMS handshake for a shell, with a data key the test plays KMS for.
fn encrypted_shell(
    t0: Instant,
    agent_version: &str,
    challenge: Option<&str>,
) -> (ClientSession, Agent, Cipher, DataKeyRequest) {
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let session = SessionTypeRequest {
        session_type: "Standard_Stream".into(),
        properties: serde_json::Value::Null,
    };
    let kms = crate::payload::KmsEncryptionRequest {
        kms_key_id: "arn:aws:kms:us-east-1:123456789012:key/demo".into(),
        challenge: challenge.map(str::to_owned),
    };
    let handshake = AgentHandshake::new(t0, agent_version, &session, Some(&kms));
    agent.send(t0, PayloadType::HandshakeRequest, &handshake.request().to_bytes());
    exchange(&mut client, &mut agent, t0);
    let request = match &events(&mut client, t0)[..] {
        [SessionEvent::DataKeyNeeded(request)] => request.clone(),
        other => panic!("the client asks for a data key, got {other:?}"),
    };
    client.handle_data_key(t0, data_key());
    exchange(&mut client, &mut agent, t0);
    let response = HandshakeResponse::from_bytes(&agent.received()[0].payload).unwrap();
    let (negotiated, complete) =
        handshake.handle_response(t0, &response, kms::ENCRYPTED_MESSAGE).unwrap();
    assert_eq!(
        negotiated.kms_ciphertext.as_deref(),
        Some(&b"kms-blob-for-the-agent"[..]),
        "the blob goes back for the agent to decrypt"
    );
    assert_eq!(
        negotiated.challenge_acknowledged,
        request.encryption_context.contains_key(kms::CONTEXT_RANDOM_CHALLENGE)
    );
    let mut cipher = Cipher::new(End::Agent, &data_key().plaintext, [9; 12]).unwrap();
    let (challenge, payload) = AgentChallenge::new(&mut cipher, [42; 64]).unwrap();
    agent.send(t0, PayloadType::EncChallengeRequest, &payload.to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(
        events(&mut client, t0).is_empty(),
        "the challenge is answered without a word to the caller"
    );
    exchange(&mut client, &mut agent, t0);
    let answer =
        crate::payload::EncryptionChallenge::from_bytes(&agent.received()[0].payload).unwrap();
    challenge
        .check(&cipher, &answer)
        .expect("the client opened and sealed the challenge with the right halves");
    agent.send(t0, PayloadType::HandshakeComplete, &complete.to_bytes());
    exchange(&mut client, &mut agent, t0);
    (client, agent, cipher, request)
}

#[test]
fn a_kms_shell_asks_for_a_key_answers_the_challenge_and_encrypts_both_ways() {
    let t0 = Instant::now();
    let challenge = "AAECAwQFBgcICQoLDA0ODw==";
    let (mut client, mut agent, mut cipher, request) =
        encrypted_shell(t0, "3.3.987.0", Some(challenge));
    assert_eq!(request.key_id, "arn:aws:kms:us-east-1:123456789012:key/demo");
    assert_eq!(request.number_of_bytes, 64);
    assert_eq!(
        request.encryption_context.get(kms::CONTEXT_SESSION_ID).map(String::as_str),
        Some(SESSION)
    );
    assert_eq!(
        request.encryption_context.get(kms::CONTEXT_TARGET_ID).map(String::as_str),
        Some(TARGET)
    );
    assert_eq!(
        request.encryption_context.get(kms::CONTEXT_RANDOM_CHALLENGE).map(String::as_str),
        Some(challenge),
        "offered by an agent from 3.3.808.0"
    );
    match &events(&mut client, t0)[..] {
        [SessionEvent::Ready(ready)] => {
            assert_eq!(
                ready.encrypted_with.as_deref(),
                Some("arn:aws:kms:us-east-1:123456789012:key/demo")
            );
            assert_eq!(ready.customer_message, kms::ENCRYPTED_MESSAGE);
        }
        other => panic!("ready and encrypted, got {other:?}"),
    }
    // Output, stderr and exit code come encrypted; flags plain.
    agent.send(t0, PayloadType::Output, &cipher.seal(b"hello\r\n").unwrap());
    agent.send(t0, PayloadType::StdErr, &cipher.seal(b"warning\n").unwrap());
    agent.send(t0, PayloadType::ExitCode, &cipher.seal(b"EXIT_CODE: 3").unwrap());
    exchange(&mut client, &mut agent, t0);
    assert_eq!(
        events(&mut client, t0),
        [
            SessionEvent::Output(b"hello\r\n".to_vec()),
            SessionEvent::Stderr(b"warning\n".to_vec()),
            SessionEvent::ExitCode(3)
        ]
    );
    // Keystrokes go encrypted with the client's half; a size goes plain.
    client.send_input(t0, b"exit\r");
    client.send_size(t0, TerminalSize { cols: 80, rows: 24 });
    exchange(&mut client, &mut agent, t0);
    let got = agent.received();
    let size = got.iter().find(|m| m.payload_type == PayloadType::Size).expect("the size");
    assert_eq!(
        TerminalSize::from_bytes(&size.payload).unwrap().cols,
        80,
        "sizes are not encrypted"
    );
    let keys = got.iter().find(|m| m.payload_type == PayloadType::Output).expect("the keystrokes");
    assert_ne!(keys.payload, b"exit\r", "keystrokes are not sent in the clear");
    assert_eq!(cipher.open(&keys.payload).unwrap(), b"exit\r");
}

#[test]
fn older_agents_get_the_two_key_context_whatever_they_send() {
    let t0 = Instant::now();
    let (_, _, _, request) = encrypted_shell(t0, "3.2.582.0", None);
    assert_eq!(request.encryption_context.len(), 2, "no challenge offered: the two-key context");
    let (_, _, _, request) = encrypted_shell(t0, "3.3.700.0", Some("AAAA"));
    assert!(
        !request.encryption_context.contains_key(kms::CONTEXT_RANDOM_CHALLENGE),
        "an agent before 3.3.808.0 would not decrypt with a third key"
    );
}

#[test]
fn a_key_that_cannot_be_had_is_told_to_the_agent_and_ends_the_session() {
    let t0 = Instant::now();
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let session = SessionTypeRequest {
        session_type: "InteractiveCommands".into(),
        properties: serde_json::Value::Null,
    };
    let kms = crate::payload::KmsEncryptionRequest {
        kms_key_id: "alias/sessions".into(),
        challenge: None,
    };
    let handshake = AgentHandshake::new(t0, "3.3.987.0", &session, Some(&kms));
    agent.send(t0, PayloadType::HandshakeRequest, &handshake.request().to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(matches!(&events(&mut client, t0)[..], [SessionEvent::DataKeyNeeded(_)]));
    client.handle_data_key_failure(
        t0,
        "the session needs kms:GenerateDataKey on alias/sessions".into(),
    );
    exchange(&mut client, &mut agent, t0);
    assert_eq!(
        events(&mut client, t0),
        [SessionEvent::Ended(SessionEnd::DataKey(
            "the session needs kms:GenerateDataKey on alias/sessions".into()
        ))]
    );
    let response = HandshakeResponse::from_bytes(&agent.received()[0].payload).unwrap();
    let failed = &response.processed_client_actions[1];
    assert_eq!(failed.action_type, "KMSEncryption");
    assert_eq!(failed.error, "Failed to process action KMSEncryption: the session needs kms:GenerateDataKey on alias/sessions");
    assert!(handshake.handle_response(t0, &response, "").is_err(), "the agent refuses the session");
    client.send_input(t0, b"ignored");
    assert!(!client.wants_input() && client.poll_transmit().is_none(), "nothing more is sent");
}

#[test]
fn output_that_does_not_decrypt_ends_the_session_instead_of_stalling_it() {
    let t0 = Instant::now();
    let (mut client, mut agent, _, _) = encrypted_shell(t0, "3.3.987.0", None);
    events(&mut client, t0);
    let mut stranger = Cipher::new(End::Agent, &[7u8; 64], [0; 12]).unwrap();
    agent.send(t0, PayloadType::Output, &stranger.seal(b"not for you").unwrap());
    exchange(&mut client, &mut agent, t0);
    assert_eq!(
        events(&mut client, t0),
        [SessionEvent::Ended(SessionEnd::Undecryptable(CipherError::Rejected))]
    );
}

#[test]
fn an_encrypted_session_keeps_its_keys_across_a_new_socket() {
    let t0 = Instant::now();
    let (mut client, mut agent, cipher, _) = encrypted_shell(t0, "3.3.987.0", None);
    events(&mut client, t0);
    client.handle_link_down();
    client.send_input(t0, b"typed while the link was down\r");
    assert_eq!(client.poll_transmit(), None, "nothing leaves while the link is down");
    client.handle_link_up(t0);
    exchange(&mut client, &mut agent, t0);
    let got = agent.received();
    assert_eq!(
        cipher.open(&got[0].payload).unwrap(),
        b"typed while the link was down\r",
        "same keys, no new handshake"
    );
}

#[test]
fn uploads_are_paced_under_the_services_limit() {
    let t0 = Instant::now();
    let (mut client, mut agent) = (client(t0, Some(1000)), Agent::new(t0));
    agent.send(t0, PayloadType::Output, b"$ ");
    exchange(&mut client, &mut agent, t0);
    events(&mut client, t0);
    client.send_input(t0, &vec![b'x'; 100 * 1024]);
    let mut sent = 0;
    while client.poll_transmit().is_some() {
        sent += 1;
    }
    assert_eq!(sent, 50, "a burst of a twentieth of a second at 1000 a second");
    assert_eq!(
        client.poll_timeout(t0),
        Some(t0 + Duration::from_millis(1)),
        "the next message is due when its token is"
    );
    let later = t0 + Duration::from_millis(10);
    client.handle_timeout(later);
    let mut more = 0;
    while client.poll_transmit().is_some() {
        more += 1;
    }
    assert_eq!(more, 10, "ten messages in ten milliseconds");
    assert_eq!(
        client.input_held(),
        100 * 1024 - 60 * 1024,
        "the rest waits, in 1024-byte messages"
    );
}

#[test]
fn undrained_events_leave_the_agents_messages_unacknowledged() {
    let t0 = Instant::now();
    let mut config = ClientConfig::new(SESSION, TARGET, 7, [3; 12]);
    config.channel.receive_buffer = 4096;
    let (mut client, mut agent) = (ClientSession::new(config, t0, UNIX_EPOCH), Agent::new(t0));
    for _ in 0..8 {
        agent.send(t0, PayloadType::Output, &[b'o'; 1024]);
    }
    exchange(&mut client, &mut agent, t0);
    // Four fill the client's buffer; the fifth finds no room and stays unacknowledged (the
    // three behind it wait, acknowledged, in the reorder buffer, as the agent keeps them too).
    assert_eq!(
        agent.channel.in_flight(),
        1,
        "the message that found no room is the agent's to send again"
    );
    let delivered = events(&mut client, t0).len();
    assert_eq!(delivered, 5, "ready, then the four outputs");
    let later = t0 + Duration::from_secs(2);
    agent.channel.handle_timeout(later);
    exchange(&mut client, &mut agent, later);
    assert_eq!(agent.channel.in_flight(), 0, "resent once there was room");
    assert_eq!(events(&mut client, later).len(), 4, "and then the rest, in order");
}

#[test]
fn a_handshake_complete_before_any_request_fails_as_the_plugin_does() {
    let t0 = Instant::now();
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let complete = crate::payload::HandshakeComplete {
        handshake_time_to_complete: 0,
        customer_message: String::new(),
    };
    agent.send(t0, PayloadType::HandshakeComplete, &complete.to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(matches!(
        &events(&mut client, t0)[..],
        [SessionEvent::Ended(SessionEnd::BadHandshake(_))]
    ));
}

/// A basic (one connection at a time) port session, ready, with an older agent.
fn basic_port(t0: Instant) -> (ClientSession, Agent) {
    let (mut client, mut agent) = (client(t0, None), Agent::new(t0));
    let session = SessionTypeRequest {
        session_type: "Port".into(),
        properties: serde_json::json!({"portNumber": "22", "type": "LocalPortForwarding"}),
    };
    let handshake = AgentHandshake::new(t0, "3.0.196.0", &session, None);
    agent.send(t0, PayloadType::HandshakeRequest, &handshake.request().to_bytes());
    exchange(&mut client, &mut agent, t0);
    assert!(events(&mut client, t0).is_empty());
    exchange(&mut client, &mut agent, t0);
    let response = HandshakeResponse::from_bytes(&agent.received()[0].payload).unwrap();
    let (_, complete) = handshake.handle_response(t0, &response, "").unwrap();
    agent.send(t0, PayloadType::HandshakeComplete, &complete.to_bytes());
    exchange(&mut client, &mut agent, t0);
    let ready = events(&mut client, t0);
    assert!(
        matches!(
            &ready[..],
            [SessionEvent::Ready(Ready {
                kind: SessionKind::Port(PortSession { mode: PortMode::Basic, .. }),
                ..
            })]
        ),
        "an agent this old forwards one connection at a time: {ready:?}"
    );
    (client, agent)
}

fn outputs(client: &mut ClientSession, now: Instant) -> Vec<Vec<u8>> {
    events(client, now)
        .into_iter()
        .filter_map(|e| match e {
            SessionEvent::Output(bytes) => Some(bytes),
            _ => None,
        })
        .collect()
}

#[test]
fn in_basic_mode_the_closed_connections_output_never_reaches_the_next() {
    let t0 = Instant::now();
    let (mut client, mut agent) = basic_port(t0);
    agent.send(t0, PayloadType::Output, b"first connection");
    exchange(&mut client, &mut agent, t0);
    assert_eq!(outputs(&mut client, t0), [b"first connection".to_vec()]);

    // The local connection closes. The destination was still talking: output is in flight
    // when the flag reaches the agent, so it arrives ahead of the flag's acknowledgement.
    client.send_flag(t0, PortFlag::DisconnectToPort);
    let flag = client.poll_transmit().expect("the flag goes at once");
    agent.send(t0, PayloadType::Output, b"in flight");
    agent.channel.handle_frame(t0, &flag).unwrap();
    assert_eq!(agent.received()[0].payload_type, PayloadType::Flag);
    // A straggler the agent sends after its acknowledgement but before the next connection's
    // input reaches it: still the old connection's.
    agent.send(t0, PayloadType::Output, b"straggler");
    exchange(&mut client, &mut agent, t0);
    assert!(outputs(&mut client, t0).is_empty(), "nothing reaches the gap between connections");

    // The next connection speaks; the agent dials again and the answer is the new one's.
    client.send_input(t0, b"hello");
    exchange(&mut client, &mut agent, t0);
    assert_eq!(agent.received()[0].payload, b"hello");
    agent.send(t0, PayloadType::Output, b"second connection");
    agent.send(t0, PayloadType::Output, b" and more");
    exchange(&mut client, &mut agent, t0);
    assert_eq!(outputs(&mut client, t0), [b"second connection".to_vec(), b" and more".to_vec()]);
}

#[test]
fn in_basic_mode_a_next_connection_that_speaks_at_once_still_gets_only_its_own_output() {
    let t0 = Instant::now();
    let (mut client, mut agent) = basic_port(t0);
    // The flag and the next connection's input go before any acknowledgement comes back.
    client.send_flag(t0, PortFlag::DisconnectToPort);
    client.send_input(t0, b"next");
    let sent: Vec<_> = std::iter::from_fn(|| client.poll_transmit()).collect();
    assert_eq!(sent.len(), 2);
    agent.send(t0, PayloadType::Output, b"old, in flight");
    for frame in &sent {
        agent.channel.handle_frame(t0, frame).unwrap();
    }
    agent.send(t0, PayloadType::Output, b"new");
    exchange(&mut client, &mut agent, t0);
    assert_eq!(outputs(&mut client, t0), [b"new".to_vec()]);
}
