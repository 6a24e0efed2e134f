//! The HTTP face of the emulator on one address: `POST /` is SSM (JSON 1.1, chosen by the
//! `X-Amz-Target` header), or EC2 or STS (form-encoded Query, told apart by the service the
//! request was signed for), all behind SigV4; the data channel is
//! mounted from [`crate::agent::socket`]; IAM Identity Center's OIDC and portal REST APIs are
//! in [`sso`]; `/_emulator/faults`, `/_emulator/metrics`, `/_emulator/clock` and
//! `/_emulator/sso/*` are the control endpoints tests and developers use (only with the
//! `testkit` feature, and never for [`crate::Audience::OwnerOnly`]).

pub mod ec2;
pub mod kms;
pub mod ssm;
pub mod sso;
pub mod sts;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
#[cfg(feature = "testkit")]
use axum::Json;
use axum::Router;
use serde_json::json;

use crate::agent::socket::{self, DataChannelState};
#[cfg(feature = "testkit")]
use crate::faults::FaultConfig;
use crate::faults::Faults;
use crate::metrics::Metrics;
use crate::service::Service;

/// The address a connection came from, as the HTTP server learns it (for either listener).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub std::net::SocketAddr);

impl
    axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls::TlsListener>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::TlsListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl
    axum::extract::connect_info::Connected<
        axum::serve::IncomingStream<'_, crate::tls::PlainListener>,
    > for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls::PlainListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// Nodes, documents, sessions.
    pub service: Arc<Service>,
    /// Live faults.
    pub faults: Arc<Faults>,
    /// Live counters.
    pub metrics: Arc<Metrics>,
}

/// Every route, the control routes among them (with the `testkit` feature).
pub fn router(state: AppState) -> Router {
    let routes = service_routes(&state);
    #[cfg(feature = "testkit")]
    let routes = routes.merge(control_routes(state.clone()));
    routes.layer(axum::middleware::map_response_with_state(state.faults, date_header))
}

/// The routes of an emulator only its owner uses: no control routes, and only requests for
/// `addr` itself (see [`crate::Audience::OwnerOnly`]).
pub fn owner_only_router(state: AppState, addr: std::net::SocketAddr) -> Router {
    service_routes(&state)
        .layer(axum::middleware::map_response_with_state(state.faults, date_header))
        .layer(axum::middleware::from_fn_with_state(Arc::new(addr.to_string()), own_host_only))
}

/// What AWS serves: its APIs, the SSO portal and OIDC, and the data channel.
fn service_routes(state: &AppState) -> Router {
    let data_channel = socket::routes(DataChannelState {
        directory: state.service.clone(),
        faults: state.faults.clone(),
        metrics: state.metrics.clone(),
    });
    Router::new()
        .route("/", post(aws_api))
        .route("/client/register", post(sso::register_client))
        .route("/device_authorization", post(sso::start_device_authorization))
        .route("/token", post(sso::create_token))
        .route("/federation/credentials", get(sso::role_credentials))
        .with_state(state.clone())
        .merge(data_channel)
}

/// Faults, metrics, the clock and SSO approval, for tests and developers.
#[cfg(feature = "testkit")]
fn control_routes(state: AppState) -> Router {
    Router::new()
        .route("/_emulator/faults", get(get_faults).post(set_faults))
        .route("/_emulator/metrics", get(get_metrics))
        .route("/_emulator/clock", post(sso::advance_clock))
        .route("/_emulator/sso/pending", get(sso::pending))
        .route("/_emulator/sso/approve", post(sso::approve))
        .route("/_emulator/sso/device", get(sso::device_page))
        .with_state(state)
}

/// Refuses a request whose `Host` is not `own` (`127.0.0.1:<port>`): a web page whose name was
/// rebound to 127.0.0.1 sends its own name.
async fn own_host_only(
    State(own): State<Arc<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let host = request
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    if host == Some(own.as_str()) {
        next.run(request).await
    } else {
        (StatusCode::MISDIRECTED_REQUEST, format!("this emulator serves only requests for {own}\n"))
            .into_response()
    }
}

/// Every answer carries the service's Date, as AWS's do (clients compare it with their clock).
async fn date_header(State(faults): State<Arc<Faults>>, mut response: Response) -> Response {
    if let Ok(value) = HeaderValue::from_str(&httpdate::fmt_http_date(faults.service_now())) {
        response.headers_mut().insert("date", value);
    }
    response
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

async fn aws_api(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let (uri, headers) = (OriginalUri(parts.uri.clone()), parts.headers.clone());
    if let Some(ConnectInfo(PeerAddr(peer))) = parts.extensions.get::<ConnectInfo<PeerAddr>>() {
        state.metrics.api_peer(peer.ip());
    }
    let target = uri.0.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let request_id = request_id();
    if let Some(operation) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        // JSON 1.1 APIs: SSM (`AmazonSSM.X`) and KMS (`TrentService.X`), each signed for its service.
        let (service, operation) =
            match (operation.strip_prefix("AmazonSSM."), operation.strip_prefix("TrentService.")) {
                (Some(op), _) => ("ssm", op),
                (None, Some(op)) => ("kms", op),
                (None, None) => ("", operation),
            };
        let result = match service {
            "" => Err(crate::service::ApiError::client(
                "UnknownOperationException",
                format!("unknown target {operation}"),
            )),
            service => {
                match state.service.authenticate("POST", &target, &headers, &body, service) {
                    Err(auth) => {
                        Err(crate::service::ApiError::client(auth.json_type(), auth.message()))
                    }
                    Ok(caller) => {
                        if let Some(failure) =
                            state.faults.api_failure(&format!("{service}:{operation}"))
                        {
                            return failed(&failure, "application/x-amz-json-1.1");
                        }
                        if service == "kms" {
                            kms::call(&state.service, &caller, operation, &body)
                        } else {
                            ssm::call(&state.service, &caller, operation, &body, &host)
                        }
                    }
                }
            }
        };
        let (status, body) = match result {
            Ok(value) => (StatusCode::OK, value),
            Err(error) => (
                StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
                json!({"__type": error.code, "message": error.message}),
            ),
        };
        let mut response = (status, body.to_string()).into_response();
        let response_headers = response.headers_mut();
        response_headers
            .insert("content-type", HeaderValue::from_static("application/x-amz-json-1.1"));
        if let Ok(id) = HeaderValue::from_str(&request_id) {
            response_headers.insert("x-amzn-requestid", id);
        }
        return response;
    }
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    if signing_service(&headers).as_deref() == Some("sts") {
        return sts_api(&state, &target, &headers, &body, &form, &request_id);
    }
    let result = match state.service.authenticate("POST", &target, &headers, &body, "ec2") {
        Err(auth) => {
            let status = match auth {
                crate::sigv4::AuthError::BadSignature(_) => 403,
                crate::sigv4::AuthError::Expired(_) | crate::sigv4::AuthError::ExpiredToken => 400,
                _ => 401,
            };
            Err(crate::service::ApiError { code: auth.ec2_code(), message: auth.message(), status })
        }
        Ok(caller) => {
            let action = form
                .iter()
                .find(|(k, _)| k == "Action")
                .map(|(_, v)| v.as_str())
                .unwrap_or_default();
            if let Some(failure) = state.faults.api_failure(&format!("ec2:{action}")) {
                return failed(&failure, "text/xml;charset=UTF-8");
            }
            ec2::call(&state.service, &caller, &form, &request_id)
        }
    };
    let (status, xml) = match result {
        Ok(xml) => (StatusCode::OK, xml),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            ec2::error_xml(error.code, &error.message, &request_id),
        ),
    };
    let mut response = (status, xml).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml;charset=UTF-8"));
    response
}

/// The service a request was signed for: the third part of the credential scope in its
/// Authorization header (`Credential=AKID/20260101/us-east-1/sts/aws4_request`).
fn signing_service(headers: &HeaderMap) -> Option<String> {
    let authorization = headers.get("authorization")?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?.split([',', ' ']).next()?;
    credential.split('/').nth(3).map(str::to_owned)
}

fn sts_api(
    state: &AppState,
    target: &str,
    headers: &HeaderMap,
    body: &[u8],
    form: &[(String, String)],
    request_id: &str,
) -> Response {
    let result = match state.service.authenticate("POST", target, headers, body, "sts") {
        Err(auth) => {
            let code = match auth {
                crate::sigv4::AuthError::Missing => "MissingAuthenticationToken",
                crate::sigv4::AuthError::UnknownKey(_) => "InvalidClientTokenId",
                crate::sigv4::AuthError::BadSignature(_) => "SignatureDoesNotMatch",
                crate::sigv4::AuthError::Expired(_) => "RequestExpired",
                crate::sigv4::AuthError::ExpiredToken => "ExpiredToken",
            };
            Err(crate::service::ApiError { code, message: auth.message(), status: 403 })
        }
        Ok(caller) => sts::call(&state.service, &caller, form, request_id),
    };
    let (status, xml) = match result {
        Ok(xml) => (StatusCode::OK, xml),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            sts::error_xml(error.code, &error.message, request_id),
        ),
    };
    let mut response = (status, xml).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("text/xml"));
    response
}

/// The response of an action failed by `faults.api_failures`: its status and body as given.
fn failed(failure: &crate::faults::ApiFailure, content_type: &'static str) -> Response {
    let status = StatusCode::from_u16(failure.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, failure.body.clone()).into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static(content_type));
    response
}

#[cfg(feature = "testkit")]
async fn get_faults(State(state): State<AppState>) -> Json<FaultConfig> {
    Json(state.faults.get())
}

#[cfg(feature = "testkit")]
async fn set_faults(State(state): State<AppState>, body: Bytes) -> Response {
    let config: FaultConfig = match serde_json::from_slice(&body) {
        Ok(config) => config,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("the faults are not valid JSON of the documented shape: {e}\n"),
            )
                .into_response()
        }
    };
    match state.faults.set(config) {
        Ok(()) => Json(state.faults.get()).into_response(),
        Err(message) => (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    }
}

#[cfg(feature = "testkit")]
async fn get_metrics(State(state): State<AppState>) -> Response {
    Json(state.metrics.snapshot()).into_response()
}
