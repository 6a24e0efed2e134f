//! The STS Query API (form-encoded, `Version=2011-06-15`), answering in STS's XML shape:
//! GetCallerIdentity names the account and the caller behind a signature.

use crate::service::{ApiError, Service};
use crate::sigv4::Caller;

/// STS's XML namespace.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Runs the action in the form `body` for `caller`; returns the XML document.
pub fn call(service: &Service, caller: &Caller, form: &[(String, String)], request_id: &str) -> Result<String, ApiError> {
    let action = form.iter().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str()).unwrap_or_default();
    match action {
        "GetCallerIdentity" => Ok(format!(
            "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user_id}</UserId>\
             <Account>{account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>{request_id}</RequestId>\
             </ResponseMetadata></GetCallerIdentityResponse>",
            arn = escape(&format!("arn:aws:iam::{}:user/{}", service.account(), caller.user)),
            user_id = escape(&caller.access_key_id.replacen("AKIA", "AIDA", 1)),
            account = service.account(),
        )),
        "" => Err(ApiError::client("MissingAction", "The request must contain the parameter Action.")),
        other => Err(ApiError::client("InvalidAction", format!("Could not find operation {other} for version 2011-06-15"))),
    }
}

/// STS's error document.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(code),
        escape(message)
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
