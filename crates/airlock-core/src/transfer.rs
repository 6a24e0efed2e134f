//! File copy through Session Manager alone, with no SSH and no S3: what `airlock cp` and the
//! app's Send file… and Get file… run.
//!
//! - A download is a non-interactive command session (`AWS-StartNonInteractiveCommand`, plain
//!   pipes) whose command prints the file's size, the file in base64, then its SHA-256, each
//!   marker on a line of its own. The file is written beside its destination as
//!   `.NAME.airlock-partial` (owner-only) and renamed into place only when its size and digest
//!   match; otherwise it is removed.
//! - An upload is an interactive command session (`AWS-StartInteractiveCommand`): its command
//!   puts the node's terminal in raw mode, says it is ready, reads exactly the file's base64
//!   length, decodes it into `NAME.airlock-partial` (owner-only) and prints its SHA-256; it is
//!   moved into place with the node's default permissions only when this end answers that the
//!   digest matches.
//!
//! Base64, because a command's output passes through the agent's UTF-8 handling and an
//! upload's input through a terminal: both carry ASCII unchanged, so files of any content
//! arrive byte-exact. What the node needs: `sh`, `base64`, `head`, `stty`, `wc` and
//! `sha256sum`, as every Linux distribution has them (coreutils). Windows nodes are not
//! supported: the command is a POSIX shell's.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::aws::{Aws, StartRequest};
use crate::datachannel::{Command, Ending, Notice};
use crate::session::{OpenError, OpenSession};

/// The marker that starts every line the node's side of a copy prints.
const MARKER: &str = "airlock-cp";

/// File bytes sent in one message of an upload (their base64 is a third longer).
const UPLOAD_CHUNK: usize = 48 * 1024;

/// How far a copy is, in bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes carried so far.
    pub done: u64,
    /// The file's size, once known.
    pub total: Option<u64>,
    /// When the copy began, for the rate and the time left.
    pub started: Instant,
}

impl Progress {
    /// Bytes a second so far.
    pub fn rate(&self) -> f64 {
        let seconds = self.started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            self.done as f64 / seconds
        } else {
            0.0
        }
    }

    /// The time left at the rate so far, when the size is known and something has moved.
    pub fn left(&self) -> Option<Duration> {
        let (total, rate) = (self.total?, self.rate());
        (rate > 0.0).then(|| Duration::from_secs_f64(total.saturating_sub(self.done) as f64 / rate))
    }
}

/// A finished copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// Where the file now is (on the node for an upload, here for a download).
    pub path: String,
    /// Its size.
    pub bytes: u64,
    /// Its SHA-256, hex, the same at both ends.
    pub sha256: String,
    /// The session that carried it.
    pub session_id: String,
}

/// Why a copy failed, and what became of the partial file.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The session could not be started.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Local {
        /// The local path.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file to download is not on the node, or not readable there.
    #[error("{path} on the node is not a file this session's user can read: check the path (it is the node's, not this machine's)")]
    NotReadable {
        /// The node's path.
        path: String,
    },
    /// The node's destination cannot be written.
    #[error("{path} on the node cannot be written by this session's user: choose a directory it may write to (such as /tmp), or a Run As user who may")]
    NotWritable {
        /// The node's path.
        path: String,
    },
    /// The node lacks a program the copy needs.
    #[error("the node has no `{tool}`, which copying needs (sh, base64, head, stty, wc and sha256sum, as in coreutils)")]
    MissingTool {
        /// The program.
        tool: String,
    },
    /// The node did not answer as a POSIX shell does.
    #[error("the node did not answer as a Linux shell does ({said}); copying needs sh and coreutils on the node, and Windows nodes are not supported")]
    NotAShell {
        /// The start of what it printed.
        said: String,
    },
    /// The session ended before the file was complete.
    #[error("the transfer was cut: {reason}; {partial}")]
    Cut {
        /// Why the session ended.
        reason: String,
        /// What became of the partial file.
        partial: String,
    },
    /// What arrived is not what was sent.
    #[error("the copy arrived changed (SHA-256 {got}, expected {expected}); {partial}")]
    Mismatch {
        /// The digest at the receiving end.
        got: String,
        /// The digest at the sending end.
        expected: String,
        /// What became of the partial file.
        partial: String,
    },
    /// Cancelled by the user.
    #[error("cancelled; {partial}")]
    Cancelled {
        /// What became of the partial file.
        partial: String,
    },
}

/// `s` quoted for a POSIX shell.
fn quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The download's command: the file's size, its base64, then its digest; failures as marker
/// lines too, all on standard output (which a document may merge with standard error).
fn download_script(path: &str) -> String {
    let f = quoted(path);
    format!(
        "f={f}; exec 2>&1; \
         for t in base64 sha256sum wc; do command -v $t >/dev/null || {{ echo \"{MARKER} missing $t\"; exit 4; }}; done; \
         if [ ! -f \"$f\" ] || [ ! -r \"$f\" ]; then echo \"{MARKER} unreadable\"; exit 3; fi; \
         echo \"{MARKER} size $(wc -c < \"$f\")\"; \
         base64 < \"$f\" && echo \"{MARKER} sha256 $(sha256sum < \"$f\" | cut -d ' ' -f 1)\""
    )
}

/// The upload's command, for a file of `size` bytes called `name`, to `path` (a directory, or
/// ending in `/`, gets the file's name).
fn upload_script(path: &str, name: &str, size: u64) -> String {
    let encoded = size.div_ceil(3) * 4;
    let (d, n) = (quoted(path), quoted(name));
    format!(
        "stty raw -echo 2>/dev/null; d={d}; \
         case \"$d\" in */) d=\"$d\"{n};; *) [ -d \"$d\" ] && d=\"$d/\"{n};; esac; t=\"$d.airlock-partial\"; \
         for c in base64 head sha256sum; do command -v $c >/dev/null || {{ printf '{MARKER} missing %s\\n' $c; exit 4; }}; done; \
         ( umask 077; : > \"$t\" ) 2>/dev/null || {{ printf '{MARKER} unwritable\\n'; exit 3; }}; \
         trap 'rm -f \"$t\"' HUP INT TERM; \
         printf '{MARKER} ready %s\\n' \"$t\"; \
         if head -c {encoded} | base64 -d > \"$t\" 2>/dev/null; then printf '{MARKER} sha256 %s\\n' \"$(sha256sum < \"$t\" | cut -d ' ' -f 1)\"; \
         else rm -f \"$t\"; printf '{MARKER} undecodable\\n'; exit 5; fi; \
         a=$(head -c 1); \
         if [ \"$a\" = y ]; then chmod \"$(printf %o $((0666 & ~$(umask))))\" \"$t\" && mv -f \"$t\" \"$d\" && printf '{MARKER} done %s\\n' \"$d\"; \
         else rm -f \"$t\"; printf '{MARKER} discarded\\n'; fi"
    )
}

/// A line the node's side printed, or the file's base64.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Size(u64),
    Sha256(&'a str),
    Ready(&'a str),
    Done(&'a str),
    Missing(&'a str),
    Unreadable,
    Unwritable,
    Other(&'a str),
    Data(&'a str),
}

fn line(text: &str) -> Line<'_> {
    let text = text.trim_end_matches('\r');
    let Some(rest) = text.strip_prefix(MARKER).and_then(|r| r.strip_prefix(' ')) else {
        return Line::Data(text);
    };
    let (word, value) = rest.split_once(' ').unwrap_or((rest, ""));
    match word {
        "size" => value.trim().parse().map_or(Line::Other(rest), Line::Size),
        "sha256" => Line::Sha256(value.trim()),
        "ready" => Line::Ready(value),
        "done" => Line::Done(value),
        "missing" => Line::Missing(value.trim()),
        "unreadable" => Line::Unreadable,
        "unwritable" => Line::Unwritable,
        _ => Line::Other(rest),
    }
}

/// Whole lines out of a byte stream.
#[derive(Debug, Default)]
struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            lines.push(String::from_utf8_lossy(&line[..end]).into_owned());
        }
        lines
    }

    /// What came before anything was understood, for an error.
    fn seen(&self) -> String {
        String::from_utf8_lossy(&self.pending).chars().take(120).collect()
    }
}

impl Aws {
    /// Copies the node's file `remote` to `local` (a directory gets the file's name),
    /// reporting each step to `progress`, until done or `cancel` resolves.
    pub async fn download(
        &self,
        target: &str,
        remote: &str,
        local: &Path,
        reason: Option<String>,
        mut progress: impl FnMut(Progress),
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Copied, CopyError> {
        let name = remote.rsplit('/').find(|s| !s.is_empty()).unwrap_or("download");
        let destination = if local.is_dir() { local.join(name) } else { local.to_owned() };
        let partial = partial_path(&destination);
        let mut parameters = std::collections::HashMap::new();
        parameters.insert("command".to_owned(), vec![download_script(remote)]);
        let request = StartRequest {
            target: self.resolve_target(target).await.map_err(OpenError::from)?,
            document: Some("AWS-StartNonInteractiveCommand".into()),
            parameters,
            reason,
        };
        let mut session = self.open(&request, self.driver_config()).await?;
        let local_error =
            |source: std::io::Error| CopyError::Local { path: partial.clone(), source };
        let file = create_owner_only(&partial).await.map_err(local_error);
        let mut file = match file {
            Ok(file) => file,
            Err(error) => {
                let _ = session.terminate().await;
                return Err(error);
            }
        };
        let started = Instant::now();
        let mut state = Download::default();
        tokio::pin!(cancel);
        let outcome = loop {
            let notice = tokio::select! {
                () = &mut cancel => break Err(Stop::Cancelled),
                notice = session.channel.notices.recv() => notice,
            };
            match notice {
                Some(Notice::Data(bytes) | Notice::Stderr(bytes)) => {
                    match state.take(&bytes) {
                        Ok(decoded) => {
                            if let Err(error) = file.write_all(&decoded).await {
                                break Err(Stop::Failed(local_error(error)));
                            }
                            progress(Progress { done: state.bytes, total: state.size, started });
                        }
                        Err(error) => break Err(Stop::Failed(error.at(remote))),
                    }
                    if state.digest.is_some() {
                        break Ok(());
                    }
                }
                Some(Notice::Ended(ending)) => break Err(Stop::Ended(ending)),
                None => {
                    break Err(Stop::Ended(Ending::LinkLost("the session's task stopped".into())))
                }
                Some(_) => {}
            }
        };
        let session_id = session.session_id.clone();
        let _ = session.terminate().await;
        let removed = |path: &Path| {
            let gone = std::fs::remove_file(path).is_ok() || !path.exists();
            if gone {
                format!("the partial file {} was removed", path.display())
            } else {
                format!("the partial file {} could not be removed", path.display())
            }
        };
        let result = match outcome {
            Ok(()) => match file.flush().await {
                Ok(()) => file.sync_all().await.map_err(local_error),
                Err(error) => Err(local_error(error)),
            },
            Err(Stop::Failed(error)) => Err(error),
            Err(Stop::Cancelled) => Err(CopyError::Cancelled { partial: String::new() }),
            Err(Stop::Ended(ending)) => {
                Err(CopyError::Cut { reason: ending.to_string(), partial: String::new() })
            }
        };
        drop(file);
        let fail = |error: CopyError| {
            let partial = removed(&partial);
            Err(match error {
                CopyError::Cut { reason, .. } => CopyError::Cut { reason, partial },
                CopyError::Cancelled { .. } => CopyError::Cancelled { partial },
                CopyError::Mismatch { got, expected, .. } => {
                    CopyError::Mismatch { got, expected, partial }
                }
                other => other,
            })
        };
        if let Err(error) = result {
            return fail(error);
        }
        let got = hex::encode(state.hasher.clone().finalize());
        let expected = state.digest.clone().unwrap_or_default();
        if got != expected || state.size != Some(state.bytes) {
            return fail(CopyError::Mismatch { got, expected, partial: String::new() });
        }
        if let Err(source) = std::fs::rename(&partial, &destination) {
            let _ = std::fs::remove_file(&partial);
            return Err(CopyError::Local { path: destination, source });
        }
        Ok(Copied {
            path: destination.display().to_string(),
            bytes: state.bytes,
            sha256: got,
            session_id,
        })
    }

    /// Copies the local file `local` to `remote` on the node (a directory there, or a path
    /// ending in `/`, gets the file's name), reporting each step to `progress`, until done or
    /// `cancel` resolves.
    pub async fn upload(
        &self,
        target: &str,
        local: &Path,
        remote: &str,
        reason: Option<String>,
        mut progress: impl FnMut(Progress),
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<Copied, CopyError> {
        let local_error =
            |source: std::io::Error| CopyError::Local { path: local.to_owned(), source };
        let contents = tokio::fs::read(local).await.map_err(local_error)?;
        let name = local.file_name().and_then(|n| n.to_str()).unwrap_or("upload");
        let expected = hex::encode(Sha256::digest(&contents));
        let size = contents.len() as u64;
        let mut parameters = std::collections::HashMap::new();
        parameters.insert("command".to_owned(), vec![upload_script(remote, name, size)]);
        let request = StartRequest {
            target: self.resolve_target(target).await.map_err(OpenError::from)?,
            document: Some("AWS-StartInteractiveCommand".into()),
            parameters,
            reason,
        };
        let mut session = self.open(&request, self.driver_config()).await?;
        let started = Instant::now();
        // Where the node writes before the digests are compared, once it has said.
        let mut partial_at = None;
        tokio::pin!(cancel);
        let outcome = tokio::select! {
            () = &mut cancel => Err(CopyError::Cancelled { partial: String::new() }),
            outcome = upload_steps(&mut session, &contents, &expected, remote, started, &mut progress, &mut partial_at) => outcome,
        };
        let outcome = outcome.map_err(|error| match error {
            CopyError::Cancelled { .. } => {
                CopyError::Cancelled { partial: left_on_node(&partial_at) }
            }
            CopyError::Cut { reason, .. } => {
                CopyError::Cut { reason, partial: left_on_node(&partial_at) }
            }
            other => other,
        });
        let session_id = session.session_id.clone();
        let _ = session.terminate().await;
        let path = outcome?;
        Ok(Copied { path, bytes: size, sha256: expected, session_id })
    }
}

/// Why a download's loop stopped early.
enum Stop {
    Failed(CopyError),
    Cancelled,
    Ended(Ending),
}

/// A download's progress through what the node prints.
#[derive(Default)]
struct Download {
    lines: Lines,
    size: Option<u64>,
    bytes: u64,
    hasher: Sha256,
    digest: Option<String>,
}

/// What went wrong on the node's side, before the path is known.
#[derive(Debug)]
enum NodeSaid {
    Missing(String),
    Unreadable,
    NotAShell(String),
}

impl NodeSaid {
    fn at(self, path: &str) -> CopyError {
        match self {
            NodeSaid::Missing(tool) => CopyError::MissingTool { tool },
            NodeSaid::Unreadable => CopyError::NotReadable { path: path.to_owned() },
            NodeSaid::NotAShell(said) => CopyError::NotAShell { said },
        }
    }
}

impl Download {
    /// Decodes what arrived; returns the file's bytes in it.
    fn take(&mut self, bytes: &[u8]) -> Result<Vec<u8>, NodeSaid> {
        let mut decoded = Vec::new();
        for text in self.lines.push(bytes) {
            match line(&text) {
                Line::Size(size) => self.size = Some(size),
                Line::Sha256(digest) => self.digest = Some(digest.to_owned()),
                Line::Missing(tool) => return Err(NodeSaid::Missing(tool.to_owned())),
                Line::Unreadable => return Err(NodeSaid::Unreadable),
                Line::Data(data) if self.size.is_some() && self.digest.is_none() => {
                    let chunk = base64::engine::general_purpose::STANDARD
                        .decode(data.trim())
                        .map_err(|_| NodeSaid::NotAShell(data.chars().take(120).collect()))?;
                    self.hasher.update(&chunk);
                    self.bytes += chunk.len() as u64;
                    decoded.extend(chunk);
                }
                Line::Data(other) | Line::Other(other) => {
                    return Err(NodeSaid::NotAShell(other.chars().take(120).collect()))
                }
                Line::Ready(_) | Line::Done(_) | Line::Unwritable => {
                    return Err(NodeSaid::NotAShell(text.chars().take(120).collect()))
                }
            }
        }
        Ok(decoded)
    }
}

/// What became of an upload's partial file on the node, at `partial_at` once the node said.
fn left_on_node(partial_at: &Option<String>) -> String {
    match partial_at {
        None => "nothing was written on the node".to_owned(),
        Some(path) => format!(
            "the node's shell removes {path} when the session hangs it up; if it is still there, remove it on the node"
        ),
    }
}

/// The upload's conversation: wait for ready (which names the partial file, kept in
/// `partial_at`), send the base64, compare digests, answer. Returns the node's path of the
/// file. A cut's `partial` is filled in by the caller.
async fn upload_steps(
    session: &mut OpenSession,
    contents: &[u8],
    expected: &str,
    remote: &str,
    started: Instant,
    progress: &mut impl FnMut(Progress),
    partial_at: &mut Option<String>,
) -> Result<String, CopyError> {
    let mut lines = Lines::default();
    let cut = |ending: Option<Ending>| CopyError::Cut {
        reason: ending.map_or_else(|| "the session's task stopped".to_owned(), |e| e.to_string()),
        partial: String::new(),
    };
    // Until the node says ready (nothing of the file is sent before: the terminal must be raw).
    let mut sent = false;
    let mut digest = None;
    loop {
        let bytes = match session.channel.notices.recv().await {
            Some(Notice::Data(bytes) | Notice::Stderr(bytes)) => bytes,
            Some(Notice::Ended(ending)) => return Err(cut(Some(ending))),
            None => return Err(cut(None)),
            Some(_) => continue,
        };
        for text in lines.push(&bytes) {
            match line(&text) {
                Line::Ready(path) if !sent => {
                    sent = true;
                    *partial_at = Some(path.to_owned());
                    send_encoded(session, contents, started, progress).await.map_err(cut)?;
                }
                Line::Sha256(got) => {
                    let matches = got == expected;
                    let answer = if matches { b"y".to_vec() } else { b"n".to_vec() };
                    if session.channel.commands.send(Command::Data(answer)).await.is_err() {
                        return Err(cut(None));
                    }
                    if !matches {
                        return Err(CopyError::Mismatch {
                            got: got.to_owned(),
                            expected: expected.to_owned(),
                            partial: "the node removed its partial file".into(),
                        });
                    }
                    digest = Some(got.to_owned());
                }
                Line::Done(path) if digest.is_some() => return Ok(path.to_owned()),
                Line::Missing(tool) => {
                    return Err(CopyError::MissingTool { tool: tool.to_owned() })
                }
                Line::Unwritable => return Err(CopyError::NotWritable { path: remote.to_owned() }),
                Line::Other(said) => {
                    return Err(CopyError::NotAShell { said: said.chars().take(120).collect() })
                }
                // A terminal may show anything before the script's first line (a banner).
                Line::Data(_) if !sent => {}
                _ => return Err(CopyError::NotAShell { said: text.chars().take(120).collect() }),
            }
        }
        if !sent && lines.pending.len() > 64 * 1024 {
            return Err(CopyError::NotAShell { said: lines.seen() });
        }
    }
}

/// Sends `contents` in base64, a chunk at a time as the session takes them.
async fn send_encoded(
    session: &mut OpenSession,
    contents: &[u8],
    started: Instant,
    progress: &mut impl FnMut(Progress),
) -> Result<(), Option<Ending>> {
    let total = Some(contents.len() as u64);
    let mut done = 0u64;
    progress(Progress { done, total, started });
    for chunk in contents.chunks(UPLOAD_CHUNK) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(chunk).into_bytes();
        session.channel.commands.send(Command::Data(encoded)).await.map_err(|_| None)?;
        done += chunk.len() as u64;
        progress(Progress { done, total, started });
    }
    Ok(())
}

/// `.NAME.airlock-partial` beside `destination`.
fn partial_path(destination: &Path) -> PathBuf {
    let name =
        destination.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    destination.with_file_name(format!(".{name}.airlock-partial"))
}

/// A new file only its owner may read (a download may be a secret until it is complete).
async fn create_owner_only(path: &Path) -> std::io::Result<tokio::fs::File> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_quoted_for_the_shell_whatever_they_hold() {
        assert_eq!(quoted("/tmp/a b"), "'/tmp/a b'");
        assert_eq!(quoted("it's"), r"'it'\''s'");
        let script = download_script("/tmp/$(reboot)'x");
        assert!(script.starts_with(r"f='/tmp/$(reboot)'\''x';"), "{script}");
    }

    #[test]
    fn a_download_decodes_between_its_markers_and_refuses_anything_else() {
        let mut download = Download::default();
        let mut got = download.take(b"airlock-cp size 5\naGVs").unwrap();
        got.extend(download.take(b"bG8=\nairlock-cp sha256 abc\n").unwrap());
        assert_eq!(got, b"hello");
        assert_eq!(
            (download.size, download.bytes, download.digest.as_deref()),
            (Some(5), 5, Some("abc"))
        );

        let mut windows = Download::default();
        let said =
            windows.take(b"'sh' is not recognized as an internal command\r\n").err().unwrap();
        assert!(
            matches!(said.at("x"), CopyError::NotAShell { said } if said.contains("not recognized"))
        );
        let mut missing = Download::default();
        assert!(matches!(
            missing.take(b"airlock-cp missing sha256sum\n").err().unwrap().at("x"),
            CopyError::MissingTool { tool } if tool == "sha256sum"
        ));
        let mut unreadable = Download::default();
        assert!(matches!(
            unreadable.take(b"airlock-cp unreadable\n").err().unwrap().at("/etc/shadow"),
            CopyError::NotReadable { path } if path == "/etc/shadow"
        ));
    }

    #[test]
    fn the_partial_file_is_hidden_beside_its_destination() {
        assert_eq!(partial_path(Path::new("/d/f.bin")), PathBuf::from("/d/.f.bin.airlock-partial"));
    }

    #[test]
    fn progress_gives_a_rate_and_time_left_once_bytes_move() {
        let started = Instant::now() - Duration::from_secs(2);
        let halfway = Progress { done: 100, total: Some(200), started };
        assert!(halfway.rate() > 0.0);
        let left = halfway.left().unwrap().as_secs_f64();
        assert!(left > 0.0 && left <= 2.5, "{left}");
        assert_eq!(Progress { done: 0, total: Some(1), started: Instant::now() }.left(), None);
    }
}
