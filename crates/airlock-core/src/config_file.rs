//! Airlock's own files and its edits of the user's: where Airlock's live (`~/.config/airlock/`
//! on Linux, honouring `XDG_CONFIG_HOME`; the platform's config directory elsewhere), how any
//! file is written so that it is private from its first byte and a reader sees the old file or
//! the new one, never half of one, and the lock that keeps two writers (two windows, a window
//! and the CLI) from losing each other's changes.

use std::path::{Path, PathBuf};

/// Why a file could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} {path}: {reason}")]
pub struct WriteError {
    /// create, write, lock or replace.
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

/// The mode a file is written with: owner read and write (0600), or the file's own mode when
/// that is stricter still.
#[cfg(unix)]
fn private_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(path) {
        Ok(meta) if meta.permissions().mode() & 0o777 & !0o600 == 0 => {
            meta.permissions().mode() & 0o600
        }
        _ => 0o600,
    }
}

fn io(action: &'static str, path: &Path, error: std::io::Error) -> WriteError {
    WriteError { action, path: path.to_owned(), reason: error.to_string() }
}

/// Creates `dir` (and its parents) readable by the owner only, where missing.
fn create_private_dir(dir: &Path) -> Result<(), WriteError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| io("create", dir, e))
}

/// Writes `text` to `path` privately and atomically: a new temporary file in the same
/// directory, created with mode 0600 (or the old file's stricter mode) and `create_new`, so no
/// other user can read it from its first byte; written and synced, renamed over the old file,
/// and the directory synced, so the rename itself survives a crash. The temporary name is
/// unique to this write. Missing directories are created, readable by the owner only.
pub fn write_atomically(path: &Path, text: &str) -> Result<(), WriteError> {
    write_private(path, text, path)
}

/// Writes a copy of `original` (its `text`) to `backup` the way [`write_atomically`] writes,
/// private from the first byte with 0600 or `original`'s stricter mode.
pub fn write_backup(backup: &Path, text: &str, original: &Path) -> Result<(), WriteError> {
    write_private(backup, text, original)
}

fn write_private(path: &Path, text: &str, mode_of: &Path) -> Result<(), WriteError> {
    use std::io::Write;
    // A symbolic link (a dotfiles checkout, say) stays a link: the file it names is replaced.
    let resolved = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(path).map_err(|e| io("resolve", path, e))?
        }
        _ => path.to_owned(),
    };
    let path = resolved.as_path();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "airlock".into());
    let temp =
        dir.join(format!(".{file_name}.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, private_mode(mode_of));
    let result = (|| {
        let mut file = options.open(&temp).map_err(|e| io("create", &temp, e))?;
        file.write_all(text.as_bytes()).map_err(|e| io("write", &temp, e))?;
        file.sync_all().map_err(|e| io("write", &temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| io("replace", path, e))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Makes a rename in `dir` durable (a no-op where directories cannot be synced).
fn sync_dir(dir: &Path) -> Result<(), WriteError> {
    #[cfg(unix)]
    {
        let handle = std::fs::File::open(dir).map_err(|e| io("open", dir, e))?;
        handle.sync_all().map_err(|e| io("sync", dir, e))?;
    }
    let _ = dir;
    Ok(())
}

/// An exclusive lock on `path`'s companion `.lock` file, held while it lives: read-modify-write
/// of `path` under it loses no other writer's change. Every Airlock process takes it the same
/// way; it does not stop other programs.
#[derive(Debug)]
pub struct FileLock {
    _file: std::fs::File,
}

/// Takes the lock for `path`, waiting for another holder to finish.
pub fn lock(path: &Path) -> Result<FileLock, WriteError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "airlock".into());
    let lock_path = dir.join(format!(".{name}.lock"));
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(|e| io("create", &lock_path, e))?;
    file.lock().map_err(|e| io("lock", &lock_path, e))?;
    Ok(FileLock { _file: file })
}

/// An exclusive lock on the file `path` itself, taken now or not at all: `None` when another
/// process holds it. Held while the returned lock lives, and released by the operating system
/// when the process ends, however it ends.
pub fn try_lock_file(path: &Path) -> Result<Option<FileLock>, WriteError> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| io("create", path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(FileLock { _file: file })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(io("lock", path, e)),
    }
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
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
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
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "the temporary file is removed"
        );
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_and_keep_a_stricter_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let fresh = dir.path().join("new").join("secret");
        write_atomically(&fresh, "x").unwrap();
        assert_eq!(mode(&fresh), 0o600);
        assert_eq!(mode(fresh.parent().unwrap()), 0o700, "a new directory is the owner's only");
        let shared = dir.path().join("shared");
        std::fs::write(&shared, "old").unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&shared, "new").unwrap();
        assert_eq!(mode(&shared), 0o600, "a world-readable file becomes private");
        let strict = dir.path().join("strict");
        std::fs::write(&strict, "old").unwrap();
        std::fs::set_permissions(&strict, std::fs::Permissions::from_mode(0o400)).unwrap();
        write_atomically(&strict, "new").unwrap();
        assert_eq!(mode(&strict), 0o400, "a stricter mode is kept");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_and_a_backup_keeps_the_originals_stricter_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("dotfiles-credentials");
        std::fs::write(&target, "old").unwrap();
        let link = dir.path().join("credentials");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(
            std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
            "the link is kept"
        );
        assert_eq!(
            std::fs::read_to_string(&target).unwrap(),
            "new",
            "the file it names is replaced"
        );

        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o400)).unwrap();
        let backup = dir.path().join("credentials.backup");
        write_backup(&backup, "old", &link).unwrap();
        assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o400);
    }

    #[test]
    fn the_lock_serialises_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("counter");
        write_atomically(&path, "0").unwrap();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        let _held = lock(&path).unwrap();
                        let n: u32 = std::fs::read_to_string(&path).unwrap().parse().unwrap();
                        write_atomically(&path, &(n + 1).to_string()).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "200", "no increment was lost");
    }
}
