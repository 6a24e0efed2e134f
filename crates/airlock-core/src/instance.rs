//! One desktop app per configuration: the first launch holds `app.lock` in Airlock's config
//! directory and listens on a loopback port it writes to `app.instance` (with a token and its
//! process id); a later launch finds the lock held, sends the token and a request to show the
//! window, and exits. Two engines would write the same profile and settings files and fight
//! over the same local ports, so a second launch never starts one.
//!
//! The lock is the operating system's (it goes when the process dies, however it dies); the
//! port file is only a way to reach the holder, and a stale one is harmless.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config_file::{write_atomically, FileLock, WriteError};

/// The line a second launch sends, before the token.
const SHOW: &str = "show";
/// How long a second launch keeps trying to reach a first one that is still starting: the lock
/// is taken before the port file is written.
const REACH_ATTEMPTS: u32 = 50;
const REACH_PAUSE: Duration = Duration::from_millis(100);

/// What a launch is.
#[derive(Debug)]
pub enum Launch {
    /// The first: it runs the app, and must call [`Instance::serve`] to hear later launches.
    First(Instance),
    /// Another app holds the configuration; it was asked to show its window.
    Shown {
        /// The running app's process id.
        pid: u32,
    },
}

/// Why the launch could not be settled.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The lock or port file could not be made.
    #[error(transparent)]
    Files(#[from] WriteError),
    /// No loopback port to listen on.
    #[error("cannot listen on the loopback interface for later launches: {0}")]
    Listen(#[source] std::io::Error),
    /// The lock is held, but its holder never answered.
    #[error(
        "another Airlock holds {lock} but does not answer; if it is stuck, stop it{pid}, then \
         start Airlock again"
    )]
    Unreachable {
        /// The lock file.
        lock: PathBuf,
        /// " (process N)" when the port file names it.
        pid: String,
    },
}

/// The first launch's hold on the configuration, and its ear for later launches.
#[derive(Debug)]
pub struct Instance {
    /// Held, never read: while it lives, a later launch finds the configuration taken.
    lock: FileLock,
    listener: TcpListener,
    token: String,
}

impl Instance {
    /// Hears later launches on a thread of its own, calling `on_show` for each; for as long as
    /// the process runs.
    pub fn serve(self, on_show: impl Fn() + Send + 'static) {
        let Instance { lock, listener, token } = self;
        std::thread::Builder::new()
            .name("airlock-instance".into())
            .spawn(move || {
                // The lock lives as long as this thread, which lives as long as the process.
                let _lock = lock;
                for stream in listener.incoming().flatten() {
                    if asks_to_show(stream, &token) {
                        on_show();
                    }
                }
            })
            .map(drop)
            .unwrap_or_else(|e| tracing::warn!("later launches will not be heard: {e}"));
    }
}

/// Whether a connection is a later launch's request (and not some other local program's).
fn asks_to_show(stream: TcpStream, token: &str) -> bool {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut line = String::new();
    // A short line at most: nothing a stranger sends is kept whole.
    let mut reader = BufReader::new(std::io::Read::take(&stream, 256));
    if reader.read_line(&mut line).is_err() {
        return false;
    }
    let mut words = line.split_whitespace();
    let asked = words.next() == Some(SHOW) && words.next() == Some(token);
    let _ = (&stream).write_all(if asked { b"ok\n" } else { b"no\n" });
    asked
}

/// Settles this launch against the app that may already run on the configuration in `dir`.
pub fn claim(dir: &Path) -> Result<Launch, InstanceError> {
    let lock_file = dir.join("app.lock");
    let port_file = dir.join("app.instance");
    if let Some(lock) = crate::config_file::try_lock_file(&lock_file)? {
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .map_err(InstanceError::Listen)?;
        let port = listener.local_addr().map_err(InstanceError::Listen)?.port();
        let token = format!("{:032x}", rand::random::<u128>());
        write_atomically(&port_file, &format!("{port} {token} {}\n", std::process::id()))?;
        return Ok(Launch::First(Instance { lock, listener, token }));
    }
    let mut pid = String::new();
    for _ in 0..REACH_ATTEMPTS {
        if let Ok(text) = std::fs::read_to_string(&port_file) {
            let mut words = text.split_whitespace();
            if let (Some(port), Some(token), holder) = (words.next(), words.next(), words.next()) {
                pid = holder.map(|p| format!(" (process {p})")).unwrap_or_default();
                if let (Ok(port), Some(holder)) = (port.parse::<u16>(), holder) {
                    if show(port, token) {
                        return Ok(Launch::Shown { pid: holder.parse().unwrap_or(0) });
                    }
                }
            }
        }
        std::thread::sleep(REACH_PAUSE);
    }
    Err(InstanceError::Unreachable { lock: lock_file, pid })
}

/// Asks the app on `port` to show its window; whether it agreed.
fn show(port: u16, token: &str) -> bool {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&address, Duration::from_secs(2)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(format!("{SHOW} {token}\n").as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer).is_ok() && answer.trim() == "ok"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn a_second_launch_shows_the_first_and_does_not_start() {
        let dir = tempfile::tempdir().unwrap();
        let Launch::First(first) = claim(dir.path()).unwrap() else {
            panic!("the first launch runs the app");
        };
        let (shown, heard) = mpsc::channel();
        first.serve(move || shown.send(()).unwrap());
        let Launch::Shown { pid } = claim(dir.path()).unwrap() else {
            panic!("a second launch must not run another app");
        };
        assert_eq!(pid, std::process::id());
        heard.recv().expect("the first app was asked to show its window");
    }

    #[test]
    fn a_connection_without_the_token_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let Launch::First(first) = claim(dir.path()).unwrap() else { panic!() };
        let port = first.listener.local_addr().unwrap().port();
        let (shown, heard) = mpsc::channel();
        first.serve(move || shown.send(()).unwrap());
        assert!(!show(port, "guessed"), "a wrong token is answered no");
        let text = std::fs::read_to_string(dir.path().join("app.instance")).unwrap();
        let token = text.split_whitespace().nth(1).unwrap();
        assert!(show(port, token));
        heard.recv().unwrap();
        assert!(heard.try_recv().is_err(), "only the request with the token showed the window");
    }

    #[test]
    fn a_holder_that_never_answers_is_reported_with_its_process() {
        let dir = tempfile::tempdir().unwrap();
        let Launch::First(first) = claim(dir.path()).unwrap() else { panic!() };
        // The holder keeps its lock but no one listens on the port it wrote.
        let Instance { lock, listener, .. } = first;
        drop(listener);
        let error = claim(dir.path()).unwrap_err();
        let text = error.to_string();
        assert!(text.contains("does not answer"), "{text}");
        assert!(text.contains(&format!("process {}", std::process::id())), "{text}");
        drop(lock);
        assert!(matches!(claim(dir.path()).unwrap(), Launch::First(_)), "a freed lock is taken");
    }
}
