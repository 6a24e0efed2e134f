//! Shell-type workloads: a real process in a pty (Standard_Stream, InteractiveCommands) or with
//! pipes (NonInteractiveCommands), as the agent runs them.
//!
//! Output leaves in chunks of at most 1024 bytes, cut on UTF-8 boundaries (the agent holds back
//! an incomplete trailing sequence). Sizes resize the pty. A non-interactive command's stdin is
//! not connected: the agent only looks for Ctrl-C (0x03) and Ctrl-\ (0x1c) in the input and
//! signals the process, then reports `EXIT_CODE: n` when it ends.

use std::io::{Read, Write};
use std::time::Duration;

use portable_pty::{native_pty_system, CommandBuilder, PtySize};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::{Ending, WorkInput, WorkOutput};

/// The agent's largest stream payload.
const CHUNK: usize = 1024;

/// How long the agent waits for the last output after the process exits.
const DRAIN: Duration = Duration::from_secs(2);

/// How a shell starts, beyond its command line: as which user (Run As), and the profile typed
/// into it first.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShellOptions {
    /// Run as this OS user (Session Manager's Run As).
    pub run_as: Option<String>,
    /// Commands typed in at start (the preferences' shell profile; Standard_Stream only).
    pub profile: Option<String>,
    /// A Windows node, as the agent's `shell_windows.go` treats it: the shell profile is typed
    /// line by line, each ended with `\r`, and input that holds no `\r\n` has every `\n`
    /// sent as `\r` (PowerShell's line editor ends a line on `\r`).
    pub windows: bool,
}

/// The command line prefix that runs a command as `user`, with the agent's checks and words
/// (`shell_unix.go`): the agent must be root, the user must exist and must not be root.
fn run_as_prefix(user: &str) -> Result<Vec<String>, String> {
    let id = |args: &[&str]| {
        std::process::Command::new("id")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if id(&["-u"]).as_deref() != Some("0") {
        return Err("Unable to start command: the agent must run as root to use RunAs".into());
    }
    match id(&["-u", user]) {
        None => Err(format!(
            "Unable to start command: failed to start pty since RunAs user {user} does not exist"
        )),
        Some(uid) if uid == "0" => Err("Unable to start command: invalid uid and gid".into()),
        Some(_) => Ok(vec!["runuser".into(), "-u".into(), user.into(), "--".into()]),
    }
}

/// Starts `argv` in a new pty and returns at once; the threads it starts end with the process.
pub(crate) fn start_shell(
    argv: &[String],
    options: &ShellOptions,
    input: mpsc::Receiver<WorkInput>,
    output: mpsc::Sender<WorkOutput>,
) -> Result<(), String> {
    let mut argv = argv.to_vec();
    if let Some(user) = &options.run_as {
        let mut prefixed = run_as_prefix(user)?;
        prefixed.append(&mut argv);
        argv = prefixed;
    }
    let program = argv.first().ok_or("the node has no shell command configured")?.clone();
    let pair = native_pty_system()
        .openpty(PtySize { rows: 24, cols: 80, pixel_width: 0, pixel_height: 0 })
        .map_err(|e| format!("could not open a pty: {e}"))?;
    let mut command = CommandBuilder::new(&program);
    command.args(&argv[1..]);
    command.env("TERM", "xterm-256color");
    match (&options.run_as, std::env::var_os("HOME")) {
        // Another user may not enter this one's home.
        (Some(_), _) => command.cwd("/"),
        (None, Some(home)) => command.cwd(home),
        (None, None) => {}
    }
    let mut child =
        pair.slave.spawn_command(command).map_err(|e| format!("could not start {program}: {e}"))?;
    drop(pair.slave);
    let reader = pair.master.try_clone_reader().map_err(|e| format!("pty reader: {e}"))?;
    let mut writer = pair.master.take_writer().map_err(|e| format!("pty writer: {e}"))?;
    let master = pair.master;
    if let Some(profile) = options.profile.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        // Typed into the shell, as the agent writes it to the pty (`runShellProfile`): echoed,
        // and run before the first keystroke.
        let typed = if options.windows {
            profile.split('\n').map(|line| format!("{line}\r")).collect::<String>()
        } else {
            format!("{profile}\n")
        };
        writer
            .write_all(typed.as_bytes())
            .map_err(|e| format!("Encountered an error while executing shell profile: {e}"))?;
    }

    let (drained_tx, drained_rx) = std::sync::mpsc::channel::<()>();
    let out = output.clone();
    std::thread::spawn(move || {
        read_pty(reader, &out);
        let _ = drained_tx.send(());
    });
    let windows = options.windows;
    std::thread::spawn(move || write_pty(input, writer, master, windows));
    std::thread::spawn(move || {
        let _ = child.wait();
        // The reader ends when the last holder of the pty's other side is gone; a background
        // job may keep it open, so wait no longer than the agent does.
        let _ = drained_rx.recv_timeout(DRAIN);
        let _ = output.blocking_send(WorkOutput::Ended(Ending::Finished));
    });
    Ok(())
}

/// Input as the Windows agent hands it to its console: unchanged when it holds a `\r\n`, else
/// every `\n` as `\r`.
fn windows_line_ends(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.windows(2).any(|pair| pair == b"\r\n") {
        return bytes;
    }
    bytes.into_iter().map(|b| if b == b'\n' { b'\r' } else { b }).collect()
}

fn read_pty(mut reader: Box<dyn Read + Send>, output: &mpsc::Sender<WorkOutput>) {
    let mut buf = [0u8; CHUNK];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match reader.read(&mut buf[..CHUNK - pending.len().min(CHUNK - 1)]) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        let cut = utf8_cut(&pending);
        if cut == 0 {
            continue;
        }
        let rest = pending.split_off(cut);
        if output.blocking_send(WorkOutput::Data(std::mem::replace(&mut pending, rest))).is_err() {
            return;
        }
    }
    if !pending.is_empty() {
        let _ = output.blocking_send(WorkOutput::Data(pending));
    }
}

fn write_pty(
    mut input: mpsc::Receiver<WorkInput>,
    mut writer: Box<dyn Write + Send>,
    master: Box<dyn portable_pty::MasterPty + Send>,
    windows: bool,
) {
    while let Some(item) = input.blocking_recv() {
        match item {
            WorkInput::Data(bytes) => {
                let bytes = if windows { windows_line_ends(bytes) } else { bytes };
                if writer.write_all(&bytes).and_then(|()| writer.flush()).is_err() {
                    break;
                }
            }
            WorkInput::Resize(size) => {
                let clamp = |n: u32| u16::try_from(n).unwrap_or(u16::MAX);
                let _ = master.resize(PtySize {
                    rows: clamp(size.rows),
                    cols: clamp(size.cols),
                    pixel_width: 0,
                    pixel_height: 0,
                });
            }
            WorkInput::Flag(_) => {}
        }
    }
}

/// The length of the longest prefix of `bytes` that does not end inside a UTF-8 sequence.
/// Bytes that are not UTF-8 at all are passed on as they are.
pub(crate) fn utf8_cut(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // Look back at most three bytes for the start of a multi-byte sequence.
    for back in 1..=3.min(len) {
        let b = bytes[len - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte: keep looking for the lead byte
        }
        let needed = match b {
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return len, // ASCII or not UTF-8: nothing to hold back
        };
        return if back < needed { len - back } else { len };
    }
    len
}

/// Starts a non-interactive command with pipes.
pub(crate) fn start_command(
    command: String,
    run_as: Option<&str>,
    separate_stderr: bool,
    mut input: mpsc::Receiver<WorkInput>,
    output: mpsc::Sender<WorkOutput>,
) -> Result<(), String> {
    let argv: Vec<String> = match run_as {
        Some(user) => run_as_prefix(user)?
            .into_iter()
            .chain(["/bin/sh".to_owned(), "-c".to_owned(), command])
            .collect(),
        None => vec!["/bin/sh".into(), "-c".into(), command],
    };
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start the command: {e}"))?;
    let pid = child.id();
    let stdout = child.stdout.take().ok_or("the command has no stdout")?;
    let stderr = child.stderr.take().ok_or("the command has no stderr")?;
    tokio::spawn(async move {
        let out = pump(stdout, output.clone(), false);
        let err = pump(stderr, output.clone(), separate_stderr);
        let signals = async {
            while let Some(item) = input.recv().await {
                if let (WorkInput::Data(bytes), Some(pid)) = (item, pid) {
                    for signal in bytes.iter().filter_map(|b| match b {
                        0x03 => Some("-INT"),
                        0x1c => Some("-QUIT"),
                        _ => None,
                    }) {
                        let _ = tokio::process::Command::new("kill")
                            .arg(signal)
                            .arg(pid.to_string())
                            .status()
                            .await;
                    }
                }
            }
            std::future::pending::<()>().await
        };
        let finished = async {
            tokio::join!(out, err);
            child.wait().await
        };
        let status = tokio::select! {
            status = finished => status,
            () = signals => unreachable!("the signal loop never returns"),
        };
        let code = status.ok().and_then(|s| s.code()).unwrap_or(-1);
        let _ = output.send(WorkOutput::Exit(code)).await;
        let _ = output.send(WorkOutput::Ended(Ending::Finished)).await;
    });
    Ok(())
}

async fn pump(
    mut from: impl tokio::io::AsyncRead + Unpin,
    to: mpsc::Sender<WorkOutput>,
    stderr: bool,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let bytes = buf[..n].to_vec();
                let item = if stderr { WorkOutput::Stderr(bytes) } else { WorkOutput::Data(bytes) };
                if to.send(item).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utf8_cut;

    #[test]
    fn holds_back_only_an_incomplete_trailing_sequence() {
        assert_eq!(utf8_cut(b"abc"), 3);
        let euro = "€".as_bytes(); // three bytes
        assert_eq!(utf8_cut(&[b'a', euro[0]]), 1);
        assert_eq!(utf8_cut(&[b'a', euro[0], euro[1]]), 1);
        assert_eq!(utf8_cut(&[b'a', euro[0], euro[1], euro[2]]), 4);
        assert_eq!(utf8_cut(&[0xff, 0xfe]), 2, "non-UTF-8 passes through");
    }
}
