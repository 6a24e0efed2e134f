//! SigV4 for the data channel's WebSocket upgrade (service `ssmmessages`), as plugins from
//! 1.2.764.0 sign it (protocol.md §13): only Host is signed and the payload is the empty
//! body's, because the handshake's own headers are added after signing; credentials are asked
//! for afresh on every dial, so refreshed credentials are used.

use std::time::SystemTime;

/// What signing a data-channel upgrade needs: a credentials source and the region.
#[derive(Clone)]
pub struct UpgradeSigning {
    /// Where credentials come from.
    pub credentials: aws_credential_types::provider::SharedCredentialsProvider,
    /// The region of the session.
    pub region: String,
}

impl std::fmt::Debug for UpgradeSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpgradeSigning").field("region", &self.region).finish_non_exhaustive()
    }
}

/// The SigV4 headers for a WebSocket upgrade to `url`.
pub(super) async fn sign(
    url: &str,
    signing: &UpgradeSigning,
) -> Result<Vec<(String, String)>, String> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};

    let credentials = signing
        .credentials
        .provide_credentials()
        .await
        .map_err(|e| format!("no credentials to sign the data-channel upgrade: {e}"))?;
    let http_url = if let Some(rest) = url.strip_prefix("wss://") {
        format!("https://{rest}")
    } else {
        url.replacen("ws://", "http://", 1)
    };
    let uri: tokio_tungstenite::tungstenite::http::Uri =
        http_url.parse().map_err(|e| format!("the stream URL is not a URL: {e}"))?;
    let host = match (uri.host(), uri.port_u16()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        _ => return Err("the stream URL has no host".into()),
    };
    let identity = credentials.into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(&signing.region)
        .name("ssmmessages")
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| e.to_string())?
        .into();
    let request = SignableRequest::new(
        "GET",
        http_url.as_str(),
        [("host", host.as_str())].into_iter(),
        SignableBody::Bytes(b""),
    )
    .map_err(|e| e.to_string())?;
    let (instructions, _) = sign(request, &params).map_err(|e| e.to_string())?.into_parts();
    Ok(instructions.headers().map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}
