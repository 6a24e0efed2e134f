//! KMS as Session Manager uses it: the fleet's keys (by id, ARN or alias), GenerateDataKey for
//! clients, Decrypt for the agent end, DescribeKey, with KMS's errors (a refused caller, a
//! disabled or missing key, a ciphertext whose encryption context differs).
//!
//! A data key's ciphertext is real envelope encryption under a master key made for each key
//! at start: AES-256-GCM with the encryption context as associated data, so Decrypt with a
//! different context fails as KMS's does (`InvalidCiphertextException`).

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};

use crate::fleet::KmsKeySpec;
use crate::service::ApiError;
use crate::sigv4::Caller;

/// What blobs start with, so a foreign one is told apart.
const BLOB_MAGIC: &[u8; 4] = b"EKM1";

/// One key.
struct KmsKey {
    spec: KmsKeySpec,
    arn: String,
    master: Aes256Gcm,
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey")
            .field("arn", &self.arn)
            .field("enabled", &self.spec.enabled)
            .finish_non_exhaustive()
    }
}

/// The account's keys.
#[derive(Debug)]
pub struct Kms {
    keys: Vec<KmsKey>,
    region: String,
    account: String,
}

/// A key's public description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// Its ARN.
    pub arn: String,
    /// Its id.
    pub id: String,
    /// Whether it is enabled.
    pub enabled: bool,
}

fn not_found(what: &str) -> ApiError {
    ApiError::client("NotFoundException", what.to_owned())
}

impl Kms {
    /// The keys of a fleet, each with a master key made now.
    pub fn new(specs: &[KmsKeySpec], region: &str, account: &str) -> Kms {
        let keys = specs
            .iter()
            .map(|spec| {
                let secret: [u8; 32] = rand::random();
                KmsKey {
                    arn: format!("arn:aws:kms:{region}:{account}:key/{}", spec.id),
                    spec: spec.clone(),
                    master: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&secret)),
                }
            })
            .collect();
        Kms { keys, region: region.to_owned(), account: account.to_owned() }
    }

    /// The key `name` names: a key id, a key ARN, an alias (`alias/x`) or an alias ARN.
    fn find(&self, name: &str) -> Result<&KmsKey, ApiError> {
        let alias_prefix = format!("arn:aws:kms:{}:{}:", self.region, self.account);
        let local = name.strip_prefix(&alias_prefix).unwrap_or(name);
        let found = self.keys.iter().find(|k| {
            k.spec.id == local
                || k.arn == name
                || local.strip_prefix("key/") == Some(k.spec.id.as_str())
                || k.spec.alias.as_deref() == Some(local)
        });
        found.ok_or_else(|| {
            if local.starts_with("alias/") {
                not_found(&format!("Alias {alias_prefix}{local} is not found."))
            } else {
                not_found(&format!(
                    "Key '{}{}' does not exist",
                    alias_prefix,
                    if local.starts_with("key/") {
                        local.to_owned()
                    } else {
                        format!("key/{local}")
                    }
                ))
            }
        })
    }

    /// A key's description (DescribeKey).
    pub fn describe(&self, caller: &Caller, name: &str) -> Result<KeyInfo, ApiError> {
        let key = self.find(name)?;
        authorize(caller, "kms:DescribeKey", &key.arn)?;
        Ok(KeyInfo { arn: key.arn.clone(), id: key.spec.id.clone(), enabled: key.spec.enabled })
    }

    /// GenerateDataKey: `bytes` random bytes, and their ciphertext bound to `context`.
    pub fn generate_data_key(
        &self,
        caller: &Caller,
        name: &str,
        bytes: usize,
        context: &BTreeMap<String, String>,
    ) -> Result<(Vec<u8>, Vec<u8>, String), ApiError> {
        let key = self.find(name)?;
        authorize(caller, "kms:GenerateDataKey", &key.arn)?;
        if !key.spec.enabled {
            return Err(ApiError::client("DisabledException", format!("{} is disabled.", key.arn)));
        }
        if !(1..=1024).contains(&bytes) {
            return Err(ApiError::client("ValidationException", format!("1 validation error detected: Value '{bytes}' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and 1024")));
        }
        let plaintext: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
        let nonce: [u8; 12] = rand::random();
        let aad = canonical(context);
        let sealed = key
            .master
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: &plaintext, aad: aad.as_bytes() })
            .map_err(|_| ApiError {
                code: "KMSInternalException",
                message: "encryption failed".into(),
                status: 500,
            })?;
        let mut blob = BLOB_MAGIC.to_vec();
        blob.push(u8::try_from(key.spec.id.len()).unwrap_or(u8::MAX));
        blob.extend_from_slice(key.spec.id.as_bytes());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok((plaintext, blob, key.arn.clone()))
    }

    /// Decrypt, as the agent calls it with its instance role: the context must be the one the
    /// key was generated with, and `key_id` (when given) the key that made the blob.
    pub fn decrypt(
        &self,
        blob: &[u8],
        context: &BTreeMap<String, String>,
        key_id: Option<&str>,
    ) -> Result<Vec<u8>, ApiError> {
        let invalid = || ApiError::client("InvalidCiphertextException", "");
        let rest = blob.strip_prefix(BLOB_MAGIC).ok_or_else(invalid)?;
        let (&id_len, rest) = rest.split_first().ok_or_else(invalid)?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + 12 + 16 {
            return Err(invalid());
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, sealed) = rest.split_at(12);
        let id = std::str::from_utf8(id).map_err(|_| invalid())?;
        let key = self.keys.iter().find(|k| k.spec.id == id).ok_or_else(invalid)?;
        if let Some(wanted) = key_id {
            if self.find(wanted)?.spec.id != key.spec.id {
                return Err(ApiError::client("IncorrectKeyException", "The key ID in the request does not identify a CMK that can perform this operation."));
            }
        }
        if !key.spec.enabled {
            return Err(ApiError::client("DisabledException", format!("{} is disabled.", key.arn)));
        }
        let aad = canonical(context);
        key.master
            .decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad: aad.as_bytes() })
            .map_err(|_| invalid())
    }
}

fn authorize(caller: &Caller, action: &str, resource: &str) -> Result<(), ApiError> {
    if caller.allows(action) {
        Ok(())
    } else {
        Err(ApiError::client("AccessDeniedException", caller.refusal(action, Some(resource))))
    }
}

/// The context as associated data: sorted keys, one JSON text.
fn canonical(context: &BTreeMap<String, String>) -> String {
    serde_json::to_string(context).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kms() -> Kms {
        let key = |id: &str, alias: Option<&str>, enabled: bool| KmsKeySpec {
            id: id.into(),
            alias: alias.map(str::to_owned),
            enabled,
        };
        Kms::new(
            &[
                key("1234abcd-12ab-34cd-56ef-1234567890ab", Some("alias/sessions"), true),
                key("0000aaaa-0000-0000-0000-000000000000", None, false),
            ],
            "us-east-1",
            "123456789012",
        )
    }

    fn caller(denied: &[&str]) -> Caller {
        Caller {
            access_key_id: "AKIA".into(),
            user: "demo".into(),
            arn: "arn:aws:iam::123456789012:user/demo".into(),
            temporary: false,
            denied: denied.iter().map(|d| (*d).to_owned()).collect(),
            run_as: None,
        }
    }

    fn context(session: &str) -> BTreeMap<String, String> {
        [
            ("aws:ssm:SessionId".to_owned(), session.to_owned()),
            ("aws:ssm:TargetId".to_owned(), "i-1".to_owned()),
        ]
        .into()
    }

    #[test]
    fn a_data_key_decrypts_only_with_its_context() {
        let kms = kms();
        let (plaintext, blob, arn) =
            kms.generate_data_key(&caller(&[]), "alias/sessions", 64, &context("s-1")).unwrap();
        assert_eq!(plaintext.len(), 64);
        assert_eq!(
            arn,
            "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        );
        assert_eq!(kms.decrypt(&blob, &context("s-1"), Some("alias/sessions")).unwrap(), plaintext);
        assert_eq!(
            kms.decrypt(&blob, &context("s-2"), None).unwrap_err().code,
            "InvalidCiphertextException"
        );
        assert_eq!(
            kms.decrypt(&blob[..10], &context("s-1"), None).unwrap_err().code,
            "InvalidCiphertextException"
        );
    }

    #[test]
    fn refusals_are_kmss_own() {
        let kms = kms();
        let refused = kms
            .generate_data_key(
                &caller(&["kms:GenerateDataKey"]),
                "alias/sessions",
                64,
                &context("s"),
            )
            .unwrap_err();
        assert_eq!(refused.code, "AccessDeniedException");
        assert!(
            refused.message.contains(
                "kms:GenerateDataKey on resource: arn:aws:kms:us-east-1:123456789012:key/1234abcd"
            ),
            "{}",
            refused.message
        );
        assert_eq!(
            kms.generate_data_key(
                &caller(&[]),
                "0000aaaa-0000-0000-0000-000000000000",
                64,
                &context("s")
            )
            .unwrap_err()
            .code,
            "DisabledException"
        );
        let missing =
            kms.generate_data_key(&caller(&[]), "alias/nope", 64, &context("s")).unwrap_err();
        assert_eq!(
            (missing.code, missing.message.as_str()),
            (
                "NotFoundException",
                "Alias arn:aws:kms:us-east-1:123456789012:alias/nope is not found."
            )
        );
    }
}
