//! Airlock's own files: where they live (`~/.config/airlock/` on Linux, honouring
//! `XDG_CONFIG_HOME`; the platform's config directory elsewhere) and how they are written, so
//! that a reader sees the old file or the new one, never half of one.

use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} {path}: {reason}")]
pub struct WriteError {
    /// create, write or replace.
    pub action: &'static str,
    /// The file or directory.
    pub path: PathBuf,
    /// The operating system's reason.
    pub reason: String,
}

/// The directory holding Airlock's files, or `None` when the platform has none (no `HOME`).
pub fn config_dir() -> Option<PathBuf> {
    dirs::config_dir().map(|dir| dir.join("airlock"))
}

/// Writes `text` to `path` atomically: a temporary file in the same directory, flushed to
/// disk, then renamed over the old file. Missing directories are created.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    use std::io::Write;
    let io = |action: &'static str, p: &Path, e: std::io::Error| WriteError { action, path: p.to_owned(), reason: e.to_string() };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "airlock".into());
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&temp).map_err(|e| io("write", &temp, e))?;
        file.write_all(text.as_bytes()).map_err(|e| io("write", &temp, e))?;
        file.sync_all().map_err(|e| io("write", &temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| io("replace", path, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a").join("b.toml");
        write_atomically(&path, "one").unwrap();
        write_atomically(&path, "two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("b.toml")]);
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken");
        // A directory where the file should go: the rename fails, the directory stays.
        std::fs::create_dir(&path).unwrap();
        std::fs::write(path.join("inside"), "kept").unwrap();
        let error = write_atomically(&path, "new").unwrap_err();
        assert_eq!(error.action, "replace");
        assert_eq!(std::fs::read_to_string(path.join("inside")).unwrap(), "kept");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
    }
}
