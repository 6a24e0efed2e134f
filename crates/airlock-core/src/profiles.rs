//! Saved tunnel profiles: `profiles.toml` in Airlock's config directory
//! ([`crate::config_file`]), shared by the CLI and the desktop app. Every change is validated
//! first and written atomically, and a file Airlock cannot read is never overwritten.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_file::WriteError;
use crate::session::{TunnelSpec, MAX_POOL};

/// One saved tunnel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// Unique name.
    pub name: String,
    /// The AWS profile from `~/.aws/config`; the default chain when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws_profile: Option<String>,
    /// The region; the profile's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The node.
    pub target: String,
    /// The port on the node, or on `remote_host`.
    pub remote_port: u16,
    /// A host reached through the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// The local port; 0 for any free one.
    #[serde(default)]
    pub local_port: u16,
    /// The local address to listen on.
    #[serde(default = "loopback")]
    pub bind: IpAddr,
    /// Sessions in the pool.
    #[serde(default = "one")]
    pub sessions: usize,
    /// Start when the app starts.
    #[serde(default)]
    pub auto_start: bool,
    /// Keep the tunnel from being closed for being idle ([`TunnelSpec::keep_alive`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_alive: bool,
    /// More forwards through the same node, started and stopped with the first: a tunnel
    /// group (`[[tunnel.forward]]` in the file).
    #[serde(default, rename = "forward", skip_serializing_if = "Vec::is_empty")]
    pub more_forwards: Vec<Forward>,
}

/// The most forwards one profile holds.
pub const MAX_FORWARDS: usize = 16;

/// One more forward of a tunnel group: it shares the profile's node, bind address, pool size
/// and keep-alive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forward {
    /// The port on the node, or on `remote_host`.
    pub remote_port: u16,
    /// A host reached through the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_host: Option<String>,
    /// The local port; 0 for any free one.
    #[serde(default)]
    pub local_port: u16,
}

impl std::str::FromStr for Forward {
    type Err = String;

    /// `[LOCAL:]PORT` for a port on the node, `[LOCAL:]HOST:PORT` for a host through it.
    fn from_str(text: &str) -> Result<Forward, String> {
        let port = |s: &str, what: &str| {
            s.parse::<u16>().map_err(|_| {
                format!(
                    "{s:?} in {text:?} is not a {what} port (1 to 65535, or 0 for the local one)"
                )
            })
        };
        let parts: Vec<&str> = text.split(':').collect();
        let (local_port, remote_host, remote_port) = match parts[..] {
            [remote] => (0, None, port(remote, "remote")?),
            [first, remote] if first.chars().all(|c| c.is_ascii_digit()) => {
                (port(first, "local")?, None, port(remote, "remote")?)
            }
            [host, remote] => (0, Some(host.to_owned()), port(remote, "remote")?),
            [local, host, remote] => {
                (port(local, "local")?, Some(host.to_owned()), port(remote, "remote")?)
            }
            _ => {
                return Err(format!(
                    "{text:?} is not a forward: write [LOCAL:]PORT for a port on the node or \
                     [LOCAL:]HOST:PORT for a host reached through it"
                ))
            }
        };
        Ok(Forward { remote_port, remote_host, local_port })
    }
}

impl std::fmt::Display for Forward {
    /// Where it leads, as the user reads it: `5432`, or `db.internal:5432`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.remote_host {
            Some(host) => write!(f, "{host}:{}", self.remote_port),
            None => write!(f, "port {}", self.remote_port),
        }
    }
}

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

fn one() -> usize {
    1
}

impl Profile {
    /// What a user should agree to before this profile comes in from someone else's file: a
    /// listener other machines can reach, and a tunnel that starts by itself with the app.
    pub fn import_concerns(&self) -> Vec<String> {
        let mut concerns = Vec::new();
        if let Some(warning) = crate::tunnel::exposure_warning(self.bind) {
            concerns.push(format!("{}: {warning}", self.name));
        }
        if self.auto_start {
            concerns.push(format!(
                "{}: starts by itself whenever Airlock starts, opening a session to {}.",
                self.name, self.target
            ));
        }
        concerns
    }

    /// Checks every field; the error names the field and what is allowed.
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |field: &str, message: String| {
            Err(ProfileError::Invalid { name: self.name.clone(), field: field.to_owned(), message })
        };
        if self.name.trim().is_empty()
            || self.name.len() > 64
            || self.name.chars().any(char::is_control)
        {
            return invalid("name", "give a name of 1 to 64 printable characters".into());
        }
        if self.target.is_empty()
            || self.target.len() > 400
            || self.target.chars().any(char::is_whitespace)
        {
            return invalid(
                "target",
                "give the node's id, such as i-0123456789abcdef0 or mi-0123456789abcdef0".into(),
            );
        }
        if self.more_forwards.len() + 1 > MAX_FORWARDS {
            return invalid("forward", format!("a profile holds at most {MAX_FORWARDS} forwards"));
        }
        let forwards = self.forwards();
        for (i, forward) in forwards.iter().enumerate() {
            let which = |field: &str| match i {
                0 => field.to_owned(),
                n => format!("forward {} {field}", n + 1),
            };
            if forward.remote_port == 0 {
                return invalid_at(&self.name, which("remote_port"), "give a port from 1 to 65535");
            }
            if let Some(host) = &forward.remote_host {
                if host.is_empty() || host.contains('\'') || host.chars().any(char::is_whitespace) {
                    return invalid_at(
                        &self.name,
                        which("remote_host"),
                        "give a host name or IP address without spaces or quotes",
                    );
                }
            }
            if forward.local_port != 0
                && forwards[..i].iter().any(|other| other.local_port == forward.local_port)
            {
                return invalid_at(
                    &self.name,
                    which("local_port"),
                    &format!(
                        "local port {} is taken by another forward of this profile; give each its own, or 0 for any free one",
                        forward.local_port
                    ),
                );
            }
        }
        if self.sessions == 0 || self.sessions > MAX_POOL {
            return invalid("sessions", format!("give 1 to {MAX_POOL} sessions"));
        }
        if self.region.as_ref().is_some_and(|r| {
            r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) {
            return invalid("region", "give a region such as eu-west-1".into());
        }
        Ok(())
    }

    /// Every forward, the profile's own first.
    pub fn forwards(&self) -> Vec<Forward> {
        let first = Forward {
            remote_port: self.remote_port,
            remote_host: self.remote_host.clone(),
            local_port: self.local_port,
        };
        std::iter::once(first).chain(self.more_forwards.iter().cloned()).collect()
    }

    /// The tunnels this profile describes, one a forward, its own first.
    pub fn tunnel_specs(&self) -> Vec<TunnelSpec> {
        self.forwards()
            .into_iter()
            .map(|forward| TunnelSpec {
                target: self.target.clone(),
                remote_port: forward.remote_port,
                remote_host: forward.remote_host,
                local: SocketAddr::new(self.bind, forward.local_port),
                sessions: self.sessions,
                reason: Some(format!("Airlock profile {}", self.name)),
                document: None,
                keep_alive: self.keep_alive.then_some(crate::session::KEEP_ALIVE_INTERVAL),
            })
            .collect()
    }
}

fn invalid_at(name: &str, field: String, message: &str) -> Result<(), ProfileError> {
    Err(ProfileError::Invalid { name: name.to_owned(), field, message: message.to_owned() })
}

fn write_atomically(path: &Path, text: &str) -> Result<(), ProfileError> {
    crate::config_file::write_atomically(path, text)
        .map_err(|WriteError { action, path, reason }| ProfileError::Io { action, path, reason })
}

/// Why profiles could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// No config directory could be found.
    #[error("no configuration directory: set HOME (or XDG_CONFIG_HOME)")]
    NoConfigDir,
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {reason}")]
    Io {
        /// read, write, ...
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file is not valid; it is left as it is.
    #[error("{path} is not a valid profiles file ({reason}); fix or move it, Airlock will not overwrite it")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parser's message, with the line.
        reason: String,
    },
    /// A field is out of range.
    #[error("profile {name:?}: {field}: {message}")]
    Invalid {
        /// The profile.
        name: String,
        /// The field, with the forward's number after the first: `forward 2 local_port`.
        field: String,
        /// What is allowed.
        message: String,
    },
    /// The name is taken.
    #[error("a profile named {0:?} exists already: choose another name or remove it first")]
    Exists(String),
    /// No such profile.
    #[error("no profile named {0:?}: `airlock profile list` shows the saved ones")]
    NotFound(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default, rename = "tunnel")]
    tunnels: Vec<Profile>,
}

/// The profiles file.
#[derive(Debug, Clone)]
pub struct ProfileStore {
    path: PathBuf,
}

impl ProfileStore {
    /// The file in the platform's config directory.
    pub fn default_location() -> Result<ProfileStore, ProfileError> {
        let dir = crate::config_file::config_dir().ok_or(ProfileError::NoConfigDir)?;
        Ok(ProfileStore { path: dir.join("profiles.toml") })
    }

    /// The file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> ProfileStore {
        ProfileStore { path: path.into() }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every profile, in the file's order; none when the file does not exist yet.
    pub fn load(&self) -> Result<Vec<Profile>, ProfileError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => parse(&text, &self.path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ProfileError::Io {
                action: "read",
                path: self.path.clone(),
                reason: e.to_string(),
            }),
        }
    }

    /// One profile.
    pub fn get(&self, name: &str) -> Result<Profile, ProfileError> {
        self.load()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| ProfileError::NotFound(name.to_owned()))
    }

    /// Adds a new profile.
    pub fn add(&self, profile: Profile) -> Result<(), ProfileError> {
        profile.validate()?;
        let _held = self.lock()?;
        let mut profiles = self.load()?;
        if profiles.iter().any(|p| p.name == profile.name) {
            return Err(ProfileError::Exists(profile.name));
        }
        profiles.push(profile);
        self.save(&profiles)
    }

    /// Replaces the profile called `name` (which may be renamed).
    pub fn update(&self, name: &str, profile: Profile) -> Result<(), ProfileError> {
        profile.validate()?;
        let _held = self.lock()?;
        let mut profiles = self.load()?;
        if profile.name != name && profiles.iter().any(|p| p.name == profile.name) {
            return Err(ProfileError::Exists(profile.name));
        }
        let slot = profiles
            .iter_mut()
            .find(|p| p.name == name)
            .ok_or_else(|| ProfileError::NotFound(name.to_owned()))?;
        *slot = profile;
        self.save(&profiles)
    }

    /// Removes a profile.
    pub fn remove(&self, name: &str) -> Result<Profile, ProfileError> {
        let _held = self.lock()?;
        let mut profiles = self.load()?;
        let index = profiles
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| ProfileError::NotFound(name.to_owned()))?;
        let removed = profiles.remove(index);
        self.save(&profiles)?;
        Ok(removed)
    }

    /// Adds every profile of another file; names already taken are refused before anything is
    /// written. Returns how many were added.
    pub fn import(&self, from: &Path) -> Result<usize, ProfileError> {
        let incoming = read_profiles(from)?;
        let _held = self.lock()?;
        let mut profiles = self.load()?;
        refuse_taken_names(&profiles, &incoming)?;
        let added = incoming.len();
        profiles.extend(incoming);
        self.save(&profiles)?;
        Ok(added)
    }

    /// The profiles an [`ProfileStore::import`] of `from` would add, checked as it checks them,
    /// without adding them: to show them and their [`Profile::import_concerns`] first.
    pub fn preview_import(&self, from: &Path) -> Result<Vec<Profile>, ProfileError> {
        let incoming = read_profiles(from)?;
        refuse_taken_names(&self.load()?, &incoming)?;
        Ok(incoming)
    }

    /// Writes every profile to another file (atomically).
    pub fn export(&self, to: &Path) -> Result<usize, ProfileError> {
        let profiles = self.load()?;
        write_atomically(to, &render(&profiles)?)?;
        Ok(profiles.len())
    }

    /// The lock every read-modify-write of the file takes, so a window and the CLI (or two
    /// windows) lose nothing of each other's.
    fn lock(&self) -> Result<crate::config_file::FileLock, ProfileError> {
        crate::config_file::lock(&self.path).map_err(|WriteError { action, path, reason }| {
            ProfileError::Io { action, path, reason }
        })
    }

    /// Validates and writes the whole list.
    pub fn save(&self, profiles: &[Profile]) -> Result<(), ProfileError> {
        check(profiles)?;
        write_atomically(&self.path, &render(profiles)?)
    }
}

fn read_profiles(from: &Path) -> Result<Vec<Profile>, ProfileError> {
    let text = std::fs::read_to_string(from).map_err(|e| ProfileError::Io {
        action: "read",
        path: from.to_owned(),
        reason: e.to_string(),
    })?;
    parse(&text, from)
}

fn refuse_taken_names(existing: &[Profile], incoming: &[Profile]) -> Result<(), ProfileError> {
    match incoming.iter().find(|new| existing.iter().any(|p| p.name == new.name)) {
        Some(taken) => Err(ProfileError::Exists(taken.name.clone())),
        None => Ok(()),
    }
}

fn check(profiles: &[Profile]) -> Result<(), ProfileError> {
    for (i, profile) in profiles.iter().enumerate() {
        profile.validate()?;
        if profiles[..i].iter().any(|p| p.name == profile.name) {
            return Err(ProfileError::Exists(profile.name.clone()));
        }
    }
    Ok(())
}

fn parse(text: &str, path: &Path) -> Result<Vec<Profile>, ProfileError> {
    let file: File = toml::from_str(text).map_err(|e| ProfileError::Malformed {
        path: path.to_owned(),
        reason: e.to_string().trim().to_owned(),
    })?;
    check(&file.tunnels)
        .map_err(|e| ProfileError::Malformed { path: path.to_owned(), reason: e.to_string() })?;
    Ok(file.tunnels)
}

fn render(profiles: &[Profile]) -> Result<String, ProfileError> {
    let body = toml::to_string(&File { tunnels: profiles.to_vec() }).map_err(|e| {
        ProfileError::Invalid {
            name: String::new(),
            field: "file".to_owned(),
            message: e.to_string(),
        }
    })?;
    Ok(format!(
        "# Airlock tunnel profiles. Edited by `airlock profile` and the desktop app.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(name: &str) -> Profile {
        Profile {
            name: name.into(),
            aws_profile: Some("prod".into()),
            region: Some("eu-west-1".into()),
            target: "i-0123456789abcdef0".into(),
            remote_port: 5432,
            remote_host: Some("db.internal".into()),
            local_port: 15432,
            bind: loopback(),
            sessions: 2,
            auto_start: true,
            keep_alive: false,
            more_forwards: Vec::new(),
        }
    }

    fn store() -> (tempfile::TempDir, ProfileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ProfileStore::at(dir.path().join("nested").join("profiles.toml"));
        (dir, store)
    }

    #[test]
    fn profiles_survive_a_round_trip_through_the_file() {
        let (_dir, store) = store();
        assert!(store.load().unwrap().is_empty());
        store.add(profile("db")).unwrap();
        store
            .add(Profile { remote_host: None, aws_profile: None, region: None, ..profile("web") })
            .unwrap();
        assert_eq!(
            store.load().unwrap(),
            vec![
                profile("db"),
                Profile { remote_host: None, aws_profile: None, region: None, ..profile("web") }
            ]
        );
        store.update("db", Profile { local_port: 0, ..profile("db2") }).unwrap();
        assert_eq!(store.get("db2").unwrap().local_port, 0);
        assert!(matches!(store.get("db"), Err(ProfileError::NotFound(_))));
        store.remove("web").unwrap();
        assert_eq!(store.load().unwrap().len(), 1);
        let mut leftovers: Vec<_> = std::fs::read_dir(store.path().parent().unwrap())
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.file_name())
            .collect();
        leftovers.sort();
        assert_eq!(
            leftovers,
            vec![
                std::ffi::OsString::from(".profiles.toml.lock"),
                std::ffi::OsString::from("profiles.toml")
            ],
            "the file and its lock; no temporary file is left"
        );
    }

    #[test]
    fn bad_profiles_are_refused_and_the_file_is_untouched() {
        let (_dir, store) = store();
        store.add(profile("db")).unwrap();
        let before = std::fs::read(store.path()).unwrap();
        assert!(matches!(store.add(profile("db")), Err(ProfileError::Exists(_))));
        for (bad, field) in [
            (Profile { remote_port: 0, ..profile("x") }, "remote_port"),
            (Profile { sessions: 0, ..profile("x") }, "sessions"),
            (Profile { sessions: MAX_POOL + 1, ..profile("x") }, "sessions"),
            (Profile { target: "i-1 2".into(), ..profile("x") }, "target"),
            (Profile { name: " ".into(), ..profile("x") }, "name"),
            (Profile { remote_host: Some("a'b".into()), ..profile("x") }, "remote_host"),
        ] {
            match store.add(bad) {
                Err(ProfileError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected {field} to be refused, got {other:?}"),
            }
        }
        assert_eq!(std::fs::read(store.path()).unwrap(), before);
    }

    #[test]
    fn a_malformed_file_is_reported_and_never_overwritten() {
        let (_dir, store) = store();
        std::fs::create_dir_all(store.path().parent().unwrap()).unwrap();
        std::fs::write(store.path(), "[[tunnel]]\nname = \"x\"\nremote_port = \"eighty\"\n")
            .unwrap();
        let error = store.add(profile("db")).unwrap_err();
        assert!(matches!(error, ProfileError::Malformed { .. }), "{error}");
        assert!(error.to_string().contains("will not overwrite"));
        assert_eq!(
            std::fs::read_to_string(store.path()).unwrap(),
            "[[tunnel]]\nname = \"x\"\nremote_port = \"eighty\"\n"
        );
    }

    #[test]
    fn export_and_import_carry_profiles_between_files() {
        let (dir, store) = store();
        store.add(profile("db")).unwrap();
        let exported = dir.path().join("shared.toml");
        assert_eq!(store.export(&exported).unwrap(), 1);
        let (_other_dir, other) = self::store();
        assert_eq!(other.import(&exported).unwrap(), 1);
        assert_eq!(other.get("db").unwrap(), profile("db"));
        assert!(
            matches!(other.import(&exported), Err(ProfileError::Exists(_))),
            "importing twice is refused"
        );
        assert_eq!(other.load().unwrap().len(), 1);
    }

    #[test]
    fn an_import_preview_names_shared_listeners_and_auto_start_and_adds_nothing() {
        let (dir, store) = store();
        let quiet = Profile { auto_start: false, ..profile("quiet") };
        let shared = Profile { bind: "0.0.0.0".parse().unwrap(), ..quiet.clone() };
        let shared = Profile { name: "shared".into(), ..shared };
        let eager = Profile { name: "eager".into(), auto_start: true, ..quiet.clone() };
        store.save(&[quiet.clone(), shared.clone(), eager.clone()]).unwrap();
        let file = dir.path().join("from-a-colleague.toml");
        store.export(&file).unwrap();

        let (_other_dir, other) = self::store();
        let preview = other.preview_import(&file).unwrap();
        assert_eq!(preview, [quiet, shared, eager]);
        assert!(other.load().unwrap().is_empty(), "a preview adds nothing");
        let concerns: Vec<Vec<String>> = preview.iter().map(Profile::import_concerns).collect();
        assert!(
            concerns[0].is_empty(),
            "a loopback profile that waits to be started needs no question"
        );
        assert!(
            concerns[1].len() == 1 && concerns[1][0].starts_with("shared: listening on 0.0.0.0"),
            "{:?}",
            concerns[1]
        );
        assert!(
            concerns[2].len() == 1 && concerns[2][0].contains("starts by itself"),
            "{:?}",
            concerns[2]
        );

        other.add(profile("shared")).unwrap();
        assert!(
            matches!(other.preview_import(&file), Err(ProfileError::Exists(name)) if name == "shared"),
            "a taken name is refused before asking"
        );
    }

    #[test]
    fn a_group_keeps_its_forwards_in_order_and_each_becomes_a_tunnel() {
        let (_dir, store) = store();
        let group = Profile {
            more_forwards: vec![
                "6379".parse().unwrap(),
                "16380:cache.internal:6380".parse().unwrap(),
            ],
            ..profile("stack")
        };
        store.add(group.clone()).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("[[tunnel.forward]]"), "{text}");
        assert_eq!(store.get("stack").unwrap(), group);
        let specs = group.tunnel_specs();
        let shapes: Vec<_> =
            specs.iter().map(|s| (s.remote_host.as_deref(), s.remote_port, s.local)).collect();
        assert_eq!(
            shapes,
            [
                (Some("db.internal"), 5432, SocketAddr::from(([127, 0, 0, 1], 15432))),
                (None, 6379, SocketAddr::from(([127, 0, 0, 1], 0))),
                (Some("cache.internal"), 6380, SocketAddr::from(([127, 0, 0, 1], 16380))),
            ]
        );
        assert!(specs.iter().all(|s| s.target == group.target && s.sessions == group.sessions));
    }

    #[test]
    fn forwards_are_read_as_written_on_the_command_line() {
        let forward = |text: &str| text.parse::<Forward>();
        assert_eq!(
            forward("5432"),
            Ok(Forward { remote_port: 5432, remote_host: None, local_port: 0 })
        );
        assert_eq!(
            forward("15432:5432"),
            Ok(Forward { remote_port: 5432, remote_host: None, local_port: 15432 })
        );
        assert_eq!(
            forward("db:5432"),
            Ok(Forward { remote_port: 5432, remote_host: Some("db".into()), local_port: 0 })
        );
        assert_eq!(
            forward("1:db:5432"),
            Ok(Forward { remote_port: 5432, remote_host: Some("db".into()), local_port: 1 })
        );
        for bad in ["", "db", "x:db:5432", "1:2:3:4", "70000"] {
            let error = forward(bad).unwrap_err();
            assert!(error.contains("PORT") || error.contains("port"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn a_bad_forward_of_a_group_is_refused_by_its_number() {
        let (_dir, store) = store();
        let with = |more: Vec<Forward>| Profile { more_forwards: more, ..profile("g") };
        let cases = [
            (with(vec!["0".parse().unwrap()]), "forward 2 remote_port"),
            (with(vec!["db'x:1".parse().unwrap()]), "forward 2 remote_host"),
            (with(vec!["1".parse().unwrap(), "15432:2".parse().unwrap()]), "forward 3 local_port"),
            (with(vec!["1".parse().unwrap(); MAX_FORWARDS]), "forward"),
        ];
        for (bad, field) in cases {
            match store.add(bad) {
                Err(ProfileError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("expected {field} to be refused, got {other:?}"),
            }
        }
        let two_free = with(vec!["0:1".parse().unwrap(), "0:2".parse().unwrap()]);
        assert_eq!(two_free.forwards().len(), 3);
        store.add(Profile { local_port: 0, ..two_free }).unwrap();
    }

    #[test]
    fn writers_in_parallel_lose_nothing() {
        // Each thread is its own store on the same file, as two windows and the CLI would be.
        let (_dir, store) = store();
        let path = store.path().to_owned();
        let writers: Vec<_> = (0..6)
            .map(|w| {
                let store = ProfileStore::at(&path);
                std::thread::spawn(move || {
                    for n in 0..5 {
                        store
                            .add(Profile { local_port: 0, ..profile(&format!("w{w}-{n}")) })
                            .unwrap();
                    }
                })
            })
            .collect();
        for writer in writers {
            writer.join().unwrap();
        }
        assert_eq!(store.load().unwrap().len(), 30, "every profile added is in the file");
    }
}
