//! The STS Query API (form-encoded, `Version=2011-06-15`), answering in STS's XML shape:
//! GetCallerIdentity names the account and the caller behind a signature; GetSessionToken and
//! AssumeRole hand out temporary credentials (see [`crate::identity`]).

use crate::identity::Issued;
use crate::service::{ApiError, Service};
use crate::sigv4::Caller;

/// STS's XML namespace.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// Runs the action in the form `body` for `caller`; returns the XML document.
pub fn call(
    service: &Service,
    caller: &Caller,
    form: &[(String, String)],
    request_id: &str,
) -> Result<String, ApiError> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let action = field("Action").unwrap_or_default();
    let identities = service.identities();
    let credentials = |issued: &Issued| {
        let expiration = aws_smithy_types::DateTime::from(identities.as_real_time(issued.expires));
        let expiration =
            expiration.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_default();
        format!(
            "<Credentials><AccessKeyId>{}</AccessKeyId><SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken>\
             <Expiration>{expiration}</Expiration></Credentials>",
            issued.access_key_id,
            escape(&issued.secret_access_key),
            escape(&issued.session_token)
        )
    };
    let metadata =
        format!("<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>");
    match action {
        "GetCallerIdentity" => Ok(format!(
            "<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\"><GetCallerIdentityResult><Arn>{arn}</Arn><UserId>{user_id}</UserId>\
             <Account>{account}</Account></GetCallerIdentityResult>{metadata}</GetCallerIdentityResponse>",
            arn = escape(&caller.arn),
            user_id = escape(&caller.access_key_id.replacen("AKIA", "AIDA", 1)),
            account = service.account(),
        )),
        "GetSessionToken" => {
            let issued = identities.get_session_token(caller, field("DurationSeconds"), field("SerialNumber"), field("TokenCode"))?;
            Ok(format!(
                "<GetSessionTokenResponse xmlns=\"{NAMESPACE}\"><GetSessionTokenResult>{}</GetSessionTokenResult>{metadata}</GetSessionTokenResponse>",
                credentials(&issued)
            ))
        }
        "AssumeRole" => {
            let role_arn = field("RoleArn").ok_or_else(|| ApiError::client("ValidationError", "RoleArn is required"))?;
            let session_name = field("RoleSessionName").ok_or_else(|| ApiError::client("ValidationError", "RoleSessionName is required"))?;
            let (issued, assumed) = identities.assume_role(
                caller,
                role_arn,
                session_name,
                field("ExternalId"),
                field("DurationSeconds"),
                field("SerialNumber"),
                field("TokenCode"),
            )?;
            Ok(format!(
                "<AssumeRoleResponse xmlns=\"{NAMESPACE}\"><AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROAEMULATOR0000000:{}</AssumedRoleId>\
                 <Arn>{}</Arn></AssumedRoleUser>{}</AssumeRoleResult>{metadata}</AssumeRoleResponse>",
                escape(session_name),
                escape(&assumed),
                credentials(&issued)
            ))
        }
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
