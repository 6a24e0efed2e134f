//! SigV4 verification, as AWS does it: the request's Authorization header names the key, the
//! scope and the signed headers; the signature is computed again with `aws-sigv4` from exactly
//! those headers, the body and the key's secret, and must match. Nothing is hand-signed here.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use axum::http::HeaderMap;

/// How far a request's clock may be from ours.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// Why a request was refused; each maps to AWS's error code for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// No Authorization header.
    Missing,
    /// The access key is not one the emulator knows.
    UnknownKey(String),
    /// The header is malformed or the signature does not match.
    BadSignature(String),
    /// The request was signed too long ago (or in the future).
    Expired(String),
    /// The temporary credentials it was signed with have expired.
    ExpiredToken,
}

impl AuthError {
    /// The SSM JSON error type.
    pub fn json_type(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationTokenException",
            AuthError::UnknownKey(_) => "UnrecognizedClientException",
            AuthError::BadSignature(_) | AuthError::Expired(_) => "InvalidSignatureException",
            AuthError::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// The EC2 Query error code.
    pub fn ec2_code(&self) -> &'static str {
        match self {
            AuthError::Missing => "MissingAuthenticationToken",
            AuthError::UnknownKey(_) => "AuthFailure",
            AuthError::BadSignature(_) => "SignatureDoesNotMatch",
            AuthError::Expired(_) | AuthError::ExpiredToken => "RequestExpired",
        }
    }

    /// The message AWS sends with it.
    pub fn message(&self) -> String {
        match self {
            AuthError::Missing => "Request is missing Authentication Token".into(),
            AuthError::UnknownKey(_) => {
                "The security token included in the request is invalid.".into()
            }
            AuthError::BadSignature(why) => {
                format!("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. ({why})")
            }
            AuthError::Expired(why) => format!("Signature expired: {why}"),
            AuthError::ExpiredToken => {
                "The security token included in the request is expired".into()
            }
        }
    }
}

/// The caller a request was signed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The access key id.
    pub access_key_id: String,
    /// The IAM user, or the role session name (session ids start with it).
    pub user: String,
    /// The principal's ARN (an IAM user, or an assumed role and session).
    pub arn: String,
    /// Whether the key is temporary (STS or SSO), with a session token.
    pub temporary: bool,
    /// Actions its policies do not allow (`ec2:DescribeInstances`, `ssm:*`, ...).
    pub denied: Vec<String>,
    /// Its `SSMSessionRunAs` tag, if any.
    pub run_as: Option<String>,
}

impl Caller {
    /// Whether the caller's policies allow `action` (`service:Operation`).
    pub fn allows(&self, action: &str) -> bool {
        !self.denied.iter().any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => action.starts_with(prefix),
            None => pattern.eq_ignore_ascii_case(action),
        })
    }

    /// IAM's own words for a refusal: who may not do what on which resource.
    pub fn refusal(&self, action: &str, resource: Option<&str>) -> String {
        match resource {
            Some(resource) => format!("User: {} is not authorized to perform: {action} on resource: {resource} because no identity-based policy allows the {action} action", self.arn),
            None => format!("User: {} is not authorized to perform: {action} because no identity-based policy allows the {action} action", self.arn),
        }
    }
}

/// What the verifier needs to know of an access key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The secret it signs with.
    pub secret_access_key: String,
    /// The session token requests must carry (temporary keys).
    pub session_token: Option<String>,
    /// Whether it has expired.
    pub expired: bool,
    /// Whose it is.
    pub caller: Caller,
}

/// The parts of an `AWS4-HMAC-SHA256` Authorization header.
struct Authorization<'a> {
    access_key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(header: &str) -> Result<Authorization<'_>, AuthError> {
    let bad = |m: &str| AuthError::BadSignature(m.to_owned());
    let rest = header
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| bad("only AWS4-HMAC-SHA256 is supported"))?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let (key, value) =
            part.trim().split_once('=').ok_or_else(|| bad("malformed Authorization header"))?;
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential.ok_or_else(|| bad("no Credential in the Authorization header"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, "aws4_request"] = scope[..] else {
        return Err(bad("the credential scope must be KEY/DATE/REGION/SERVICE/aws4_request"));
    };
    Ok(Authorization {
        access_key_id,
        date,
        region,
        service,
        signed_headers: signed.ok_or_else(|| bad("no SignedHeaders"))?.split(';').collect(),
        signature: signature.ok_or_else(|| bad("no Signature"))?,
    })
}

/// Parses `20261122T202500Z`.
fn parse_amz_date(text: &str) -> Option<SystemTime> {
    if text.len() != 16 {
        return None;
    }
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &text[0..4],
        &text[4..6],
        &text[6..8],
        &text[9..11],
        &text[11..13],
        &text[13..15]
    );
    let time = aws_smithy_types::DateTime::from_str(
        &rfc3339,
        aws_smithy_types::date_time::Format::DateTime,
    )
    .ok()?;
    SystemTime::try_from(time).ok()
}

/// Verifies a signed request for `service`. `path_and_query` is the request target as sent.
pub fn verify(
    method: &str,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    service: &str,
    keys: &dyn Fn(&str) -> Option<Key>,
    now: SystemTime,
) -> Result<Caller, AuthError> {
    let header = headers.get("authorization").ok_or(AuthError::Missing)?;
    let header = header
        .to_str()
        .map_err(|_| AuthError::BadSignature("the Authorization header is not text".into()))?;
    let auth = parse_authorization(header)?;
    let key = keys(auth.access_key_id)
        .ok_or_else(|| AuthError::UnknownKey(auth.access_key_id.to_owned()))?;
    if auth.service != service {
        return Err(AuthError::BadSignature(format!(
            "credential should be scoped to correct service: '{service}'"
        )));
    }
    let amz_date = headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::BadSignature("no X-Amz-Date header".into()))?;
    let time = parse_amz_date(amz_date).ok_or_else(|| {
        AuthError::BadSignature(format!("X-Amz-Date {amz_date} is not yyyyMMddTHHmmssZ"))
    })?;
    if !amz_date.starts_with(auth.date) {
        return Err(AuthError::BadSignature(
            "the credential scope date differs from X-Amz-Date".into(),
        ));
    }
    let skew = now.duration_since(time).unwrap_or_else(|e| e.duration());
    if skew > MAX_SKEW {
        return Err(AuthError::Expired(format!(
            "{amz_date} is more than 15 minutes from the server's time"
        )));
    }
    let host = headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AuthError::BadSignature("no Host header".into()))?;
    let session_token = headers.get("x-amz-security-token").and_then(|v| v.to_str().ok());

    let mut signed: Vec<(&str, String)> = Vec::new();
    for name in &auth.signed_headers {
        if *name == "x-amz-security-token" {
            continue; // the signer adds it from the identity
        }
        let values: Vec<&str> =
            headers.get_all(*name).iter().filter_map(|v| v.to_str().ok()).collect();
        if values.is_empty() {
            return Err(AuthError::BadSignature(format!("signed header {name} is missing")));
        }
        signed.push((name, values.join(",")));
    }
    let uri = format!("http://{host}{path_and_query}");
    let request = SignableRequest::new(
        method,
        uri,
        signed.iter().map(|(k, v)| (*k, v.as_str())),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AuthError::BadSignature(e.to_string()))?;
    if key.session_token.is_some() && key.session_token.as_deref() != session_token {
        return Err(AuthError::UnknownKey(auth.access_key_id.to_owned()));
    }
    let identity = Credentials::new(
        auth.access_key_id,
        &key.secret_access_key,
        session_token.map(str::to_owned),
        None,
        "fleet",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AuthError::BadSignature(e.to_string()))?
        .into();
    let output = sign(request, &params).map_err(|e| AuthError::BadSignature(e.to_string()))?;
    if !constant_time_eq(output.signature().as_bytes(), auth.signature.as_bytes()) {
        return Err(AuthError::BadSignature("signature mismatch".into()));
    }
    if key.expired {
        return Err(AuthError::ExpiredToken);
    }
    Ok(key.caller)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(id: &str) -> Option<Key> {
        (id == "AKIDEXAMPLE").then(|| Key {
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: None,
            expired: false,
            caller: Caller {
                access_key_id: id.into(),
                user: "alice".into(),
                arn: "arn:aws:iam::123456789012:user/alice".into(),
                temporary: false,
                denied: Vec::new(),
                run_as: None,
            },
        })
    }

    fn nobody(_: &str) -> Option<Key> {
        None
    }

    /// Signs like an SDK client would, with aws-sigv4.
    fn signed(body: &[u8], secret: &str, time: SystemTime) -> HeaderMap {
        signed_with_token(body, secret, time, None)
    }

    fn signed_with_token(
        body: &[u8],
        secret: &str,
        time: SystemTime,
        token: Option<&str>,
    ) -> HeaderMap {
        let base = [
            ("host", "127.0.0.1:8790"),
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", "AmazonSSM.StartSession"),
        ];
        let request = SignableRequest::new(
            "POST",
            "http://127.0.0.1:8790/",
            base.iter().copied(),
            SignableBody::Bytes(body),
        )
        .unwrap();
        let identity =
            Credentials::new("AKIDEXAMPLE", secret, token.map(str::to_owned), None, "t").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("ssm")
            .time(time)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let (instructions, _) = sign(request, &params).unwrap().into_parts();
        let mut headers = HeaderMap::new();
        for (k, v) in base {
            headers.insert(k, v.parse().unwrap());
        }
        for (k, v) in instructions.headers() {
            headers.insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        headers
    }

    #[test]
    fn a_correct_signature_names_the_caller() {
        let now = SystemTime::now();
        let headers = signed(b"{}", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now);
        let caller = verify("POST", "/", &headers, b"{}", "ssm", &alice, now).unwrap();
        assert_eq!(caller.user, "alice");
    }

    #[test]
    fn tampering_and_wrong_keys_are_refused() {
        let now = SystemTime::now();
        let headers = signed(b"{}", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now);
        assert!(matches!(
            verify("POST", "/", &headers, b"{\"x\":1}", "ssm", &alice, now),
            Err(AuthError::BadSignature(_))
        ));
        assert!(matches!(
            verify("POST", "/", &headers, b"{}", "ec2", &alice, now),
            Err(AuthError::BadSignature(_))
        ));
        let wrong_secret = signed(b"{}", "not-the-secret", now);
        assert!(matches!(
            verify("POST", "/", &wrong_secret, b"{}", "ssm", &alice, now),
            Err(AuthError::BadSignature(_))
        ));
        assert!(matches!(
            verify("POST", "/", &headers, b"{}", "ssm", &nobody, now),
            Err(AuthError::UnknownKey(_))
        ));
        assert_eq!(
            verify("POST", "/", &HeaderMap::new(), b"{}", "ssm", &alice, now),
            Err(AuthError::Missing)
        );
        let later = now + Duration::from_secs(16 * 60);
        assert!(matches!(
            verify("POST", "/", &headers, b"{}", "ssm", &alice, later),
            Err(AuthError::Expired(_))
        ));
    }

    #[test]
    fn temporary_keys_need_their_token_and_stop_when_expired() {
        let now = SystemTime::now();
        let headers = signed(b"{}", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", now);
        let temporary = |expired: bool| {
            move |id: &str| {
                alice(id).map(|k| Key { session_token: Some("token".into()), expired, ..k })
            }
        };
        assert!(
            matches!(
                verify("POST", "/", &headers, b"{}", "ssm", &temporary(false), now),
                Err(AuthError::UnknownKey(_))
            ),
            "no token sent"
        );
        let with_token = signed_with_token(
            b"{}",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
            Some("token"),
        );
        let wrong_token = signed_with_token(
            b"{}",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            now,
            Some("other"),
        );
        assert!(matches!(
            verify("POST", "/", &wrong_token, b"{}", "ssm", &temporary(false), now),
            Err(AuthError::UnknownKey(_))
        ));
        assert!(verify("POST", "/", &with_token, b"{}", "ssm", &temporary(false), now).is_ok());
        assert_eq!(
            verify("POST", "/", &with_token, b"{}", "ssm", &temporary(true), now),
            Err(AuthError::ExpiredToken)
        );
    }
}
