//! `airlock cp`: which side is the node's, and a progress line on stderr (bytes, rate, time
//! left) while the engine's [`airlock_core::transfer`] carries the file; Ctrl-C cancels and
//! says what became of the partial file.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use airlock_core::aws::Aws;
use airlock_core::transfer::{CopyError, Progress};

use crate::CliError;

/// One side of a copy.
#[derive(Debug, PartialEq, Eq)]
enum Side<'a> {
    Local(&'a str),
    Node { target: &'a str, path: &'a str },
}

/// `NODE:PATH` is the node's side: a colon before any slash, with something before it (so
/// `./a:b` and `/x/a:b` stay local).
fn side(text: &str) -> Side<'_> {
    match text.split_once(':') {
        Some((target, path)) if !target.is_empty() && !target.contains('/') => {
            Side::Node { target, path }
        }
        _ => Side::Local(text),
    }
}

fn human(bytes: f64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn show(progress: Progress) {
    let total = progress.total.map(|t| format!(" / {}", human(t as f64))).unwrap_or_default();
    let left = progress
        .left()
        .map(|d| format!(", {}:{:02} left", d.as_secs() / 60, d.as_secs() % 60))
        .unwrap_or_default();
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "\r{}{total}  {}/s{left}\x1b[K",
        human(progress.done as f64),
        human(progress.rate())
    );
    let _ = stderr.flush();
}

/// Copies as `airlock cp SOURCE DESTINATION` asks.
pub async fn run(
    aws: &Aws,
    source: &str,
    destination: &str,
    reason: Option<String>,
) -> Result<ExitCode, CliError> {
    let cancel = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let copied = match (side(source), side(destination)) {
        (Side::Node { target, path }, Side::Local(local)) => {
            aws.download(target, path, Path::new(local), reason, show, cancel).await
        }
        (Side::Local(local), Side::Node { target, path }) => {
            aws.upload(target, Path::new(local), path, reason, show, cancel).await
        }
        (Side::Local(_), Side::Local(_)) => {
            return Err(CliError::Usage(
                "one side of `airlock cp` must be on a node, as NODE:PATH (for example web-1:/tmp/file)".into(),
            ))
        }
        (Side::Node { .. }, Side::Node { .. }) => {
            return Err(CliError::Usage(
                "`airlock cp` copies between this machine and a node, not between two nodes: copy to here first".into(),
            ))
        }
    };
    eprint!("\r\x1b[K");
    match copied {
        Ok(copied) => {
            eprintln!(
                "Copied {} to {} (SHA-256 {}).",
                human(copied.bytes as f64),
                copied.path,
                copied.sha256
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(CopyError::Open(error)) => Err(error.into()),
        Err(error) => Err(CliError::Copy(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_side_is_the_one_with_a_colon_before_any_slash() {
        assert_eq!(side("web-1:/tmp/x"), Side::Node { target: "web-1", path: "/tmp/x" });
        assert_eq!(side("i-0123:rel/a:b"), Side::Node { target: "i-0123", path: "rel/a:b" });
        assert_eq!(side("./a:b"), Side::Local("./a:b"));
        assert_eq!(side("/x/a:b"), Side::Local("/x/a:b"));
        assert_eq!(side(":x"), Side::Local(":x"));
        assert_eq!(side("plain"), Side::Local("plain"));
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human(512.0), "512 B");
        assert_eq!(human(1536.0), "1.5 KiB");
        assert_eq!(human(5.0 * 1024.0 * 1024.0), "5.0 MiB");
    }
}
