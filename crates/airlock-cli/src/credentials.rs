//! The credential commands (`airlock credentials add|import|remove|list`,
//! `airlock credential-process`, `airlock whoami`) and the terminal's answers to credential
//! prompts: MFA codes are read from the controlling terminal (or, with none, from stdin), SSO
//! logins print the code and open the browser.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_core::aws_profiles::{self, ProfileFiles, ProfileKind};
use airlock_core::credentials::{files, Answer, Declined, KeyPair, Prompt, Prompter, Vault};
use clap::Subcommand;

use crate::CliError;

/// `airlock credentials …`.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Store an access key pair for PROFILE in the OS keyring (asked for on the terminal, or
    /// read from stdin as two lines) and point the profile at `airlock credential-process`.
    Add {
        /// The AWS profile.
        profile: String,
    },
    /// Move PROFILE's keys from ~/.aws/credentials into the OS keyring.
    Import {
        /// The AWS profile.
        profile: String,
        /// Remove the keys from the file without asking (a backup is kept).
        #[arg(long, conflicts_with = "keep")]
        remove: bool,
        /// Leave the keys in the file without asking.
        #[arg(long)]
        keep: bool,
    },
    /// Remove PROFILE's keys (and any kept MFA session) from the OS keyring.
    Remove {
        /// The AWS profile.
        profile: String,
    },
    /// List the AWS profiles and how each gets its credentials.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// How the terminal answers prompts. `stdin_is_data` is set when stdin carries a session
/// (ssh-proxy), so answers may only come from the terminal.
#[derive(Debug, Clone, Copy)]
pub struct TerminalPrompter {
    pub stdin_is_data: bool,
}

fn read_answer(question: &str, stdin_is_data: bool) -> Result<String, Declined> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if let Ok(tty) = std::fs::File::open("/dev/tty") {
        std::io::BufReader::new(tty).read_line(&mut line).map_err(|_| Declined)?;
    } else if !stdin_is_data {
        std::io::stdin().lock().read_line(&mut line).map_err(|_| Declined)?;
    } else {
        return Err(Declined);
    }
    let line = line.trim().to_owned();
    if line.is_empty() {
        Err(Declined)
    } else {
        Ok(line)
    }
}

impl Prompter for TerminalPrompter {
    fn ask(&self, prompt: Prompt) -> Answer {
        let stdin_is_data = self.stdin_is_data;
        Box::pin(async move {
            match prompt {
                Prompt::MfaCode { profile, serial } => {
                    let question = format!("MFA code for {profile} ({serial}): ");
                    tokio::task::spawn_blocking(move || read_answer(&question, stdin_is_data))
                        .await
                        .unwrap_or(Err(Declined))
                }
                Prompt::SsoLogin { profile, verification_uri, user_code, .. } => {
                    eprintln!("Signing in to IAM Identity Center for {profile}.");
                    eprintln!("Open {verification_uri} and check that it shows the code {user_code}, then approve.");
                    if opener(&verification_uri).is_err() {
                        eprintln!("(Could not open a browser here: open the address yourself.)");
                    }
                    Ok(String::new())
                }
            }
        })
    }
}

/// Opens `url` in the user's browser.
fn opener(url: &str) -> std::io::Result<()> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
}

/// Reads a secret: hidden on a terminal, a line of stdin otherwise.
fn read_secret(question: &str) -> Result<String, CliError> {
    let text = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(question)?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    };
    Ok(text.trim().to_owned())
}

fn read_line(question: &str) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        eprint!("{question}");
        std::io::stderr().flush()?;
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_owned())
}

/// Checks the shape of a key pair before it is stored.
pub fn check_keys(keys: &KeyPair) -> Result<(), String> {
    let id = &keys.access_key_id;
    if !(16..=128).contains(&id.len())
        || !id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err("an access key id is 16 to 128 upper-case letters and digits, like AKIAIOSFODNN7EXAMPLE".into());
    }
    if id.starts_with("ASIA") {
        return Err("that is a temporary key (ASIA…), which needs its session token: store long-lived keys (AKIA…) only".into());
    }
    if keys.secret_access_key.len() < 16 || keys.secret_access_key.contains(char::is_whitespace) {
        return Err(
            "the secret access key looks wrong (it is usually 40 characters, without spaces)"
                .into(),
        );
    }
    Ok(())
}

fn config_path() -> Result<PathBuf, CliError> {
    aws_profiles::config_path().ok_or_else(|| {
        CliError::Usage("no home directory: set AWS_CONFIG_FILE to the AWS config file".into())
    })
}

/// The command AWS tools run to get a keyring profile's keys: this very program.
fn process_command(profile: &str) -> Result<String, CliError> {
    let exe = std::env::current_exe()?;
    let exe = exe.to_string_lossy();
    let exe = if exe.contains(' ') { format!("\"{exe}\"") } else { exe.into_owned() };
    if profile.contains(char::is_whitespace) {
        return Err(CliError::Usage("a profile name cannot contain spaces".into()));
    }
    Ok(format!("{exe} credential-process {profile}"))
}

async fn keyring<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, airlock_core::credentials::VaultError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?
        .map_err(|e| CliError::Usage(e.to_string()))
}

async fn store(profile: &str, keys: KeyPair) -> Result<(), CliError> {
    check_keys(&keys).map_err(CliError::Usage)?;
    let name = profile.to_owned();
    keyring(move || Vault.store_keys(&name, &keys)).await?;
    files::set_credential_process(&config_path()?, profile, &process_command(profile)?)
        .map_err(|e| CliError::Usage(e.to_string()))
}

/// Runs `airlock credentials …`.
pub async fn run(command: CredentialsCommand) -> Result<ExitCode, CliError> {
    match command {
        CredentialsCommand::Add { profile } => {
            let access_key_id = read_line("Access key id: ")?;
            let secret_access_key = read_secret("Secret access key: ")?;
            store(&profile, KeyPair { access_key_id, secret_access_key }).await?;
            println!("Stored the keys of {profile} in the OS keyring; ~/.aws/config now gets them with `airlock credential-process {profile}`.");
            println!("Check them with: airlock whoami --profile {profile}");
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Import { profile, remove, keep } => {
            let path = aws_profiles::credentials_path().ok_or_else(|| {
                CliError::Usage("no home directory: set AWS_SHARED_CREDENTIALS_FILE".into())
            })?;
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let parsed = ProfileFiles::parse("", &text);
            let section = parsed.get(&profile);
            let (Some(id), Some(secret)) = (
                section.and_then(|s| s.get("aws_access_key_id")),
                section.and_then(|s| s.get("aws_secret_access_key")),
            ) else {
                return Err(CliError::Usage(format!("{} has no keys for [{profile}]: use `airlock credentials add {profile}` to type them in", path.display())));
            };
            if section.is_some_and(|s| s.contains_key("aws_session_token")) {
                return Err(CliError::Usage(format!("the keys of [{profile}] are temporary (they have a session token); only long-lived keys belong in the keyring")));
            }
            store(
                &profile,
                KeyPair { access_key_id: id.clone(), secret_access_key: secret.clone() },
            )
            .await?;
            println!("Stored the keys of {profile} in the OS keyring.");
            let remove = remove
                || (!keep
                    && read_line(&format!(
                        "Remove them from {}? A backup is kept. [y/N] ",
                        path.display()
                    ))?
                    .eq_ignore_ascii_case("y"));
            if remove {
                let backup = files::remove_keys_from_credentials(&path, &profile)
                    .map_err(|e| CliError::Usage(e.to_string()))?;
                println!("Removed them from {}; the old file is at {} (delete it once you are satisfied).", path.display(), backup.display());
            } else {
                println!("They are still in {}, which AWS tools read before the keyring; remove them there when ready.", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        CredentialsCommand::Remove { profile } => {
            let name = profile.clone();
            if keyring(move || Vault.remove(&name)).await? {
                println!("Removed the keys of {profile} from the OS keyring.");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(CliError::Usage(format!("the OS keyring holds no keys for {profile}")))
            }
        }
        CredentialsCommand::List { json } => {
            let profiles = ProfileFiles::load().list();
            let mut out = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut out, &profiles)
                    .map_err(|e| CliError::Io(e.into()))?;
                writeln!(out)?;
            } else {
                writeln!(out, "{:<24} {:<13} {:<16} MFA", "PROFILE", "KIND", "REGION")?;
                for p in &profiles {
                    writeln!(
                        out,
                        "{:<24} {:<13} {:<16} {}",
                        p.name,
                        kind_name(p.kind),
                        p.region.as_deref().unwrap_or("-"),
                        if p.mfa { "yes" } else { "" }
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// How a profile kind is shown.
pub fn kind_name(kind: ProfileKind) -> &'static str {
    match kind {
        ProfileKind::Static => "keys in file",
        ProfileKind::Keyring => "keyring",
        ProfileKind::Role => "role",
        ProfileKind::Sso => "sso",
        ProfileKind::Process => "process",
        ProfileKind::WebIdentity => "web identity",
        ProfileKind::Environment => "environment",
        ProfileKind::Other => "-",
    }
}

/// `airlock credential-process PROFILE`: the keyring's keys in the shape AWS tools expect.
pub async fn credential_process(profile: String) -> Result<ExitCode, CliError> {
    let name = profile.clone();
    let keys = keyring(move || Vault.keys(&name))
        .await?
        .ok_or_else(|| CliError::Usage(format!("the OS keyring holds no keys for {profile}: store them with `airlock credentials add {profile}`")))?;
    let output = serde_json::json!({"Version": 1, "AccessKeyId": keys.access_key_id, "SecretAccessKey": keys.secret_access_key});
    println!("{output}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_shapes_are_checked_before_storing() {
        let pair = |id: &str, secret: &str| KeyPair {
            access_key_id: id.into(),
            secret_access_key: secret.into(),
        };
        assert!(check_keys(&pair(
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ))
        .is_ok());
        assert!(check_keys(&pair("akia-lower", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
            .unwrap_err()
            .contains("upper-case"));
        assert!(check_keys(&pair(
            "ASIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
        ))
        .unwrap_err()
        .contains("temporary"));
        assert!(check_keys(&pair("AKIAIOSFODNN7EXAMPLE", "short")).unwrap_err().contains("secret"));
    }
}
