//! RDP to Windows nodes: the system's RDP client found and launched at a tunnel's local end,
//! and the administrator password of an EC2 Windows instance (GetPasswordData), decrypted
//! here with the key pair file the user chooses. The password is a [`Password`], which never
//! shows itself in a log or a Debug dump.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::aws::{classify, Aws, AwsError, Call};
use crate::inventory::{Node, TargetError};

/// The port Windows listens on for RDP.
pub const RDP_PORT: u16 = 3389;

/// The account EC2 sets a password for at launch.
pub const ADMINISTRATOR: &str = "Administrator";

/// A Windows password. Debug and Display never show it; [`Password::reveal`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The password itself, to show to the user who asked or to copy.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

/// Why RDP to a node, or its password, could not be had.
#[derive(Debug, thiserror::Error)]
pub enum RdpError {
    /// The target names no node, or several.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The node is not a Windows node.
    #[error("{target} is a {platform} node: RDP is for Windows nodes; open a shell instead")]
    NotWindows {
        /// As the user named it.
        target: String,
        /// Its platform.
        platform: String,
    },
    /// The control plane refused or could not be reached.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// On-premises nodes are not EC2 instances.
    #[error("{0} is an on-premises node, not an EC2 instance: EC2 keeps no password for it; sign in with an account of that machine")]
    NotEc2(String),
    /// Windows has not set and encrypted it yet, or the instance has no key pair.
    #[error("EC2 has no password for {0} yet: Windows sets it a few minutes after the first launch (try again in a few minutes); an instance launched without a key pair, or whose password was changed on it, has none")]
    NotAvailable(String),
    /// The key file could not be read.
    #[error("cannot read the key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not an RSA private key.
    #[error("{path} is not an RSA private key in PEM form (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----): choose the .pem file of the key pair the instance was launched with; ED25519 key pairs cannot be used for Windows passwords")]
    NotRsaKey {
        /// The file.
        path: PathBuf,
    },
    /// The key does not decrypt the password.
    #[error("the key in {path} does not decrypt the password of {instance}: choose the key pair the instance was launched with")]
    WrongKey {
        /// The file.
        path: PathBuf,
        /// The instance.
        instance: String,
    },
}

impl Aws {
    /// The Windows node `target` names (an id or a Name tag).
    pub async fn windows_node(&self, target: &str) -> Result<Node, RdpError> {
        let id = self.resolve_target(target).await?;
        let nodes = self.list_nodes().await.map_err(TargetError::from)?.nodes;
        let node = nodes
            .into_iter()
            .find(|n| n.id == id)
            .ok_or_else(|| TargetError::NoSuchName(target.to_owned()))?;
        if !node.platform_type.eq_ignore_ascii_case("windows") {
            return Err(RdpError::NotWindows {
                target: target.to_owned(),
                platform: node.platform_type,
            });
        }
        Ok(node)
    }

    async fn password_data(&self, instance: &str) -> Result<String, AwsError> {
        let answer =
            self.ec2.get_password_data().instance_id(instance).send().await.map_err(|e| {
                let call = Call { action: "ec2:GetPasswordData", target: instance, document: "" };
                classify(e, call, self.network())
            })?;
        Ok(answer.password_data.unwrap_or_default())
    }

    /// The administrator password of the Windows instance `instance` (an `i-` id), decrypted
    /// with the private key in `key_file`.
    pub async fn windows_password(
        &self,
        instance: &str,
        key_file: &Path,
    ) -> Result<Password, RdpError> {
        if instance.starts_with("mi-") {
            return Err(RdpError::NotEc2(instance.to_owned()));
        }
        // Read the key first: a wrong file is said without a call to AWS.
        let pem = std::fs::read_to_string(key_file)
            .map_err(|e| RdpError::KeyFile { path: key_file.to_owned(), reason: e.to_string() })?;
        let key =
            private_key(&pem).ok_or_else(|| RdpError::NotRsaKey { path: key_file.to_owned() })?;
        let encrypted = self.password_data(instance).await?;
        if encrypted.trim().is_empty() {
            return Err(RdpError::NotAvailable(instance.to_owned()));
        }
        decrypt(&key, &encrypted).ok_or_else(|| RdpError::WrongKey {
            path: key_file.to_owned(),
            instance: instance.to_owned(),
        })
    }
}

fn private_key(pem: &str) -> Option<rsa::RsaPrivateKey> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs1_pem(pem.trim())
        .ok()
        .or_else(|| rsa::RsaPrivateKey::from_pkcs8_pem(pem.trim()).ok())
}

/// EC2's PasswordData: base64 of the password encrypted to the key pair's public key
/// (RSA, PKCS #1 v1.5 padding).
fn decrypt(key: &rsa::RsaPrivateKey, encrypted: &str) -> Option<Password> {
    let compact: String = encrypted.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD.decode(compact).ok()?;
    let plain = key.decrypt(rsa::Pkcs1v15Encrypt, &bytes).ok()?;
    String::from_utf8(plain).ok().map(Password)
}

/// An RDP client of this system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RdpClient {
    /// FreeRDP (`xfreerdp3`, `xfreerdp`, `wlfreerdp`, `sdl-freerdp`).
    FreeRdp(PathBuf),
    /// Remmina.
    Remmina(PathBuf),
    /// Windows' Remote Desktop Connection.
    Mstsc(PathBuf),
    /// macOS: the Windows App (or Microsoft Remote Desktop) through an `rdp://` link.
    MacOpen(PathBuf),
}

/// How to start an RDP client: the program and its arguments. No password is in them (other
/// users of the machine can read a command line): the client asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
}

impl Launch {
    /// The command line as a user would type it.
    pub fn display(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The operating systems whose RDP clients Airlock knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Linux and the BSDs: FreeRDP, then Remmina.
    Unix,
    /// Windows: mstsc.
    Windows,
    /// macOS: `open` with an `rdp://` link.
    MacOs,
}

impl Os {
    /// This machine's.
    pub fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::MacOs
        } else {
            Os::Unix
        }
    }
}

impl RdpClient {
    /// The first RDP client found on this machine's PATH.
    pub fn find() -> Option<RdpClient> {
        RdpClient::find_in(&std::env::var_os("PATH").unwrap_or_default(), Os::current())
    }

    /// The first RDP client found in `path` (a PATH value) for `os`.
    pub fn find_in(path: &OsStr, os: Os) -> Option<RdpClient> {
        let found = |name: &str| {
            std::env::split_paths(path).map(|dir| dir.join(name)).find(|file| is_program(file))
        };
        match os {
            Os::Windows => found("mstsc.exe").map(RdpClient::Mstsc),
            Os::MacOs => found("open").map(RdpClient::MacOpen),
            Os::Unix => ["xfreerdp3", "xfreerdp", "sdl-freerdp3", "sdl-freerdp", "wlfreerdp"]
                .into_iter()
                .find_map(found)
                .map(RdpClient::FreeRdp)
                .or_else(|| found("remmina").map(RdpClient::Remmina)),
        }
    }

    /// Its name, for the user.
    pub fn name(&self) -> &'static str {
        match self {
            RdpClient::FreeRdp(_) => "FreeRDP",
            RdpClient::Remmina(_) => "Remmina",
            RdpClient::Mstsc(_) => "Remote Desktop Connection",
            RdpClient::MacOpen(_) => "Windows App",
        }
    }

    /// How to start it on `local` (a tunnel's local end) as `user`.
    pub fn launch(&self, local: SocketAddr, user: &str) -> Launch {
        let address = match local {
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
            SocketAddr::V4(v4) => v4.to_string(),
        };
        let (program, args) = match self {
            // The tunnel's far end changes with every run, so its certificate is not pinned
            // to the local port: FreeRDP asks about it as for any new server.
            RdpClient::FreeRdp(program) => {
                (program, vec![format!("/v:{address}"), format!("/u:{user}")])
            }
            RdpClient::Remmina(program) => {
                (program, vec!["-c".to_owned(), format!("rdp://{user}@{address}")])
            }
            RdpClient::Mstsc(program) => (program, vec![format!("/v:{address}")]),
            RdpClient::MacOpen(program) => {
                (program, vec![format!("rdp://full%20address=s:{address}&username=s:{user}")])
            }
        };
        Launch { program: program.clone(), args }
    }
}

fn is_program(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        file.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            let file = dir.path().join(name);
            std::fs::write(&file, "#!/bin/sh\n").unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
        }
        dir
    }

    #[test]
    fn freerdp_is_preferred_then_remmina_and_a_plain_file_is_no_program() {
        let both = programs(&["remmina", "xfreerdp"]);
        let found = RdpClient::find_in(both.path().as_os_str(), Os::Unix).unwrap();
        assert_eq!(found, RdpClient::FreeRdp(both.path().join("xfreerdp")));
        let remmina = programs(&["remmina"]);
        let found = RdpClient::find_in(remmina.path().as_os_str(), Os::Unix).unwrap();
        assert_eq!(found.name(), "Remmina");
        let plain = tempfile::tempdir().unwrap();
        std::fs::write(plain.path().join("xfreerdp"), "not a program").unwrap();
        assert_eq!(RdpClient::find_in(plain.path().as_os_str(), Os::Unix), None);
        assert_eq!(RdpClient::find_in(both.path().as_os_str(), Os::Windows), None);
    }

    #[test]
    fn each_client_is_pointed_at_the_local_end_without_the_password() {
        let local = SocketAddr::from(([127, 0, 0, 1], 53389));
        let launch = |client: RdpClient| client.launch(local, ADMINISTRATOR).display();
        assert_eq!(
            launch(RdpClient::FreeRdp("/usr/bin/xfreerdp".into())),
            "/usr/bin/xfreerdp /v:127.0.0.1:53389 /u:Administrator"
        );
        assert_eq!(
            launch(RdpClient::Remmina("/usr/bin/remmina".into())),
            "/usr/bin/remmina -c rdp://Administrator@127.0.0.1:53389"
        );
        assert_eq!(
            launch(RdpClient::Mstsc(r"C:\Windows\System32\mstsc.exe".into())),
            r"C:\Windows\System32\mstsc.exe /v:127.0.0.1:53389"
        );
        assert_eq!(
            launch(RdpClient::MacOpen("/usr/bin/open".into())),
            "/usr/bin/open rdp://full%20address=s:127.0.0.1:53389&username=s:Administrator"
        );
        let v6 = RdpClient::FreeRdp("xfreerdp".into())
            .launch(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 3390)), "me");
        assert_eq!(v6.args[0], "/v:[::1]:3390");
    }

    #[test]
    fn a_password_never_shows_in_debug() {
        let password = Password("s3cret!".into());
        assert_eq!(format!("{password:?}"), "Password(hidden)");
        assert_eq!(password.reveal(), "s3cret!");
    }
}
