//! The KMS call of an encrypted session: `GenerateDataKey` for the key the agent names, with
//! the encryption context `ssm-protocol` decides, through `aws-sdk-kms` with the session's
//! credentials, region and network (`AWS_ENDPOINT_URL_KMS` is honoured by the SDK). Every
//! decision about the key (which half does what, the cipher, the challenge) is
//! `ssm_protocol::kms`'s; this module only makes the call and says what a refusal means.

use std::future::Future;
use std::pin::Pin;

use aws_sdk_kms::error::ProvideErrorMetadata;
use ssm_protocol::client::DataKeyRequest;
use ssm_protocol::kms::DataKey;

use crate::aws::{classify, Aws, AwsError, Call};

/// Why no data key could be had, with what to do.
#[derive(Debug, thiserror::Error)]
pub enum KmsError {
    /// The caller's policies do not allow GenerateDataKey on the key.
    #[error("the session needs kms:GenerateDataKey on {key}, which these credentials may not call ({message}): ask for it in your IAM policy (and the key's policy), or use a profile that has it")]
    Denied {
        /// The key.
        key: String,
        /// KMS's words.
        message: String,
    },
    /// The key is disabled.
    #[error("the KMS key {key} that Session Manager preferences name is disabled ({message}): enable it, or choose another key in the preferences")]
    Disabled {
        /// The key.
        key: String,
        /// KMS's words.
        message: String,
    },
    /// The key does not exist (in this account and region).
    #[error("the KMS key {key} that Session Manager preferences name does not exist in {region} ({message}): correct the key in the preferences")]
    NotFound {
        /// The key.
        key: String,
        /// The region looked in.
        region: String,
        /// KMS's words.
        message: String,
    },
    /// The key exists but cannot be used now (pending deletion, unavailable, wrong usage).
    #[error("the KMS key {key} cannot be used ({code}: {message})")]
    Unusable {
        /// The key.
        key: String,
        /// KMS's code.
        code: String,
        /// KMS's words.
        message: String,
    },
    /// KMS answered with a key of the wrong size.
    #[error("KMS returned a {0}-byte data key where 64 were asked for")]
    WrongSize(usize),
    /// The call failed for a reason not about the key.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// A future returned by [`DataKeys::generate`].
pub type DataKeyFuture = Pin<Box<dyn Future<Output = Result<DataKey, KmsError>> + Send + 'static>>;

/// Where an encrypted session's data key comes from: KMS for real AWS (and the emulator), or
/// anything a test provides.
pub trait DataKeys: Send + Sync + 'static {
    /// A data key as `request` asks.
    fn generate(&self, request: DataKeyRequest) -> DataKeyFuture;
}

impl DataKeys for Aws {
    fn generate(&self, request: DataKeyRequest) -> DataKeyFuture {
        let aws = self.clone();
        Box::pin(async move {
            aws.refreshing_with(
                || aws.generate_data_key_once(&request),
                |e| matches!(e, KmsError::Aws(AwsError::Expired(_))),
            )
            .await
        })
    }
}

impl Aws {
    async fn generate_data_key_once(&self, request: &DataKeyRequest) -> Result<DataKey, KmsError> {
        let bytes = i32::try_from(request.number_of_bytes).unwrap_or(64);
        let output = self
            .kms
            .generate_data_key()
            .key_id(&request.key_id)
            .number_of_bytes(bytes)
            .set_encryption_context(Some(request.encryption_context.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|error| {
                let message = error.message().unwrap_or_default().to_owned();
                let key = request.key_id.clone();
                match error.code() {
                    Some("AccessDeniedException") => KmsError::Denied { key, message },
                    Some("DisabledException") => KmsError::Disabled { key, message },
                    Some("NotFoundException") => {
                        KmsError::NotFound { key, region: self.region().to_owned(), message }
                    }
                    Some(
                        code @ ("KMSInvalidStateException"
                        | "KeyUnavailableException"
                        | "InvalidKeyUsageException"
                        | "IncorrectKeyException"),
                    ) => KmsError::Unusable { key, code: code.to_owned(), message },
                    _ => KmsError::Aws(classify(
                        error,
                        Call::new("kms:GenerateDataKey"),
                        self.network(),
                    )),
                }
            })?;
        let plaintext = output.plaintext.map(|b| b.into_inner()).unwrap_or_default();
        if plaintext.len() != request.number_of_bytes {
            return Err(KmsError::WrongSize(plaintext.len()));
        }
        Ok(DataKey {
            plaintext: zeroize::Zeroizing::new(plaintext),
            ciphertext_blob: output.ciphertext_blob.map(|b| b.into_inner()).unwrap_or_default(),
        })
    }
}
