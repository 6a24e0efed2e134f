//! The log filter the `airlock` binary and the app share: `AIRLOCK_LOG` (a tracing filter such
//! as `debug` or `airlock_core=trace`), quiet (`warn`) by default. The AWS SDK's runtime logs
//! the identity it signs with at debug level (the access key id, with the secret redacted);
//! those modules stay at `info` unless the filter names them, so `AIRLOCK_LOG=debug` logs no key.

/// SDK modules that log identities at debug level.
const IDENTITY_LOGGERS: &[&str] = &["aws_smithy_runtime", "aws_smithy_runtime_api", "aws_config", "aws_credential_types"];

/// The filter for `AIRLOCK_LOG`'s value.
pub fn filter(spec: Option<&str>) -> String {
    let spec = spec.map(str::trim).filter(|s| !s.is_empty()).unwrap_or("warn");
    let mut filter = spec.to_owned();
    for module in IDENTITY_LOGGERS {
        let named = spec.split(',').any(|directive| directive.trim().split('=').next() == Some(module));
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
    fn the_sdk_identity_loggers_stay_quiet_unless_named() {
        assert_eq!(filter(None), "warn,aws_smithy_runtime=info,aws_smithy_runtime_api=info,aws_config=info,aws_credential_types=info");
        assert!(filter(Some("debug")).starts_with("debug,aws_smithy_runtime=info,"));
        let named = filter(Some("debug,aws_smithy_runtime=trace"));
        assert!(named.contains("aws_smithy_runtime=trace") && !named.contains("aws_smithy_runtime=info"), "{named}");
    }
}
