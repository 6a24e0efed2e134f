//! Careful edits of the user's `~/.aws/config` and `~/.aws/credentials`: pointing a profile at
//! `airlock credential-process`, and taking an access key pair out of the credentials file after
//! a backup. Every other line, comment and section is kept as it was; files are replaced
//! atomically, so a crash leaves the old file or the new one.

use std::path::{Path, PathBuf};

use super::CredentialError;
use crate::config_file::{lock, write_atomically, write_backup};

/// The section header of `profile` in the config file (`[default]` or `[profile NAME]`).
fn config_header(profile: &str) -> String {
    if profile == "default" {
        "[default]".into()
    } else {
        format!("[profile {profile}]")
    }
}

fn header_name(line: &str) -> Option<&str> {
    let line = line.trim();
    line.strip_prefix('[').and_then(|l| l.strip_suffix(']')).map(str::trim)
}

fn same_header(line: &str, header: &str) -> bool {
    match (header_name(line), header_name(header)) {
        (Some(a), Some(b)) => a.split_whitespace().eq(b.split_whitespace()),
        _ => false,
    }
}

fn key_of(line: &str) -> Option<String> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    line.split_once('=').map(|(k, _)| k.trim().to_lowercase())
}

/// The lines of `text` with `key = value` set in the section `header` (added where missing).
pub fn set_key(text: &str, header: &str, key: &str, value: &str) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let start = lines.iter().position(|l| same_header(l, header));
    let assignment = format!("{key} = {value}");
    match start {
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push(header.to_owned());
            lines.push(assignment);
        }
        Some(start) => {
            let end = lines[start + 1..]
                .iter()
                .position(|l| header_name(l).is_some())
                .map_or(lines.len(), |i| start + 1 + i);
            match (start + 1..end).find(|&i| key_of(&lines[i]).as_deref() == Some(key)) {
                Some(i) => lines[i] = assignment,
                None => lines.insert(start + 1, assignment),
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// The lines of `text` without `keys` in the section `header`; the header goes too when
/// nothing but blank lines is left under it.
pub fn remove_keys(text: &str, header: &str, keys: &[&str]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| same_header(l, header)) else {
        return text.to_owned();
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| header_name(l).is_some())
        .map_or(lines.len(), |i| start + 1 + i);
    let kept: Vec<&str> = lines[start + 1..end]
        .iter()
        .copied()
        .filter(|l| !key_of(l).is_some_and(|k| keys.contains(&k.as_str())))
        .collect();
    let mut out: Vec<&str> = lines[..start].to_vec();
    if kept.iter().any(|l| !l.trim().is_empty()) {
        out.push(lines[start]);
        out.extend(kept);
    }
    out.extend(&lines[end..]);
    let mut text = out.join("\n");
    text.push('\n');
    text
}

fn read(path: &Path) -> Result<String, CredentialError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(CredentialError::Config(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Points `profile` in the config file at `command` as its `credential_process`.
pub fn set_credential_process(
    config: &Path,
    profile: &str,
    command: &str,
) -> Result<(), CredentialError> {
    let _held = lock(config).map_err(|e| CredentialError::Config(e.to_string()))?;
    let text = read(config)?;
    let updated = set_key(&text, &config_header(profile), "credential_process", command);
    write_atomically(config, &updated).map_err(|e| CredentialError::Config(e.to_string()))
}

/// Takes `profile`'s key pair (and session token) out of the credentials file, after copying
/// the file to a backup beside it (readable by the owner only); returns the backup's path.
pub fn remove_keys_from_credentials(
    credentials: &Path,
    profile: &str,
) -> Result<PathBuf, CredentialError> {
    let _held = lock(credentials).map_err(|e| CredentialError::Config(e.to_string()))?;
    let text = read(credentials)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let backup = credentials.with_file_name(format!(
        "{}.airlock-backup-{stamp}",
        credentials
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "credentials".into())
    ));
    write_backup(&backup, &text, credentials)
        .map_err(|e| CredentialError::Config(e.to_string()))?;
    let updated = remove_keys(
        &text,
        &format!("[{profile}]"),
        &["aws_access_key_id", "aws_secret_access_key", "aws_session_token"],
    );
    write_atomically(credentials, &updated).map_err(|e| CredentialError::Config(e.to_string()))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "# my settings\n[default]\nregion = eu-west-1\n\n[profile work]\nregion = us-east-1\ncredential_process = old-tool\n\n[profile other]\noutput = json\n";

    #[test]
    fn setting_a_key_keeps_everything_else() {
        let replaced = set_key(
            CONFIG,
            "[profile work]",
            "credential_process",
            "airlock credential-process work",
        );
        assert_eq!(
            replaced,
            CONFIG.replace(
                "credential_process = old-tool",
                "credential_process = airlock credential-process work"
            )
        );
        let inserted = set_key(CONFIG, "[profile  other]", "credential_process", "x");
        assert!(
            inserted.contains("[profile other]\ncredential_process = x\noutput = json\n"),
            "{inserted}"
        );
        let appended = set_key(CONFIG, "[profile new]", "credential_process", "y");
        assert_eq!(appended, format!("{CONFIG}\n[profile new]\ncredential_process = y\n"));
        assert_eq!(set_key("", "[default]", "k", "v"), "[default]\nk = v\n");
    }

    #[test]
    fn removing_keys_drops_an_empty_section_and_nothing_else() {
        let credentials = "[work]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n[keep]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\nregion = x\n";
        assert_eq!(
            remove_keys(credentials, "[work]", &["aws_access_key_id", "aws_secret_access_key"]),
            "[keep]\naws_access_key_id = AKIA2\naws_secret_access_key = s2\nregion = x\n"
        );
        assert_eq!(
            remove_keys(credentials, "[keep]", &["aws_access_key_id", "aws_secret_access_key"]),
            "[work]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\n\n[keep]\nregion = x\n"
        );
        assert_eq!(remove_keys(credentials, "[absent]", &["aws_access_key_id"]), credentials);
    }

    #[test]
    fn the_backup_holds_the_old_file_and_the_file_loses_only_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials");
        let before = "[work]\naws_access_key_id = AKIA1\naws_secret_access_key = s1\naws_session_token = t\n[other]\naws_access_key_id = AKIA2\n";
        std::fs::write(&path, before).unwrap();
        let backup = remove_keys_from_credentials(&path, "work").unwrap();
        assert_eq!(std::fs::read_to_string(&backup).unwrap(), before);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "[other]\naws_access_key_id = AKIA2\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
}
