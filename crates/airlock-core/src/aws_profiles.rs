//! The AWS profiles a user has: every profile in the shared config and credentials files
//! (`~/.aws/config`, `~/.aws/credentials`, or where `AWS_CONFIG_FILE` and
//! `AWS_SHARED_CREDENTIALS_FILE` point), what kind of credentials each one resolves to, its
//! region, and whether it asks for an MFA code. Reading only: resolving credentials is not
//! done here.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// How a profile gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ts_rs::TS)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileKind {
    /// An access key pair in the config or credentials file.
    Static,
    /// An access key pair in the OS keyring (`airlock credentials add`).
    Keyring,
    /// AssumeRole from another profile or source (`role_arn`).
    Role,
    /// IAM Identity Center (`sso_session` or `sso_start_url`).
    Sso,
    /// An external command (`credential_process`).
    Process,
    /// A web identity token file (`web_identity_token_file`).
    WebIdentity,
    /// The environment (`credential_source = Environment`).
    Environment,
    /// Anything else (for example only a region).
    Other,
}

/// One profile, as the files describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ts_rs::TS)]
pub struct AwsProfile {
    /// Its name (`default` for the default profile).
    pub name: String,
    /// How it gets credentials.
    pub kind: ProfileKind,
    /// Its region, if it sets one.
    pub region: Option<String>,
    /// Whether it, or a profile it takes its credentials from, asks for an MFA code.
    pub mfa: bool,
}

/// The parsed files: profile name → its keys (config and credentials merged), and the
/// `[sso-session]` sections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileFiles {
    /// Keys of each profile; config-file values win over credentials-file values only where
    /// the credentials file is silent (the SDK's order).
    pub profiles: BTreeMap<String, BTreeMap<String, String>>,
    /// Keys of each `[sso-session NAME]` section.
    pub sso_sessions: BTreeMap<String, BTreeMap<String, String>>,
}

/// The config file's path.
pub fn config_path() -> Option<PathBuf> {
    std::env::var_os("AWS_CONFIG_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("config")))
}

/// The credentials file's path.
pub fn credentials_path() -> Option<PathBuf> {
    std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".aws").join("credentials")))
}

impl ProfileFiles {
    /// Reads both files where they are; a missing file is an empty one.
    pub fn load() -> ProfileFiles {
        let read = |path: Option<PathBuf>| {
            path.and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
        };
        ProfileFiles::parse(&read(config_path()), &read(credentials_path()))
    }

    /// Parses the text of a config file and a credentials file.
    pub fn parse(config: &str, credentials: &str) -> ProfileFiles {
        let mut files = ProfileFiles::default();
        for (section, keys) in sections(credentials) {
            files.profiles.entry(section).or_default().extend(keys);
        }
        for (section, keys) in sections(config) {
            let section = section.trim();
            if let Some(name) = section.strip_prefix("profile ").map(str::trim) {
                let entry = files.profiles.entry(name.to_owned()).or_default();
                for (k, v) in keys {
                    entry.entry(k).or_insert(v);
                }
            } else if section == "default" {
                let entry = files.profiles.entry("default".into()).or_default();
                for (k, v) in keys {
                    entry.entry(k).or_insert(v);
                }
            } else if let Some(name) = section.strip_prefix("sso-session ").map(str::trim) {
                files.sso_sessions.insert(name.to_owned(), keys);
            }
            // `[services ...]` and unknown sections are not profiles.
        }
        files
    }

    /// A profile's keys.
    pub fn get(&self, profile: &str) -> Option<&BTreeMap<String, String>> {
        self.profiles.get(profile)
    }

    /// Every profile, by name.
    pub fn list(&self) -> Vec<AwsProfile> {
        self.profiles
            .keys()
            .map(|name| AwsProfile {
                name: name.clone(),
                kind: self.kind(name),
                region: self.region(name),
                mfa: self.asks_for_mfa(name),
            })
            .collect()
    }

    /// How `profile` gets its credentials (the first rule that applies, in the SDK's order).
    pub fn kind(&self, profile: &str) -> ProfileKind {
        let Some(keys) = self.profiles.get(profile) else { return ProfileKind::Other };
        if keys.contains_key("role_arn")
            && (keys.contains_key("source_profile") || keys.contains_key("credential_source"))
        {
            ProfileKind::Role
        } else if keys.contains_key("web_identity_token_file") {
            ProfileKind::WebIdentity
        } else if keys.contains_key("sso_session") || keys.contains_key("sso_start_url") {
            ProfileKind::Sso
        } else if keys.contains_key("aws_access_key_id") {
            ProfileKind::Static
        } else if let Some(command) = keys.get("credential_process") {
            if is_keyring_process(command) {
                ProfileKind::Keyring
            } else {
                ProfileKind::Process
            }
        } else if keys.get("credential_source").is_some_and(|s| s == "Environment") {
            ProfileKind::Environment
        } else {
            ProfileKind::Other
        }
    }

    /// The profile's region.
    pub fn region(&self, profile: &str) -> Option<String> {
        self.profiles.get(profile)?.get("region").filter(|r| !r.is_empty()).cloned()
    }

    /// `profile` and the profiles it takes credentials from (`source_profile`), in order; a
    /// loop ends the chain.
    pub fn source_chain(&self, profile: &str) -> Vec<String> {
        let mut chain: Vec<String> = Vec::new();
        let mut current = Some(profile.to_owned());
        while let Some(name) = current.take() {
            if chain.contains(&name) || !self.profiles.contains_key(&name) {
                break;
            }
            current = self.profiles[&name].get("source_profile").cloned();
            chain.push(name);
        }
        chain
    }

    /// Whether `profile` or a profile it takes credentials from sets `mfa_serial`.
    pub fn asks_for_mfa(&self, profile: &str) -> bool {
        self.source_chain(profile).iter().any(|name| self.profiles[name].contains_key("mfa_serial"))
    }
}

/// Whether a `credential_process` command is Airlock's own (`airlock credential-process NAME`),
/// which serves an access key pair kept in the OS keyring.
pub fn is_keyring_process(command: &str) -> bool {
    let mut words = command.split_whitespace();
    let program = words.next().unwrap_or_default().trim_matches(['"', '\'']);
    let program = program.rsplit(['/', '\\']).next().unwrap_or_default();
    matches!(program, "airlock" | "airlock.exe") && words.next() == Some("credential-process")
}

/// `[section]` headers and `key = value` lines; comments (`#`, `;`) and continuation lines
/// (indented, used for nested `s3 =` settings) are skipped.
fn sections(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            out.push((header.trim().to_owned(), BTreeMap::new()));
        } else if let (Some((key, value)), Some((_, keys))) = (line.split_once('='), out.last_mut())
        {
            let value =
                value.split(" #").next().unwrap_or_default().split(" ;").next().unwrap_or_default();
            keys.insert(key.trim().to_lowercase(), value.trim().to_owned());
        }
    }
    out
}

/// Whether credentials are configured anywhere the default chain looks without a network
/// call: the environment, or a profile in the files. When none are, the desktop app starts
/// on the demo fleet.
pub fn credentials_configured(files: &ProfileFiles) -> bool {
    let set = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    set("AWS_ACCESS_KEY_ID")
        || set("AWS_PROFILE")
        || set("AWS_WEB_IDENTITY_TOKEN_FILE")
        || set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
        || set("AWS_CONTAINER_CREDENTIALS_FULL_URI")
        || files.profiles.values().any(|keys| keys.keys().any(|k| k != "region" && k != "output"))
}

/// The commercial AWS regions, for the region picker (a profile's own region is added when it
/// is not among them).
pub const REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-south-1",
    "me-central-1",
    "mx-central-1",
    "sa-east-1",
];

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[default]
region = eu-west-1

[profile admin]
role_arn = arn:aws:iam::111122223333:role/Admin
source_profile = base
mfa_serial = arn:aws:iam::123456789012:mfa/alice

[profile chained]
role_arn = arn:aws:iam::444455556666:role/ReadOnly
source_profile = admin
region = us-west-2 # a comment

[profile sso-dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Dev

[profile legacy-sso]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1

[profile tool]
credential_process = /usr/local/bin/get-creds --json

[profile vaulted]
credential_process = airlock credential-process vaulted

[profile ci]
web_identity_token_file = /var/run/token
role_arn = arn:aws:iam::111122223333:role/Ci

[profile env]
role_arn = arn:aws:iam::111122223333:role/FromEnv
credential_source = Environment

[profile base]
s3 =
  max_concurrent_requests = 20

[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = eu-west-1

[services local]
ssm =
  endpoint_url = http://localhost:8790
";

    const CREDENTIALS: &str = "\
[base]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = secret

[default]
aws_access_key_id = AKIADEFAULT
aws_secret_access_key = secret2
";

    #[test]
    fn every_kind_of_profile_is_recognised() {
        let files = ProfileFiles::parse(CONFIG, CREDENTIALS);
        let kinds: BTreeMap<String, ProfileKind> =
            files.list().into_iter().map(|p| (p.name, p.kind)).collect();
        let expected = [
            ("admin", ProfileKind::Role),
            ("base", ProfileKind::Static),
            ("chained", ProfileKind::Role),
            ("ci", ProfileKind::WebIdentity),
            ("default", ProfileKind::Static),
            ("env", ProfileKind::Role),
            ("legacy-sso", ProfileKind::Sso),
            ("sso-dev", ProfileKind::Sso),
            ("tool", ProfileKind::Process),
            ("vaulted", ProfileKind::Keyring),
        ];
        assert_eq!(
            kinds,
            expected.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            "[services] and [sso-session] are not profiles"
        );
        assert_eq!(files.sso_sessions["corp"]["sso_region"], "eu-west-1");
    }

    #[test]
    fn regions_comments_and_mfa_along_the_chain() {
        let files = ProfileFiles::parse(CONFIG, CREDENTIALS);
        assert_eq!(files.region("default").as_deref(), Some("eu-west-1"));
        assert_eq!(
            files.region("chained").as_deref(),
            Some("us-west-2"),
            "a trailing comment is not part of the value"
        );
        assert!(files.asks_for_mfa("admin"));
        assert!(
            files.asks_for_mfa("chained"),
            "a role chained from an MFA profile asks for the code too"
        );
        assert!(!files.asks_for_mfa("base"));
        assert_eq!(
            files.get("base").unwrap().get("s3"),
            Some(&String::new()),
            "nested settings are skipped, not misread"
        );
    }

    #[test]
    fn a_source_profile_loop_ends() {
        let files = ProfileFiles::parse("[profile a]\nsource_profile = b\nrole_arn = x\n[profile b]\nsource_profile = a\nrole_arn = y\n", "");
        assert!(!files.asks_for_mfa("a"));
        assert_eq!(files.source_chain("a"), ["a", "b"]);
        assert_eq!(
            ProfileFiles::parse(CONFIG, CREDENTIALS).source_chain("chained"),
            ["chained", "admin", "base"]
        );
    }

    #[test]
    fn a_region_alone_is_not_credentials() {
        assert!(!ProfileFiles::parse("[default]\nregion = eu-west-1\noutput = json\n", "")
            .profiles
            .values()
            .any(|k| k.keys().any(|k| k != "region" && k != "output")));
    }

    /// Lines an `~/.aws/config` or credentials file is made of, hostile ones included: odd
    /// sections, keys without values, continuation lines, comments, source_profile chains
    /// (cycles too) among a few names.
    fn ini_line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let name = prop::sample::select(vec![
            "default",
            "a",
            "b",
            "c",
            "profile a",
            "profile b",
            "sso-session s",
            "services x",
            " profile  c ",
            "",
        ]);
        let key = prop::sample::select(vec![
            "source_profile",
            "role_arn",
            "mfa_serial",
            "region",
            "sso_session",
            "credential_process",
            "aws_access_key_id",
            "credential_source",
            "x",
        ]);
        let value = prop::sample::select(vec![
            "a",
            "b",
            "c",
            "default",
            "",
            "arn:aws:iam::1:role/r",
            "airlock credential-process a",
            "Environment",
            "eu-west-1",
        ]);
        prop_oneof![
            name.prop_map(|n| format!("[{n}]")),
            (key, value).prop_map(|(k, v)| format!("{k} = {v}")),
            "\\PC{0,30}",
            Just("  continued = value".to_owned()),
            Just("# comment".to_owned()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_profile_files_parse_and_every_question_about_them_ends(
            config in proptest::collection::vec(ini_line(), 0..40),
            credentials in proptest::collection::vec(ini_line(), 0..20),
        ) {
            let files = ProfileFiles::parse(&config.join("\n"), &credentials.join("\n"));
            let profiles = files.list();
            for profile in &profiles {
                let chain = files.source_chain(&profile.name);
                proptest::prop_assert!(chain.len() <= profiles.len(), "a source_profile loop must end the chain");
                let _ = (files.kind(&profile.name), files.region(&profile.name), files.asks_for_mfa(&profile.name));
            }
            let _ = credentials_configured(&files);
        }
    }
}
