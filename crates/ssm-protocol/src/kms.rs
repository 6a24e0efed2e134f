//! KMS encryption of a session's stream (protocol.md §8), both ends: the data key's two
//! halves, the AES-256-GCM cipher and its wire layout, which payload types are encrypted in
//! each direction, the encryption context KMS binds the key to, and the challenge round.
//!
//! Facts, from the official sources (plugin `src/encryption/encrypter.go`,
//! `src/datachannel/streaming.go`; agent `agent/session/crypto/{blockcipher,nonce}.go`,
//! `agent/session/datachannel/datachannel.go`):
//! - the data key is 64 bytes from `GenerateDataKey`; bytes 0–31 carry agent → client data
//!   (the agent encrypts, the client decrypts), bytes 32–63 client → agent;
//! - an encrypted payload is `nonce (12) ‖ ciphertext ‖ tag (16)`, with no associated data;
//! - the client encrypts only Output (payload type 1); the agent encrypts Output, StdErr and
//!   ExitCode (1, 11, 12); sizes, flags and handshake payloads are plain;
//! - the context is `aws:ssm:SessionId` and `aws:ssm:TargetId`, plus `aws:ssm:RandomChallenge`
//!   (the request's `Challenge` string, verbatim) when the client acknowledges the challenge;
//! - the challenge: the agent seals 64 random bytes with its key; the client opens them and
//!   seals them again with its own key; the agent compares.
//!
//! The key material comes in from the caller (the engine's KMS call, the emulator's KMS);
//! nothing here makes a call. The cipher comes from RustCrypto's `aes-gcm`.

use std::collections::BTreeMap;
use std::fmt;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use zeroize::Zeroizing;

use crate::codec::PayloadType;

/// The size of the data key both ends split.
pub const DATA_KEY_BYTES: usize = 64;
/// The nonce in front of every encrypted payload.
pub const NONCE_BYTES: usize = 12;
/// The GCM tag behind it.
pub const TAG_BYTES: usize = 16;
/// What encryption adds to a payload.
pub const OVERHEAD: usize = NONCE_BYTES + TAG_BYTES;
/// The random bytes of the challenge round.
pub const CHALLENGE_BYTES: usize = 64;

/// The context key naming the session.
pub const CONTEXT_SESSION_ID: &str = "aws:ssm:SessionId";
/// The context key naming the node.
pub const CONTEXT_TARGET_ID: &str = "aws:ssm:TargetId";
/// The context key of the random challenge (agents from 3.3.808.0).
pub const CONTEXT_RANDOM_CHALLENGE: &str = "aws:ssm:RandomChallenge";

/// What the agent's HandshakeComplete says of an encrypted session.
pub const ENCRYPTED_MESSAGE: &str = "This session is encrypted using AWS KMS.";

/// The KMS encryption context of a session: what GenerateDataKey (client) and Decrypt
/// (agent) must both name, or Decrypt fails.
pub fn encryption_context(
    session_id: &str,
    target: &str,
    random_challenge: Option<&str>,
) -> BTreeMap<String, String> {
    let mut context = BTreeMap::new();
    context.insert(CONTEXT_SESSION_ID.to_owned(), session_id.to_owned());
    context.insert(CONTEXT_TARGET_ID.to_owned(), target.to_owned());
    if let Some(challenge) = random_challenge {
        context.insert(CONTEXT_RANDOM_CHALLENGE.to_owned(), challenge.to_owned());
    }
    context
}

/// Whether the client encrypts (and the agent decrypts) a payload of this type.
pub fn encrypted_by_client(payload_type: PayloadType) -> bool {
    payload_type == PayloadType::Output
}

/// Whether the agent encrypts (and the client decrypts) a payload of this type.
pub fn encrypted_by_agent(payload_type: PayloadType) -> bool {
    matches!(payload_type, PayloadType::Output | PayloadType::StdErr | PayloadType::ExitCode)
}

/// A data key from KMS: the plaintext both ends split, and the blob the agent decrypts.
#[derive(Clone)]
pub struct DataKey {
    /// The 64 plaintext bytes (wiped when dropped).
    pub plaintext: Zeroizing<Vec<u8>>,
    /// KMS's `CiphertextBlob`, for the agent.
    pub ciphertext_blob: Vec<u8>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob", &format!("{} bytes", self.ciphertext_blob.len()))
            .finish()
    }
}

/// Which end a cipher serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Seals with bytes 32–63, opens with 0–31.
    Client,
    /// Seals with bytes 0–31, opens with 32–63.
    Agent,
}

/// Why a payload could not be encrypted or decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CipherError {
    /// The data key is not 64 bytes.
    #[error("the KMS data key has {0} bytes, not 64")]
    KeyLength(usize),
    /// The payload is too short to hold a nonce and a tag.
    #[error("an encrypted payload of {0} bytes is shorter than its nonce and tag")]
    TooShort(usize),
    /// The tag does not verify: another key, or altered bytes.
    #[error("an encrypted payload does not decrypt with the session's key (another key, or altered in transit)")]
    Rejected,
    /// The nonce counter went round (2^96 messages; never in practice).
    #[error("the nonce counter is exhausted")]
    NoncesExhausted,
}

/// The cipher state of one end of an encrypted session: its two keys and a nonce counter.
///
/// Nonces are a 96-bit counter from a random start, serialised little-endian as the agent
/// does (`nonce.go`), so no nonce repeats within a session; the peer reads the nonce from the
/// payload, so the two ends need not agree on how nonces are made.
pub struct Cipher {
    seal: Aes256Gcm,
    open: Aes256Gcm,
    next_nonce: u128,
    nonces_left: u128,
}

impl fmt::Debug for Cipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cipher").finish_non_exhaustive()
    }
}

const NONCE_SPACE: u128 = 1 << 96;

impl Cipher {
    /// The cipher of `end` for a 64-byte data key; `nonce_start` is 12 random bytes.
    pub fn new(
        end: End,
        plaintext: &[u8],
        nonce_start: [u8; NONCE_BYTES],
    ) -> Result<Cipher, CipherError> {
        if plaintext.len() != DATA_KEY_BYTES {
            return Err(CipherError::KeyLength(plaintext.len()));
        }
        let (agent_half, client_half) = plaintext.split_at(DATA_KEY_BYTES / 2);
        let (seal, open) = match end {
            End::Client => (client_half, agent_half),
            End::Agent => (agent_half, client_half),
        };
        let mut start = [0u8; 16];
        start[..NONCE_BYTES].copy_from_slice(&nonce_start);
        Ok(Cipher {
            seal: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(seal)),
            open: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(open)),
            next_nonce: u128::from_le_bytes(start),
            nonces_left: NONCE_SPACE,
        })
    }

    /// Encrypts `plaintext` for the peer: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, CipherError> {
        if self.nonces_left == 0 {
            return Err(CipherError::NoncesExhausted);
        }
        let nonce_bytes = self.next_nonce.to_le_bytes();
        self.next_nonce = (self.next_nonce + 1) % NONCE_SPACE;
        self.nonces_left -= 1;
        let nonce = Nonce::from_slice(&nonce_bytes[..NONCE_BYTES]);
        // Encryption with a valid key and nonce cannot fail; the error type is aead's generic one.
        let sealed = self.seal.encrypt(nonce, plaintext).map_err(|_| CipherError::Rejected)?;
        let mut wire = Vec::with_capacity(NONCE_BYTES + sealed.len());
        wire.extend_from_slice(&nonce_bytes[..NONCE_BYTES]);
        wire.extend_from_slice(&sealed);
        Ok(wire)
    }

    /// Decrypts a payload the peer sealed.
    pub fn open(&self, wire: &[u8]) -> Result<Vec<u8>, CipherError> {
        if wire.len() < OVERHEAD {
            return Err(CipherError::TooShort(wire.len()));
        }
        let (nonce, sealed) = wire.split_at(NONCE_BYTES);
        self.open.decrypt(Nonce::from_slice(nonce), sealed).map_err(|_| CipherError::Rejected)
    }
}

/// The agent's side of the challenge round: 64 random bytes sealed with the agent's key
/// (payload type 8); the answer (payload type 9) must open with the client's key to the same
/// bytes.
pub struct AgentChallenge {
    expected: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for AgentChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentChallenge").finish_non_exhaustive()
    }
}

/// Why the client's answer to the challenge was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeError {
    /// Not base64, or not JSON.
    #[error("the challenge answer is malformed")]
    Malformed,
    /// It does not decrypt.
    #[error(transparent)]
    Cipher(#[from] CipherError),
    /// It decrypts to other bytes (the agent's words).
    #[error("Encryption challenge does not match!")]
    Mismatch,
}

impl AgentChallenge {
    /// The challenge for `random` (64 bytes from a good source), and its payload.
    pub fn new(
        cipher: &mut Cipher,
        random: [u8; CHALLENGE_BYTES],
    ) -> Result<(AgentChallenge, crate::payload::EncryptionChallenge), CipherError> {
        use base64::Engine as _;
        let sealed = cipher.seal(&random)?;
        let payload = crate::payload::EncryptionChallenge {
            challenge: base64::engine::general_purpose::STANDARD.encode(sealed),
        };
        Ok((AgentChallenge { expected: Zeroizing::new(random.to_vec()) }, payload))
    }

    /// Checks the client's answer.
    pub fn check(
        &self,
        cipher: &Cipher,
        answer: &crate::payload::EncryptionChallenge,
    ) -> Result<(), ChallengeError> {
        use base64::Engine as _;
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&answer.challenge)
            .map_err(|_| ChallengeError::Malformed)?;
        let opened = Zeroizing::new(cipher.open(&sealed)?);
        if *opened == *self.expected {
            Ok(())
        } else {
            Err(ChallengeError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> Vec<u8> {
        (0..64u8).collect()
    }

    #[test]
    fn each_end_opens_what_the_other_sealed_and_not_its_own() {
        let mut client = Cipher::new(End::Client, &key(), [1; 12]).unwrap();
        let mut agent = Cipher::new(End::Agent, &key(), [2; 12]).unwrap();
        let up = client.seal(b"ls -la\r").unwrap();
        assert_eq!(up.len(), 7 + OVERHEAD, "nonce in front, tag behind");
        assert_eq!(agent.open(&up).unwrap(), b"ls -la\r");
        assert_eq!(
            client.open(&up),
            Err(CipherError::Rejected),
            "the client's own key half does not open its output"
        );
        let down = agent.seal(b"total 0\r\n").unwrap();
        assert_eq!(client.open(&down).unwrap(), b"total 0\r\n");
    }

    #[test]
    fn nonces_count_up_little_endian_from_their_start() {
        let mut start = [0u8; 12];
        start[0] = 0xff;
        let mut client = Cipher::new(End::Client, &key(), start).unwrap();
        let first = client.seal(b"a").unwrap();
        let second = client.seal(b"a").unwrap();
        assert_eq!(&first[..12], &start);
        assert_eq!(&second[..2], &[0x00, 0x01], "the first word carries into the next byte");
        assert_ne!(first, second, "the same plaintext never seals alike");
    }

    #[test]
    fn keys_payloads_and_tampering_are_checked() {
        assert_eq!(
            Cipher::new(End::Agent, &[0; 32], [0; 12]).unwrap_err(),
            CipherError::KeyLength(32)
        );
        let mut agent = Cipher::new(End::Agent, &key(), [0; 12]).unwrap();
        let client = Cipher::new(End::Client, &key(), [0; 12]).unwrap();
        assert_eq!(client.open(&[0; 27]), Err(CipherError::TooShort(27)));
        let mut sealed = agent.seal(b"EXIT_CODE: 0").unwrap();
        sealed[15] ^= 1;
        assert_eq!(client.open(&sealed), Err(CipherError::Rejected));
    }

    #[test]
    fn the_context_names_the_session_and_target_and_the_challenge_when_acknowledged() {
        let two = encryption_context("alice-0123", "i-0a1b", None);
        assert_eq!(two.len(), 2);
        assert_eq!(two[CONTEXT_SESSION_ID], "alice-0123");
        let three = encryption_context("alice-0123", "i-0a1b", Some("c2VjcmV0LWNoYWxsZW5nZQ=="));
        assert_eq!(
            three[CONTEXT_RANDOM_CHALLENGE], "c2VjcmV0LWNoYWxsZW5nZQ==",
            "verbatim, not decoded"
        );
        assert!(
            encrypted_by_agent(PayloadType::ExitCode)
                && !encrypted_by_client(PayloadType::Size)
                && !encrypted_by_agent(PayloadType::Flag)
        );
    }
}
