//! Airlock as `session-manager-plugin`: when the binary runs under that name (a link on the
//! PATH), it takes the arguments the AWS CLI hands the official plugin after StartSession and
//! runs the session with Airlock's engine, printing the lines scripts read from the plugin.
//!
//! The contract, as the AWS CLI (`awscli/customizations/sessionmanager.py`) and the plugin
//! (`src/sessionmanagerplugin/session/session.go`) define it:
//! - `session-manager-plugin` alone says it is installed; `--version` prints a version, and the
//!   CLI passes the StartSession response in the environment variable
//!   [`RESPONSE_VARIABLE`] (not on the command line, where `ps` shows it) only to a plugin
//!   newer than 1.2.497.0;
//! - otherwise: `RESPONSE REGION StartSession PROFILE REQUEST ENDPOINT`, where RESPONSE is the
//!   response's JSON or the variable's name, PROFILE may be empty, REQUEST is StartSession's
//!   parameters as JSON (only `Target` is read) and ENDPOINT the SSM endpoint the CLI used.
//!
//! The session's kind comes from the agent (its handshake, or a shell's first output), as in
//! the plugin: a shell or command runs on this terminal, a TCP port session listens on the
//! port its document asks for (or any free one), a stdio port session (AWS-StartSSHSession)
//! joins stdin and stdout.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;

use airlock_core::aws::Aws;
use airlock_core::datachannel::Endpoint;
use airlock_core::session::OpenError;
use airlock_core::terminal::Opening;
use ssm_protocol::handshake::{PortMode, SessionKind};

use crate::terminal::{run_shell, Voice};
use crate::{credentials, CliError};

/// The name the AWS CLI runs.
pub const PLUGIN_NAME: &str = "session-manager-plugin";

/// The variable that carries the StartSession response, when argv names it.
pub const RESPONSE_VARIABLE: &str = "AWS_SSM_START_SESSION_RESPONSE";

/// The version reported to `--version`: the oldest the AWS CLI (1.46) does not call outdated
/// (its `RECOMMENDED_MINIMUM_PLUGIN_VERSION`). Being above 1.2.497.0 also makes the CLI pass
/// the session token in the environment instead of on the command line.
pub const COMPATIBLE_VERSION: &str = "1.2.764.0";

/// Whether the program was started under the plugin's name (`session-manager-plugin`, or
/// `session-manager-plugin.exe` on Windows).
pub fn invoked_as_plugin(argv0: &std::ffi::OsStr) -> bool {
    let name = std::path::Path::new(argv0).file_stem().and_then(|n| n.to_str());
    name == Some(PLUGIN_NAME)
}

/// What the AWS CLI asked for.
#[derive(Debug)]
pub enum Invocation {
    /// No arguments: the installation check.
    Installed,
    /// `--version`.
    Version,
    /// A session to run.
    Session(SessionArgs),
}

/// A started session and where its account is.
pub struct SessionArgs {
    /// Where and how to join it.
    pub endpoint: Endpoint,
    /// The region the CLI used.
    pub region: String,
    /// The CLI's `--profile`, if it was given.
    pub profile: Option<String>,
    /// The SSM endpoint the CLI used, if it named one.
    pub ssm_endpoint: Option<String>,
}

impl std::fmt::Debug for SessionArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The endpoint's own Debug leaves the token out.
        f.debug_struct("SessionArgs")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("ssm_endpoint", &self.ssm_endpoint)
            .finish()
    }
}

/// Reads the arguments (after the program's name); `variable` reads the environment.
pub fn parse(
    args: &[String],
    variable: impl Fn(&str) -> Option<String>,
) -> Result<Invocation, CliError> {
    let usage = |why: &str| {
        CliError::Usage(format!(
            "{why}. As session-manager-plugin, Airlock runs the sessions the AWS CLI starts: \
             `aws ssm start-session --target NODE`; `airlock --help` (under its own name) lists \
             everything else"
        ))
    };
    match args {
        [] => return Ok(Invocation::Installed),
        [flag] if flag == "--version" => return Ok(Invocation::Version),
        [_] | [_, _] | [_, _, _] => return Err(usage("unknown operation")),
        [_, _, _, _] => {
            return Err(usage(
                "this AWS CLI passes no profile or request (a version before 1.16.12); \
                 upgrade the AWS CLI",
            ))
        }
        _ => {}
    }
    let operation = &args[2];
    if operation != "StartSession" {
        return Err(usage(&format!("unknown operation {operation:?}")));
    }
    let response = if args[0].starts_with(RESPONSE_VARIABLE) {
        variable(&args[0]).ok_or_else(|| {
            usage(&format!("{} names an environment variable that is not set", args[0]))
        })?
    } else {
        args[0].clone()
    };
    let response: serde_json::Value = serde_json::from_str(&response)
        .map_err(|e| usage(&format!("the StartSession response is not JSON ({e})")))?;
    let field = |name: &str| {
        response
            .get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| usage(&format!("the StartSession response has no {name}")))
    };
    let request: serde_json::Value = serde_json::from_str(&args[4])
        .map_err(|e| usage(&format!("the StartSession request is not JSON ({e})")))?;
    let target = request
        .get("Target")
        .and_then(|v| v.as_str())
        .ok_or_else(|| usage("the StartSession request names no Target"))?;
    let endpoint = Endpoint {
        session_id: field("SessionId")?,
        stream_url: field("StreamUrl")?,
        token: field("TokenValue")?,
        target: target.to_owned(),
    };
    let non_empty = |s: &String| (!s.is_empty()).then(|| s.clone());
    Ok(Invocation::Session(SessionArgs {
        endpoint,
        region: args[1].clone(),
        profile: non_empty(&args[3]),
        ssm_endpoint: args.get(5).and_then(non_empty),
    }))
}

/// Runs as the plugin with `args` (after the program's name).
pub async fn run(args: Vec<String>) -> Result<ExitCode, CliError> {
    let session = match parse(&args, |name| std::env::var(name).ok())? {
        Invocation::Installed => {
            print!("\nThe Session Manager plugin was installed successfully. Use the AWS CLI to start a session.\n\n");
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Version => {
            println!("{COMPATIBLE_VERSION}");
            return Ok(ExitCode::SUCCESS);
        }
        Invocation::Session(session) => session,
    };
    if args[0].starts_with(RESPONSE_VARIABLE) {
        tracing::debug!("the StartSession response came in {RESPONSE_VARIABLE}");
    } else {
        tracing::debug!("the StartSession response came on the command line");
    }
    let prompter = Arc::new(credentials::TerminalPrompter { stdin_is_data: true });
    let mut aws = Aws::load(session.profile.as_deref(), Some(&session.region), prompter).await?;
    if let Some(url) = &session.ssm_endpoint {
        aws = aws.with_ssm_endpoint(url);
    }
    let session_id = session.endpoint.session_id.clone();
    // The token goes only where a session token may go (the region's Session Manager host,
    // or the endpoint the CLI used); else the session is ended at once.
    if let Err(refused) = aws.check_stream_url(&session.endpoint.stream_url) {
        let _ = aws.terminate_session(&session_id).await;
        return Err(refused.into());
    }
    print!("\nStarting session with SessionId: {session_id}\n");
    std::io::stdout().flush()?;
    let mut opened = aws.join(session.endpoint, aws.driver_config()).await?;
    let ready = match opened.ready().await {
        Ok(ready) => ready,
        Err(error) => {
            let _ = aws.terminate_session(&session_id).await;
            return Err(error.into());
        }
    };
    match ready.kind.clone() {
        SessionKind::Shell | SessionKind::Command => {
            run_shell(aws, Opening::Opened { session: opened, ready }, Voice::Plugin).await
        }
        SessionKind::Port(port) if port.mode == PortMode::Stdio => {
            opened.pipe(tokio::io::stdin(), tokio::io::stdout()).await?;
            Ok(ExitCode::SUCCESS)
        }
        SessionKind::Port(port) => {
            let asked = port.local_port_number.as_deref().unwrap_or("").trim();
            let local_port = match asked {
                "" => 0,
                text => match text.parse::<u16>() {
                    Ok(number) => number,
                    Err(_) => {
                        let _ = opened.terminate().await;
                        return Err(CliError::Open(OpenError::Invalid(format!(
                            "the document asks for local port {asked:?}, which is not a port number: give localPortNumber from 0 (any free port) to 65535"
                        ))));
                    }
                },
            };
            let local = SocketAddr::from((Ipv4Addr::LOCALHOST, local_port));
            let tunnel = aws.forward_opened(opened, &port, local).await?;
            let opened_line =
                format!("Port {} opened for sessionId {session_id}.", tunnel.local_addr().port());
            if matches!(port.mode, PortMode::Mux { .. }) {
                print!("{opened_line}\nWaiting for connections...\n");
            } else {
                println!("{opened_line}");
            }
            std::io::stdout().flush()?;
            tokio::select! {
                _ = tokio::signal::ctrl_c() => println!("Terminate signal received, exiting."),
                _ = tunnel.wait() => {}
            }
            tunnel.stop().await;
            print!("\n\nExiting session with sessionId: {session_id}.\n\n");
            std::io::stdout().flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESPONSE: &str = r#"{"SessionId":"s-1","StreamUrl":"wss://ssmmessages.eu-west-1.amazonaws.com/v1/data-channel/s-1","TokenValue":"tok"}"#;
    const REQUEST: &str = r#"{"Target":"i-0123","DocumentName":"AWS-StartPortForwardingSession"}"#;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    fn none(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_seven_argument_form_gives_the_session_and_its_account() {
        let parsed = parse(
            &args(&[
                RESPONSE,
                "eu-west-1",
                "StartSession",
                "",
                REQUEST,
                "https://ssm.eu-west-1.amazonaws.com",
            ]),
            none,
        )
        .unwrap();
        let Invocation::Session(session) = parsed else { panic!("{parsed:?}") };
        assert_eq!(session.endpoint.session_id, "s-1");
        assert_eq!(session.endpoint.token, "tok");
        assert_eq!(session.endpoint.target, "i-0123");
        assert_eq!(session.region, "eu-west-1");
        assert_eq!(session.profile, None, "an empty profile is the default chain");
        assert_eq!(session.ssm_endpoint.as_deref(), Some("https://ssm.eu-west-1.amazonaws.com"));
    }

    #[test]
    fn the_response_may_come_in_the_variable_argv_names() {
        let parsed = parse(
            &args(&[RESPONSE_VARIABLE, "eu-west-1", "StartSession", "work", REQUEST, ""]),
            |name| (name == RESPONSE_VARIABLE).then(|| RESPONSE.to_owned()),
        )
        .unwrap();
        let Invocation::Session(session) = parsed else { panic!("{parsed:?}") };
        assert_eq!(session.endpoint.token, "tok");
        assert_eq!(session.profile.as_deref(), Some("work"));
        assert_eq!(session.ssm_endpoint, None);
        let unset = parse(&args(&[RESPONSE_VARIABLE, "r", "StartSession", "", REQUEST]), none);
        assert!(unset.unwrap_err().to_string().contains("not set"));
    }

    #[test]
    fn the_checks_and_bad_input_are_answered_without_a_session() {
        assert!(matches!(parse(&[], none).unwrap(), Invocation::Installed));
        assert!(matches!(parse(&args(&["--version"]), none).unwrap(), Invocation::Version));
        let error = |list: &[&str]| parse(&args(list), none).unwrap_err().to_string();
        assert!(error(&["x"]).contains("unknown operation"));
        assert!(error(&[RESPONSE, "r", "StartSession", ""]).contains("upgrade the AWS CLI"));
        assert!(error(&[RESPONSE, "r", "Other", "", REQUEST]).contains("\"Other\""));
        assert!(error(&["{not json", "r", "StartSession", "", REQUEST]).contains("not JSON"));
        assert!(error(&[r#"{"SessionId":"s"}"#, "r", "StartSession", "", REQUEST])
            .contains("no StreamUrl"));
        assert!(error(&[RESPONSE, "r", "StartSession", "", "{}"]).contains("no Target"));
    }

    #[test]
    fn only_the_plugins_name_selects_plugin_mode() {
        assert!(invoked_as_plugin("/usr/local/bin/session-manager-plugin".as_ref()));
        assert!(invoked_as_plugin("session-manager-plugin.exe".as_ref()));
        assert!(!invoked_as_plugin("/usr/bin/airlock".as_ref()));
        assert!(!invoked_as_plugin("session-manager-plugin-old".as_ref()));
    }
}
