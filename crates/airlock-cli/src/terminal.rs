//! The terminal of `airlock shell`: raw mode while the session runs (restored on every way
//! out), keystrokes to the session, output to stdout, window-size changes to the node. When
//! stdin is not a terminal (a script piped in), input is passed through unchanged and its end
//! is sent as Ctrl-D, so the remote shell ends too.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use airlock_core::aws::Aws;
use airlock_core::terminal::{open_terminal, Opening, TerminalEvent, TerminalState};
use ssm_protocol::payload::TerminalSize;
use tokio::io::AsyncReadExt;

use crate::CliError;

/// Leaves raw mode when dropped.
struct RawMode;

impl RawMode {
    fn enable() -> Result<RawMode, CliError> {
        crossterm::terminal::enable_raw_mode().map_err(CliError::Io)?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

fn window_size() -> Option<TerminalSize> {
    crossterm::terminal::size()
        .ok()
        .map(|(cols, rows)| TerminalSize { cols: u32::from(cols), rows: u32::from(rows) })
}

#[cfg(unix)]
fn resize_signal() -> Option<tokio::signal::unix::Signal> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change()).ok()
}

#[cfg(unix)]
async fn next_resize(signal: &mut Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
fn resize_signal() -> Option<()> {
    None
}

#[cfg(not(unix))]
async fn next_resize(_: &mut Option<()>) {
    std::future::pending().await
}

/// Whose lines the terminal prints around the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Voice {
    /// `airlock shell`'s: status lines on stderr; the exit code is the command's.
    Airlock,
    /// session-manager-plugin's, for scripts that read them: the agent's message and the
    /// closing "Exiting session with sessionId" line on stdout; 0 when the session ended by
    /// itself, whatever its command returned.
    Plugin,
}

/// Runs a shell or command session on this terminal until it ends, through the engine's
/// terminal task (as the app's tabs do): keystrokes in, output out and acknowledged once
/// written, states as status lines. The exit code is the command's when the agent reports one
/// (in [`Voice::Airlock`]).
pub async fn run_shell(
    aws: Aws,
    opening: impl Into<Opening>,
    voice: Voice,
) -> Result<ExitCode, CliError> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let raw = if interactive { Some(RawMode::enable()?) } else { None };
    let size = if interactive { window_size() } else { None };
    let (terminal, mut events, done) =
        open_terminal(aws.clone(), opening, aws.driver_config(), size);
    let mut resize = if interactive { resize_signal() } else { None };
    let mut stdin = tokio::io::stdin();
    let mut input_open = true;
    let mut buf = vec![0u8; 4096];
    let mut stdout = std::io::stdout();
    let mut session_id: Option<String> = None;
    let mut reconnecting = false;
    let end = loop {
        tokio::select! {
            n = stdin.read(&mut buf), if input_open => match n {
                Ok(0) | Err(_) => {
                    input_open = false;
                    // A script's input has ended: so does the remote shell's (Ctrl-D).
                    if !interactive {
                        terminal.input(vec![0x04]);
                    }
                }
                Ok(n) => terminal.input(buf[..n].to_vec()),
            },
            () = next_resize(&mut resize) => {
                if let Some(size) = window_size() {
                    terminal.resize(size);
                }
            }
            event = events.recv() => match event {
                Some(TerminalEvent::Output(bytes)) => {
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                    terminal.ack(bytes.len());
                }
                Some(TerminalEvent::Stderr(bytes)) => {
                    let mut stderr = std::io::stderr();
                    stderr.write_all(&bytes)?;
                    stderr.flush()?;
                    terminal.ack(bytes.len());
                }
                Some(TerminalEvent::State(TerminalState::Connecting(_))) => {}
                Some(TerminalEvent::State(TerminalState::Connected { session_id: id, encrypted_with, message })) => {
                    if std::mem::take(&mut reconnecting) {
                        status(raw.is_some(), "reconnected; nothing was lost");
                    } else if voice == Voice::Plugin {
                        // The plugin prints the agent's message as it is, on stdout.
                        if let Some(message) = &message {
                            stdout.write_all(format!("{message}\n").as_bytes())?;
                            stdout.flush()?;
                        }
                    } else {
                        // The agent's own message, as the plugin prints it (for an encrypted
                        // session: "This session is encrypted using AWS KMS."), with the key.
                        match (&encrypted_with, &message) {
                            (Some(key), message) => status(raw.is_some(), &format!("{} (KMS key {key})", message.as_deref().unwrap_or("This session is encrypted using AWS KMS."))),
                            (None, Some(message)) => status(raw.is_some(), message),
                            (None, None) => {}
                        }
                    }
                    session_id = Some(id);
                }
                Some(TerminalEvent::State(TerminalState::Reconnecting { attempt, delay, reason })) => {
                    reconnecting = true;
                    status(raw.is_some(), &format!("connection lost ({reason}); reconnecting in {:.1} s (attempt {attempt})", delay.as_secs_f64()));
                }
                Some(TerminalEvent::State(TerminalState::Ended { reason, exit_code, failed, .. })) => break (reason, exit_code, failed),
                None => break ("the session's task stopped".to_owned(), None, true),
            },
        }
    };
    drop(raw);
    // The task has terminated the session at the service when it failed; wait for that.
    done.await;
    let (reason, exit_code, failed) = end;
    match (&session_id, failed) {
        // It never started: the reason is the engine's error, as every other command prints it.
        (None, true) => {
            eprintln!("airlock: {reason}");
            return Ok(ExitCode::FAILURE);
        }
        (Some(id), true) => {
            eprintln!("\nSession {id} ended: {reason}");
            return Ok(ExitCode::FAILURE);
        }
        (Some(id), false) if voice == Voice::Plugin => {
            print!("\n\nExiting session with sessionId: {id}.\n\n");
            stdout.flush()?;
            return Ok(ExitCode::SUCCESS);
        }
        (Some(id), false) if interactive => eprintln!("\nSession {id} ended."),
        _ => {}
    }
    Ok(match exit_code {
        Some(0) | None => ExitCode::SUCCESS,
        Some(code) => ExitCode::from(u8::try_from(code.clamp(1, 255)).unwrap_or(1)),
    })
}

/// A status line on stderr that reads well in raw mode too.
fn status(raw: bool, message: &str) {
    if raw {
        eprint!("\r\n[airlock] {message}\r\n");
    } else {
        eprintln!("[airlock] {message}");
    }
}
