//! Which certificate authorities Airlock trusts, decided once for a place by the AWS CLI's
//! rules, in this order: `AWS_CA_BUNDLE`, then `ca_bundle` in the profile, then
//! `SSL_CERT_FILE`, each of which *replaces* the platform's store (as the CLI's `verify`
//! does); with none of them, the platform's store (`rustls-native-certs`, which also honours
//! `SSL_CERT_DIR`).
//!
//! The result is one [`Trust`]: the same roots serve the SDK's HTTPS client and the
//! data-channel WebSocket, so an API call and the session it starts never disagree about a
//! certificate. A bundle that is missing, unreadable or holds no certificate is an error that
//! names the file and the setting that pointed there; it is never silently skipped.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

/// Where a CA bundle was named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustSetting {
    /// The `AWS_CA_BUNDLE` environment variable.
    AwsCaBundle,
    /// `ca_bundle` in a profile of `~/.aws/config`.
    ProfileCaBundle {
        /// The profile.
        profile: String,
    },
    /// The `SSL_CERT_FILE` environment variable.
    SslCertFile,
    /// Given by the program itself (the demo fleet's own authority, held in memory).
    Builtin(&'static str),
}

impl fmt::Display for TrustSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrustSetting::AwsCaBundle => f.write_str("AWS_CA_BUNDLE"),
            TrustSetting::ProfileCaBundle { profile } => {
                write!(f, "ca_bundle in [profile {profile}] of ~/.aws/config")
            }
            TrustSetting::SslCertFile => f.write_str("SSL_CERT_FILE"),
            TrustSetting::Builtin(what) => f.write_str(what),
        }
    }
}

/// Certificates to trust instead of the platform's store.
#[derive(Clone, PartialEq, Eq)]
pub enum Bundle {
    /// A PEM file.
    File(PathBuf),
    /// PEM text in memory.
    Pem(Vec<u8>),
}

impl fmt::Debug for Bundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bundle::File(path) => f.debug_tuple("File").field(path).finish(),
            Bundle::Pem(pem) => write!(f, "Pem({} bytes)", pem.len()),
        }
    }
}

/// What to trust: a bundle and where it was named, or the platform's store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustSettings {
    /// The bundle that replaces the platform's store, if any.
    pub bundle: Option<(Bundle, TrustSetting)>,
}

impl TrustSettings {
    /// The AWS CLI's order: `AWS_CA_BUNDLE`, the profile's `ca_bundle`, `SSL_CERT_FILE`.
    /// `env` reads one environment variable; `profile_bundle` is the chosen profile's name and
    /// its `ca_bundle` value, if it has one.
    pub fn from_env(
        env: &dyn Fn(&str) -> Option<String>,
        profile_bundle: Option<(&str, &str)>,
    ) -> TrustSettings {
        let file = |path: String| Bundle::File(expand_home(&path));
        let bundle = env("AWS_CA_BUNDLE")
            .map(|path| (file(path), TrustSetting::AwsCaBundle))
            .or_else(|| {
                profile_bundle.map(|(profile, path)| {
                    (
                        file(path.to_owned()),
                        TrustSetting::ProfileCaBundle { profile: profile.to_owned() },
                    )
                })
            })
            .or_else(|| env("SSL_CERT_FILE").map(|path| (file(path), TrustSetting::SslCertFile)));
        TrustSettings { bundle }
    }

    /// Trust only `pem` (the demo fleet's authority).
    pub fn only(pem: Vec<u8>, what: &'static str) -> TrustSettings {
        TrustSettings { bundle: Some((Bundle::Pem(pem), TrustSetting::Builtin(what))) }
    }

    /// Trust only the PEM file at `path`, as if `AWS_CA_BUNDLE` named it.
    pub fn ca_bundle(path: impl Into<PathBuf>) -> TrustSettings {
        TrustSettings { bundle: Some((Bundle::File(path.into()), TrustSetting::AwsCaBundle)) }
    }
}

/// Why the trusted certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The named file is not there.
    #[error("the CA bundle {} named by {setting} does not exist: correct the path, or unset {setting} to use the system's certificates", path.display())]
    Missing {
        /// The file.
        path: PathBuf,
        /// Who named it.
        setting: TrustSetting,
    },
    /// The file could not be read.
    #[error("cannot read the CA bundle {} named by {setting}: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Who named it.
        setting: TrustSetting,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file holds no usable certificate.
    #[error("the CA bundle {what} named by {setting} holds no certificate ({why}): it must be PEM text with -----BEGIN CERTIFICATE----- blocks")]
    NoCertificate {
        /// The file (or "the built-in bundle").
        what: String,
        /// Who named it.
        setting: TrustSetting,
        /// What was wrong with it.
        why: String,
    },
    /// The platform's store had nothing to offer.
    #[error("the system's trust store holds no certificate ({0}): install the ca-certificates package, or set AWS_CA_BUNDLE to a PEM file")]
    NoSystemRoots(String),
}

/// The loaded roots: one set for every TLS connection of a place.
#[derive(Clone)]
pub struct Trust {
    roots: Arc<RootCertStore>,
    /// The same roots as PEM, for the SDK's client (which takes PEM).
    pem: Arc<Vec<u8>>,
    description: String,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("description", &self.description)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl Trust {
    /// Loads what `settings` name.
    pub fn load(settings: &TrustSettings) -> Result<Trust, TrustError> {
        let (certificates, description) = match &settings.bundle {
            Some((bundle, setting)) => {
                let (pem, what) = match bundle {
                    Bundle::File(path) => (read_bundle(path, setting)?, path.display().to_string()),
                    Bundle::Pem(pem) => (pem.clone(), "the built-in bundle".to_owned()),
                };
                let certificates = parse_pem(&pem).map_err(|why| TrustError::NoCertificate {
                    what: what.clone(),
                    setting: setting.clone(),
                    why,
                })?;
                let count = certificates.len();
                (
                    certificates,
                    format!("{what} from {setting} ({count} certificate{})", plural(count)),
                )
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    let why = found
                        .errors
                        .first()
                        .map_or_else(|| "none found".to_owned(), ToString::to_string);
                    return Err(TrustError::NoSystemRoots(why));
                }
                let count = found.certs.len();
                (found.certs, format!("the system's trust store ({count} certificates)"))
            }
        };
        let mut roots = RootCertStore::empty();
        let mut pem = Vec::new();
        for certificate in certificates {
            // Only what rustls accepts as a root goes to the SDK too, so both trust the same set.
            if roots.add(certificate.clone()).is_ok() {
                pem.extend_from_slice(&to_pem(&certificate));
            }
        }
        if roots.is_empty() {
            let (what, setting) = match &settings.bundle {
                Some((Bundle::File(path), setting)) => {
                    (path.display().to_string(), setting.clone())
                }
                Some((Bundle::Pem(_), setting)) => {
                    ("the built-in bundle".to_owned(), setting.clone())
                }
                None => {
                    return Err(TrustError::NoSystemRoots(
                        "no certificate could be used as a root".into(),
                    ))
                }
            };
            return Err(TrustError::NoCertificate {
                what,
                setting,
                why: "no block is a valid CA certificate".into(),
            });
        }
        Ok(Trust { roots: Arc::new(roots), pem: Arc::new(pem), description })
    }

    /// The roots, for rustls.
    pub fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// The roots as PEM text.
    pub fn pem(&self) -> &[u8] {
        &self.pem
    }

    /// What is trusted, in words (for `airlock doctor` and errors).
    pub fn description(&self) -> &str {
        &self.description
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn read_bundle(path: &Path, setting: &TrustSetting) -> Result<Vec<u8>, TrustError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => {
            TrustError::Missing { path: path.to_owned(), setting: setting.clone() }
        }
        _ => TrustError::Unreadable { path: path.to_owned(), setting: setting.clone(), source },
    })
}

fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let mut certificates = Vec::new();
    for item in CertificateDer::pem_slice_iter(pem) {
        certificates.push(item.map_err(|e| format!("malformed PEM: {e}"))?);
    }
    if certificates.is_empty() {
        return Err(if pem.is_empty() {
            "the file is empty".into()
        } else {
            "no CERTIFICATE block".into()
        });
    }
    Ok(certificates)
}

fn to_pem(certificate: &CertificateDer<'_>) -> Vec<u8> {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem.into_bytes()
}

/// `~/x` as the CLI reads it.
fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => dirs::home_dir().map_or_else(|| PathBuf::from(path), |home| home.join(rest)),
        None => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }

    #[test]
    fn the_cli_order_decides_which_bundle_replaces_the_system_store() {
        let all = [("AWS_CA_BUNDLE", "/a.pem"), ("SSL_CERT_FILE", "/c.pem")];
        let chosen = TrustSettings::from_env(&env(&all), Some(("work", "/b.pem")));
        assert_eq!(
            chosen.bundle,
            Some((Bundle::File("/a.pem".into()), TrustSetting::AwsCaBundle)),
            "AWS_CA_BUNDLE wins"
        );
        let chosen = TrustSettings::from_env(&env(&all[1..]), Some(("work", "/b.pem")));
        assert_eq!(
            chosen.bundle,
            Some((
                Bundle::File("/b.pem".into()),
                TrustSetting::ProfileCaBundle { profile: "work".into() }
            )),
            "then the profile's"
        );
        let chosen = TrustSettings::from_env(&env(&all[1..]), None);
        assert_eq!(
            chosen.bundle,
            Some((Bundle::File("/c.pem".into()), TrustSetting::SslCertFile)),
            "then SSL_CERT_FILE"
        );
        assert_eq!(TrustSettings::from_env(&env(&[]), None).bundle, None, "else the system store");
    }

    #[test]
    fn a_bad_bundle_names_the_file_and_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.pem");
        let error = Trust::load(&TrustSettings::ca_bundle(&missing)).unwrap_err();
        assert!(matches!(error, TrustError::Missing { .. }), "{error}");
        assert!(
            error.to_string().contains("nope.pem") && error.to_string().contains("AWS_CA_BUNDLE"),
            "{error}"
        );

        let garbled = dir.path().join("garbled.pem");
        std::fs::write(
            &garbled,
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let error = Trust::load(&TrustSettings {
            bundle: Some((
                Bundle::File(garbled),
                TrustSetting::ProfileCaBundle { profile: "work".into() },
            )),
        })
        .unwrap_err();
        assert!(matches!(error, TrustError::NoCertificate { .. }), "{error}");
        assert!(
            error.to_string().contains("garbled.pem")
                && error.to_string().contains("[profile work]"),
            "{error}"
        );

        let text = dir.path().join("notes.txt");
        std::fs::write(&text, "just some words\n").unwrap();
        let error = Trust::load(&TrustSettings::ca_bundle(&text)).unwrap_err();
        assert!(error.to_string().contains("no CERTIFICATE block"), "{error}");
    }
}
