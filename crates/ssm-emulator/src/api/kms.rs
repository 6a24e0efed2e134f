//! The KMS JSON 1.1 API (`X-Amz-Target: TrentService.<Operation>`, SigV4 service `kms`):
//! GenerateDataKey, Decrypt and DescribeKey for the fleet's keys, as Session Manager clients
//! and tools call them.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::service::{ApiError, Service};
use crate::sigv4::Caller;

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Runs `operation` with its JSON `body`.
pub fn call(
    service: &Service,
    caller: &Caller,
    operation: &str,
    body: &[u8],
) -> Result<Value, ApiError> {
    let request: Value = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        .map_err(|e| {
            ApiError::client("SerializationException", format!("the request body is not JSON: {e}"))
        })?;
    let text = |name: &str| request.get(name).and_then(Value::as_str);
    let key_id = || {
        text("KeyId").filter(|k| !k.is_empty()).ok_or_else(|| ApiError::client("ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"))
    };
    let context = || -> Result<BTreeMap<String, String>, ApiError> {
        match request.get("EncryptionContext") {
            None | Some(Value::Null) => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str().map(|v| (k.clone(), v.to_owned())).ok_or_else(|| {
                        ApiError::client(
                            "SerializationException",
                            "EncryptionContext values must be strings",
                        )
                    })
                })
                .collect(),
            Some(_) => Err(ApiError::client(
                "SerializationException",
                "EncryptionContext must be a map of strings",
            )),
        }
    };
    match operation {
        "GenerateDataKey" => {
            if request.get("KeySpec").is_some() && request.get("NumberOfBytes").is_some() {
                return Err(ApiError::client(
                    "ValidationException",
                    "Please specify either number of bytes or key spec.",
                ));
            }
            let bytes =
                match (request.get("NumberOfBytes").and_then(Value::as_u64), text("KeySpec")) {
                    (Some(n), _) => usize::try_from(n).unwrap_or(usize::MAX),
                    (None, Some("AES_256")) => 32,
                    (None, Some("AES_128")) => 16,
                    _ => {
                        return Err(ApiError::client(
                            "ValidationException",
                            "Please specify either number of bytes or key spec.",
                        ))
                    }
                };
            let (plaintext, blob, arn) =
                service.kms().generate_data_key(caller, key_id()?, bytes, &context()?)?;
            Ok(
                json!({"CiphertextBlob": b64().encode(blob), "Plaintext": b64().encode(plaintext), "KeyId": arn}),
            )
        }
        "Decrypt" => {
            let blob =
                text("CiphertextBlob").and_then(|b| b64().decode(b).ok()).ok_or_else(|| {
                    ApiError::client("ValidationException", "CiphertextBlob must be base64")
                })?;
            if !caller.allows("kms:Decrypt") {
                return Err(ApiError::client(
                    "AccessDeniedException",
                    caller.refusal("kms:Decrypt", None),
                ));
            }
            let plaintext = service.kms().decrypt(&blob, &context()?, text("KeyId"))?;
            Ok(json!({"Plaintext": b64().encode(plaintext)}))
        }
        "DescribeKey" => {
            let info = service.kms().describe(caller, key_id()?)?;
            Ok(
                json!({"KeyMetadata": {"KeyId": info.id, "Arn": info.arn, "Enabled": info.enabled, "KeyState": if info.enabled { "Enabled" } else { "Disabled" },
                                      "KeyUsage": "ENCRYPT_DECRYPT", "KeySpec": "SYMMETRIC_DEFAULT", "KeyManager": "CUSTOMER", "Origin": "AWS_KMS", "AWSAccountId": service.account()}}),
            )
        }
        other => Err(ApiError::client(
            "UnknownOperationException",
            format!("the emulator does not implement TrentService.{other}"),
        )),
    }
}
