//! The desktop app's remembered choices: the AWS profile and region last used (or the demo
//! fleet), the theme, the terminal font size, where the window was, and what closing it does
//! while tunnels run. `settings.toml` in Airlock's config directory,
//! written atomically; a file Airlock cannot read is reported and left alone.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config_file::{write_atomically, WriteError};

/// Light, dark, or as the desktop is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Follow the desktop.
    #[default]
    System,
    /// Light.
    Light,
    /// Dark.
    Dark,
}

/// Everything remembered between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// The AWS profile last chosen; `None` for the default credential chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_profile: Option<String>,
    /// The region last chosen; `None` for the profile's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The demo fleet was chosen over real AWS.
    pub demo: bool,
    /// The colour theme.
    pub theme: Theme,
    /// Terminal font size in pixels.
    pub font_size: u16,
    /// Where the window was when it last moved or changed size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowPlacement>,
    /// What closing the window does while tunnels run.
    pub close_with_tunnels: CloseWithTunnels,
}

/// The window's place on the desktop, in physical pixels (its outer position, its inner size).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowPlacement {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width of the content.
    pub width: u32,
    /// Height of the content.
    pub height: u32,
    /// Maximised (the size is then the one to return to).
    #[serde(default)]
    pub maximized: bool,
}

/// The largest window side Airlock restores; anything bigger is a broken file.
const MAX_WINDOW_SIDE: u32 = 32_768;

/// What closing the window does while tunnels run (without tunnels the app quits).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CloseWithTunnels {
    /// Ask each time.
    #[default]
    Ask,
    /// Hide the window; the tunnels go on, in the tray.
    KeepRunning,
    /// Stop the tunnels and quit.
    Quit,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            aws_profile: None,
            region: None,
            demo: false,
            theme: Theme::System,
            font_size: 14,
            window: None,
            close_with_tunnels: CloseWithTunnels::Ask,
        }
    }
}

/// The smallest and largest terminal font sizes.
pub const FONT_SIZES: std::ops::RangeInclusive<u16> = 8..=32;

/// Why settings could not be read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// The file is not valid; it is left as it is.
    #[error("{path} is not a valid settings file ({reason}); fix or delete it, Airlock will not overwrite it")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// Reading failed.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Writing failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A value is out of range.
    #[error("{0}")]
    Invalid(String),
}

/// The settings file.
#[derive(Debug, Clone)]
pub struct SettingsStore {
    path: PathBuf,
}

impl SettingsStore {
    /// The file at `path`.
    pub fn at(path: impl Into<PathBuf>) -> SettingsStore {
        SettingsStore { path: path.into() }
    }

    /// `settings.toml` in Airlock's config directory, if there is one.
    pub fn default_location() -> Option<SettingsStore> {
        crate::config_file::config_dir().map(|dir| SettingsStore::at(dir.join("settings.toml")))
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved settings; the defaults when there is no file yet.
    pub fn load(&self) -> Result<Settings, SettingsError> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => {
                let settings: Settings =
                    toml::from_str(&text).map_err(|e| SettingsError::Malformed {
                        path: self.path.clone(),
                        reason: e.to_string().trim().to_owned(),
                    })?;
                settings.validate().map_err(|e| SettingsError::Malformed {
                    path: self.path.clone(),
                    reason: e.to_string(),
                })?;
                Ok(settings)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            Err(e) => Err(SettingsError::Read { path: self.path.clone(), reason: e.to_string() }),
        }
    }

    /// Reads the settings, applies `change` and writes them back, all under the file's lock so
    /// two windows (or a window and the CLI) lose none of each other's choices.
    pub fn update(&self, change: impl FnOnce(&mut Settings)) -> Result<Settings, SettingsError> {
        let _held = crate::config_file::lock(&self.path)?;
        let mut settings = self.load()?;
        change(&mut settings);
        self.write(&settings)?;
        Ok(settings)
    }

    /// Validates and writes `settings`, unless the file on disk is one Airlock cannot read.
    pub fn save(&self, settings: &Settings) -> Result<(), SettingsError> {
        let _held = crate::config_file::lock(&self.path)?;
        self.write(settings)
    }

    fn write(&self, settings: &Settings) -> Result<(), SettingsError> {
        settings.validate()?;
        if let Err(error @ SettingsError::Malformed { .. }) = self.load() {
            return Err(error);
        }
        let body = toml::to_string(settings).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        write_atomically(
            &self.path,
            &format!("# Airlock's remembered choices. Written by the desktop app.\n\n{body}"),
        )?;
        Ok(())
    }
}

impl Settings {
    /// Checks the values a hand-edited file could get wrong.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !FONT_SIZES.contains(&self.font_size) {
            return Err(SettingsError::Invalid(format!(
                "font_size must be {} to {}, not {}",
                FONT_SIZES.start(),
                FONT_SIZES.end(),
                self.font_size
            )));
        }
        if self.aws_profile.as_ref().is_some_and(|p| p.trim().is_empty()) {
            return Err(SettingsError::Invalid(
                "aws_profile must not be empty; leave it out for the default chain".into(),
            ));
        }
        if self.region.as_ref().is_some_and(|r| {
            r.is_empty() || !r.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) {
            return Err(SettingsError::Invalid("region must look like eu-west-1".into()));
        }
        if let Some(window) = self.window {
            let sides = 1..=MAX_WINDOW_SIDE;
            if !sides.contains(&window.width) || !sides.contains(&window.height) {
                return Err(SettingsError::Invalid(format!(
                    "window width and height must be 1 to {MAX_WINDOW_SIDE}, not {} by {}; \
                     delete the [window] table to start at the default size",
                    window.width, window.height
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_remembered_and_a_broken_file_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = SettingsStore::at(dir.path().join("settings.toml"));
        assert_eq!(store.load().unwrap(), Settings::default(), "no file: defaults");
        let chosen = Settings {
            aws_profile: Some("prod".into()),
            region: Some("eu-west-1".into()),
            demo: false,
            theme: Theme::Dark,
            font_size: 16,
            window: Some(WindowPlacement {
                x: -40,
                y: 30,
                width: 1100,
                height: 700,
                maximized: false,
            }),
            close_with_tunnels: CloseWithTunnels::KeepRunning,
        };
        store.save(&chosen).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("close_with_tunnels = \"keep-running\""), "{text}");
        assert_eq!(store.load().unwrap(), chosen);

        assert!(matches!(
            store.save(&Settings { font_size: 3, ..chosen.clone() }),
            Err(SettingsError::Invalid(_))
        ));
        let no_size = WindowPlacement { width: 0, ..chosen.window.unwrap() };
        let error = store.save(&Settings { window: Some(no_size), ..chosen.clone() }).unwrap_err();
        assert!(error.to_string().contains("delete the [window] table"), "{error}");
        std::fs::write(store.path(), "theme = \"purple\"\n").unwrap();
        let error = store.load().unwrap_err();
        assert!(matches!(error, SettingsError::Malformed { .. }), "{error}");
        assert!(store.save(&chosen).is_err(), "a file Airlock cannot read is not overwritten");
        assert_eq!(std::fs::read_to_string(store.path()).unwrap(), "theme = \"purple\"\n");
    }

    #[test]
    fn updates_in_parallel_keep_each_others_choices() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("settings.toml");
        // One writer changes only the font size, the other only the region, many times over:
        // each update reads the other's latest choice under the lock, so both survive.
        let sizes = {
            let store = SettingsStore::at(&path);
            std::thread::spawn(move || {
                (0..40).for_each(|n| _ = store.update(|s| s.font_size = 10 + n % 10).unwrap())
            })
        };
        let regions = {
            let store = SettingsStore::at(&path);
            std::thread::spawn(move || {
                (0..40).for_each(|n| {
                    _ = store.update(|s| s.region = Some(format!("eu-west-{n}"))).unwrap()
                })
            })
        };
        sizes.join().unwrap();
        regions.join().unwrap();
        let settings = SettingsStore::at(&path).load().unwrap();
        assert_eq!((settings.font_size, settings.region.as_deref()), (19, Some("eu-west-39")));
    }
}
