//! Dialling a session's data channel: the WebSocket through the place's network (proxy, TLS,
//! each stage timed), the SigV4-signed upgrade when there are credentials, and the
//! open-data-channel text frame with the session's token, after every dial.

use futures_util::SinkExt;
use ssm_protocol::payload::OpenDataChannel;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

use super::{upgrade, ConnectError, DriverConfig, Endpoint};
use crate::network::Socket;

/// Opens the WebSocket of `endpoint` and sends the open-data-channel frame.
pub(super) async fn dial(
    endpoint: &Endpoint,
    config: &DriverConfig,
) -> Result<Socket, ConnectError> {
    let mut headers = Vec::new();
    if let Some(signing) = &config.signing {
        for (name, value) in
            upgrade::sign(&endpoint.stream_url, signing).await.map_err(ConnectError::Sign)?
        {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| ConnectError::Sign(e.to_string()))?;
            let value =
                HeaderValue::from_str(&value).map_err(|e| ConnectError::Sign(e.to_string()))?;
            headers.push((name, value));
        }
    }
    let mut socket = config.network.websocket(&endpoint.stream_url, headers).await?;
    let open = OpenDataChannel {
        message_schema_version: "1.0".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        token_value: endpoint.token.clone(),
        client_id: Some(config.client_id.clone()),
        client_version: Some(config.client_version.clone()),
    };
    socket
        .send(Message::text(open.to_json()))
        .await
        .map_err(|e| ConnectError::Open(e.to_string()))?;
    Ok(socket)
}
