//! The terminal of `airlock shell`: raw mode while the session runs (restored on every way
//! out), keystrokes to the session, output to stdout, window-size changes to the node. When
//! stdin is not a terminal (a script piped in), input is passed through unchanged and its end
//! is sent as Ctrl-D, so the remote shell ends too.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use airlock_core::datachannel::{Command, Ending, Notice};
use airlock_core::session::OpenSession;
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

/// Runs a shell or command session on this terminal until it ends. The exit code is the
/// command's when the agent reports one.
pub async fn run_shell(mut session: OpenSession) -> Result<ExitCode, CliError> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let raw = if interactive { Some(RawMode::enable()?) } else { None };
    let commands = session.channel.commands.clone();
    if interactive {
        if let Some(size) = window_size() {
            let _ = commands.send(Command::Resize(size)).await;
        }
    }
    let mut resize = if interactive { resize_signal() } else { None };
    let mut stdin = tokio::io::stdin();
    let mut input_open = true;
    let mut buf = vec![0u8; 4096];
    let mut exit_code: Option<i32> = None;
    let mut stdout = std::io::stdout();
    let ending = loop {
        tokio::select! {
            n = stdin.read(&mut buf), if input_open => match n {
                Ok(0) | Err(_) => {
                    input_open = false;
                    if !interactive {
                        let _ = commands.send(Command::Data(vec![0x04])).await;
                    }
                }
                Ok(n) => {
                    if commands.send(Command::Data(buf[..n].to_vec())).await.is_err() {
                        input_open = false;
                    }
                }
            },
            () = next_resize(&mut resize) => {
                if let Some(size) = window_size() {
                    let _ = commands.send(Command::Resize(size)).await;
                }
            }
            notice = session.channel.notices.recv() => match notice {
                Some(Notice::Data(bytes)) => {
                    stdout.write_all(&bytes)?;
                    stdout.flush()?;
                }
                Some(Notice::Stderr(bytes)) => {
                    let mut stderr = std::io::stderr();
                    stderr.write_all(&bytes)?;
                    stderr.flush()?;
                }
                Some(Notice::Exit(code)) => exit_code = Some(code),
                Some(Notice::Reconnecting { attempt, delay, reason }) => {
                    status(raw.is_some(), &format!("connection lost ({reason}); reconnecting in {:.1} s (attempt {attempt})", delay.as_secs_f64()));
                }
                Some(Notice::Reconnected) => status(raw.is_some(), "reconnected; nothing was lost"),
                Some(Notice::Ready(ready)) => {
                    // The agent's own message, as the plugin prints it (for an encrypted
                    // session: "This session is encrypted using AWS KMS."), with the key.
                    let message = ready.customer_message.trim();
                    match &ready.encrypted_with {
                        Some(key) => status(raw.is_some(), &format!("{} (KMS key {key})", if message.is_empty() { "This session is encrypted using AWS KMS." } else { message })),
                        None if !message.is_empty() => status(raw.is_some(), message),
                        None => {}
                    }
                }
                Some(Notice::Ended(ending)) => break ending,
                Some(_) => {}
                None => break Ending::LinkLost("the session's task stopped".into()),
            },
        }
    };
    drop(raw);
    let session_id = session.session_id.clone();
    match &ending {
        Ending::Closed { .. } => {
            if interactive {
                eprintln!("\nSession {session_id} ended.");
            }
        }
        other => {
            let _ = session.terminate().await;
            eprintln!("\nSession {session_id} ended: {other}");
            return Ok(ExitCode::FAILURE);
        }
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
