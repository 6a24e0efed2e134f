//! The log filter the `airlock` binary and the app share: `AIRLOCK_LOG` (a tracing filter such
//! as `debug` or `airlock_core=trace`), quiet (`warn`) by default. Some crates log what a key
//! is made of at debug or trace level: the SDK's runtime the identity it signs with (the access
//! key id), SigV4 its canonical requests and credential scopes, the HTTP, TLS and WebSocket
//! crates the headers they write (`Authorization` names the key id). Those modules stay at
//! `info` unless the filter names them, so even `AIRLOCK_LOG=trace` logs no key; a user who
//! names one (`aws_sigv4=trace`) asked for it.

/// Modules that log keys, tokens or signed headers below `info`.
const SECRET_BEARING_LOGGERS: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_config",
    "aws_credential_types",
    "aws_sigv4",
    "aws_runtime",
    "hyper",
    "hyper_util",
    "h2",
    "rustls",
    "tungstenite",
    "tokio_tungstenite",
];

/// The filter for `AIRLOCK_LOG`'s value.
pub fn filter(spec: Option<&str>) -> String {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("warn");
    let mut filter = spec.to_owned();
    for module in SECRET_BEARING_LOGGERS {
        let named =
            spec.split(',').any(|directive| directive.trim().split('=').next() == Some(module));
        if !named {
            filter.push_str(&format!(",{module}=info"));
        }
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::filter;

    #[test]
    fn secret_bearing_loggers_stay_quiet_unless_named() {
        let quiet = filter(None);
        assert!(quiet.starts_with("warn,aws_smithy_runtime=info,"), "{quiet}");
        for module in super::SECRET_BEARING_LOGGERS {
            assert!(
                filter(Some("trace")).contains(&format!(",{module}=info")),
                "{module} is capped under trace"
            );
        }
        let named = filter(Some("debug,aws_smithy_runtime=trace"));
        assert!(
            named.contains("aws_smithy_runtime=trace")
                && !named.contains("aws_smithy_runtime=info"),
            "{named}"
        );
    }
}
