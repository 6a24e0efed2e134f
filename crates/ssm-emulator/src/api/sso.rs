//! IAM Identity Center as an SSO login sees it: the OIDC REST API (RegisterClient,
//! StartDeviceAuthorization, CreateToken with the device-code and refresh-token grants) and the portal's
//! GetRoleCredentials, both JSON over REST and unsigned (the bearer token is the credential).
//! The user's approval of a device login, done on AWS's verification page, is done here
//! through `/_emulator/sso/approve` (or the page at `/_emulator/sso/device`), and
//! `/_emulator/clock` moves the clock temporary credentials expire by.

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::AppState;
use crate::service::ApiError;

/// A REST-JSON error the SDKs parse: the type in `x-amzn-errortype`, OAuth's shape in the body.
fn error(error: ApiError) -> Response {
    let oauth = match error.code {
        "AuthorizationPendingException" => "authorization_pending",
        "InvalidGrantException" => "invalid_grant",
        "InvalidClientException" => "invalid_client",
        "UnsupportedGrantTypeException" => "unsupported_grant_type",
        _ => "invalid_request",
    };
    let body =
        json!({"error": oauth, "error_description": error.message, "message": error.message});
    let mut response =
        (StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), Json(body))
            .into_response();
    response.headers_mut().insert("x-amzn-errortype", HeaderValue::from_static(error.code));
    response
}

// The handlers return the refusal as it is: a Response is what they give back anyway.
#[allow(clippy::result_large_err)]
fn parse(body: &[u8]) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        error(ApiError::client("InvalidRequestException", format!("the body is not JSON: {e}")))
    })
}

#[allow(clippy::result_large_err)]
fn text<'a>(body: &'a Value, name: &str) -> Result<&'a str, Response> {
    body.get(name).and_then(Value::as_str).ok_or_else(|| {
        error(ApiError::client("InvalidRequestException", format!("{name} is required")))
    })
}

/// `POST /client/register`.
pub async fn register_client(State(state): State<AppState>, body: Bytes) -> Response {
    let body = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if let Err(response) = text(&body, "clientName") {
        return response;
    }
    let (id, secret) = state.service.identities().register_client();
    let now =
        state.service.identities().now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Json(json!({"clientId": id, "clientSecret": secret, "clientIdIssuedAt": now, "clientSecretExpiresAt": now + 90 * 24 * 3600})).into_response()
}

/// `POST /device_authorization`.
pub async fn start_device_authorization(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (client_id, client_secret) =
        match (text(&body, "clientId"), text(&body, "clientSecret"), text(&body, "startUrl")) {
            (Ok(id), Ok(secret), Ok(_)) => (id, secret),
            (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
        };
    match state.service.identities().start_device_authorization(client_id, client_secret) {
        Err(e) => error(e),
        Ok((device_code, user_code)) => {
            let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
            let page = format!("{}://{host}/_emulator/sso/device", state.service.web_scheme());
            Json(json!({
                "deviceCode": device_code,
                "userCode": user_code,
                "verificationUri": page,
                "verificationUriComplete": format!("{page}?user_code={user_code}"),
                "expiresIn": 600,
                "interval": 1,
            }))
            .into_response()
        }
    }
}

/// `POST /token`.
pub async fn create_token(State(state): State<AppState>, body: Bytes) -> Response {
    let body = match parse(&body) {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (id, secret, grant) =
        match (text(&body, "clientId"), text(&body, "clientSecret"), text(&body, "grantType")) {
            (Ok(a), Ok(b), Ok(c)) => (a, b, c),
            (Err(r), ..) | (_, Err(r), _) | (.., Err(r)) => return r,
        };
    let code =
        match text(&body, if grant == "refresh_token" { "refreshToken" } else { "deviceCode" }) {
            Ok(code) => code,
            Err(r) => return r,
        };
    match state.service.identities().create_token(id, secret, grant, code) {
        Ok(token) => Json(json!({
            "accessToken": token.access_token,
            "refreshToken": token.refresh_token,
            "tokenType": "Bearer",
            "expiresIn": token.lifetime.as_secs(),
        }))
        .into_response(),
        Err(e) => error(e),
    }
}

/// The portal's query.
#[derive(Debug, Deserialize)]
pub struct RoleQuery {
    role_name: String,
    account_id: String,
}

/// `GET /federation/credentials` (GetRoleCredentials).
pub async fn role_credentials(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(query): Query<RoleQuery>,
) -> Response {
    let Some(bearer) = headers.get("x-amz-sso_bearer_token").and_then(|v| v.to_str().ok()) else {
        return error(ApiError {
            code: "UnauthorizedException",
            message: "the x-amz-sso_bearer_token header is required".into(),
            status: 401,
        });
    };
    let identities = state.service.identities();
    match identities.role_credentials(bearer, &query.account_id, &query.role_name) {
        Err(e) => error(e),
        Ok(issued) => {
            let expiration = identities
                .as_real_time(issued.expires)
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis() as u64;
            Json(json!({"roleCredentials": {
                "accessKeyId": issued.access_key_id,
                "secretAccessKey": issued.secret_access_key,
                "sessionToken": issued.session_token,
                "expiration": expiration,
            }}))
            .into_response()
        }
    }
}

/// `GET /_emulator/sso/pending`: the user codes of logins awaiting approval.
pub async fn pending(State(state): State<AppState>) -> Response {
    Json(state.service.identities().pending_logins()).into_response()
}

/// `POST /_emulator/sso/approve` with `{"user_code": "…"}` (JSON, or a form from the device
/// page): the user approves that login.
pub async fn approve(State(state): State<AppState>, body: Bytes) -> Response {
    let user_code = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("user_code").and_then(Value::as_str).map(str::to_owned))
        .or_else(|| {
            form_urlencoded::parse(&body)
                .find(|(k, _)| k == "user_code")
                .map(|(_, v)| v.into_owned())
        });
    let Some(user_code) = user_code else {
        return (StatusCode::BAD_REQUEST, "send {\"user_code\": \"XXXX-XXXX\"}\n").into_response();
    };
    if state.service.identities().approve(&user_code) {
        Html(format!("<p>Login {user_code} approved. You can close this page.</p>\n"))
            .into_response()
    } else {
        (StatusCode::NOT_FOUND, format!("no pending login has the code {user_code}\n"))
            .into_response()
    }
}

/// The device page's query.
#[derive(Debug, Deserialize)]
pub struct DeviceQuery {
    #[serde(default)]
    user_code: String,
}

/// `GET /_emulator/sso/device`: the emulator's stand-in for AWS's verification page.
pub async fn device_page(Query(query): Query<DeviceQuery>) -> Html<String> {
    let code: String =
        query.user_code.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Html(format!(
        "<!doctype html><title>Emulator SSO login</title><h1>Approve the login?</h1>\
         <p>An application asks to sign in with the code <b>{code}</b>.</p>\
         <form method=post action=/_emulator/sso/approve><input type=hidden name=user_code value=\"{code}\">\
         <button>Approve</button></form>\n"
    ))
}

/// The clock request.
#[derive(Debug, Deserialize)]
pub struct Advance {
    seconds: u64,
}

/// `POST /_emulator/clock` with `{"seconds": N}`: moves the clock forward; temporary
/// credentials and SSO tokens past their end stop working.
pub async fn advance_clock(State(state): State<AppState>, body: Bytes) -> Response {
    match serde_json::from_slice::<Advance>(&body) {
        Ok(advance) => {
            let offset =
                state.service.identities().advance_clock(Duration::from_secs(advance.seconds));
            Json(json!({"offset_seconds": offset.as_secs()})).into_response()
        }
        Err(e) => {
            (StatusCode::BAD_REQUEST, format!("send {{\"seconds\": N}}: {e}\n")).into_response()
        }
    }
}
