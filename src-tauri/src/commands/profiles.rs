//! Saved tunnel profiles: the same file as `airlock profile`, edited from the app.

use std::net::IpAddr;

use airlock_core::profiles::{Forward, Profile};
use serde::{Deserialize, Serialize};
use tauri::State;
use tauri_plugin_dialog::DialogExt;

use crate::error::UiError;
use crate::state::AppState;

#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "TunnelProfile")]
pub struct ProfileDto {
    name: String,
    aws_profile: Option<String>,
    region: Option<String>,
    target: String,
    remote_port: u16,
    remote_host: Option<String>,
    local_port: u16,
    bind: String,
    sessions: usize,
    auto_start: bool,
    keep_alive: bool,
    /// More forwards through the same node, started and stopped with the first.
    more_forwards: Vec<ForwardDto>,
}

/// One more forward of a tunnel group.
#[derive(Debug, Clone, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ProfileForward")]
pub struct ForwardDto {
    remote_port: u16,
    remote_host: Option<String>,
    local_port: u16,
}

impl From<Forward> for ForwardDto {
    fn from(f: Forward) -> Self {
        ForwardDto {
            remote_port: f.remote_port,
            remote_host: f.remote_host,
            local_port: f.local_port,
        }
    }
}

fn blank_to_none(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl From<ForwardDto> for Forward {
    fn from(f: ForwardDto) -> Self {
        Forward {
            remote_port: f.remote_port,
            remote_host: blank_to_none(f.remote_host),
            local_port: f.local_port,
        }
    }
}

impl From<Profile> for ProfileDto {
    fn from(p: Profile) -> Self {
        ProfileDto {
            name: p.name,
            aws_profile: p.aws_profile,
            region: p.region,
            target: p.target,
            remote_port: p.remote_port,
            remote_host: p.remote_host,
            local_port: p.local_port,
            bind: p.bind.to_string(),
            sessions: p.sessions,
            auto_start: p.auto_start,
            keep_alive: p.keep_alive,
            more_forwards: p.more_forwards.into_iter().map(ForwardDto::from).collect(),
        }
    }
}

impl TryFrom<ProfileDto> for Profile {
    type Error = UiError;

    fn try_from(p: ProfileDto) -> Result<Self, UiError> {
        let bind: IpAddr = p.bind.trim().parse().map_err(|_| {
            UiError::invalid(format!(
                "Bind address {:?} is not an IP address; use 127.0.0.1 for this machine only.",
                p.bind
            ))
        })?;
        Ok(Profile {
            name: p.name.trim().to_owned(),
            aws_profile: blank_to_none(p.aws_profile),
            region: blank_to_none(p.region),
            target: p.target.trim().to_owned(),
            remote_port: p.remote_port,
            remote_host: blank_to_none(p.remote_host),
            local_port: p.local_port,
            bind,
            sessions: p.sessions,
            auto_start: p.auto_start,
            keep_alive: p.keep_alive,
            more_forwards: p.more_forwards.into_iter().map(Forward::from).collect(),
        })
    }
}

#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub fn list_profiles(state: State<'_, AppState>) -> Result<Vec<ProfileDto>, UiError> {
    Ok(state.profiles()?.load()?.into_iter().map(ProfileDto::from).collect())
}

/// Adds a profile (`previous_name` null) or replaces one (which may rename it).
#[tauri::command]
#[tracing::instrument(skip(app, state), err)]
pub fn save_profile(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    previous_name: Option<String>,
    profile: ProfileDto,
) -> Result<(), UiError> {
    let profile = Profile::try_from(profile)?;
    let store = state.profiles()?;
    match previous_name {
        None => store.add(profile)?,
        Some(previous) => store.update(&previous, profile)?,
    }
    crate::tray::refresh(&app);
    Ok(())
}

#[tauri::command]
#[tracing::instrument(skip(app, state), err)]
pub fn delete_profile(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    name: String,
) -> Result<(), UiError> {
    state.profiles()?.remove(&name)?;
    crate::tray::refresh(&app);
    Ok(())
}

/// What an import of a file would add, for the window to show (and ask about) first.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "ImportPreview")]
pub struct ImportPreviewDto {
    path: String,
    profiles: Vec<ProfileDto>,
    /// What the user should agree to first: listeners other machines can reach, auto-start.
    concerns: Vec<String>,
}

/// Asks for a profiles file and reads what importing it would add; `None` when the user
/// cancels. Nothing is added until [`import_profiles`].
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn choose_profiles_import(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
) -> Result<Option<ImportPreviewDto>, UiError> {
    let picked = app
        .dialog()
        .file()
        .set_title("Import tunnel profiles")
        .add_filter("Airlock profiles", &["toml"])
        .blocking_pick_file();
    let Some(path) = picked.and_then(|p| p.into_path().ok()) else { return Ok(None) };
    let profiles = state.profiles()?.preview_import(&path)?;
    let concerns = profiles.iter().flat_map(Profile::import_concerns).collect();
    Ok(Some(ImportPreviewDto {
        path: path.display().to_string(),
        profiles: profiles.into_iter().map(ProfileDto::from).collect(),
        concerns,
    }))
}

/// Adds every profile of the file the user chose (and agreed to) in [`choose_profiles_import`].
#[tauri::command]
#[tracing::instrument(skip(app, state), err)]
pub fn import_profiles(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
    path: String,
) -> Result<usize, UiError> {
    let added = state.profiles()?.import(std::path::Path::new(&path))?;
    crate::tray::refresh(&app);
    Ok(added)
}

/// Asks where to save and writes every profile there; `None` when the user cancels.
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn export_profiles(
    app: tauri::AppHandle,
    state: State<'_, AppState>,
) -> Result<Option<usize>, UiError> {
    let picked = app
        .dialog()
        .file()
        .set_title("Export tunnel profiles")
        .set_file_name("airlock-profiles.toml")
        .add_filter("Airlock profiles", &["toml"])
        .blocking_save_file();
    let Some(path) = picked.and_then(|p| p.into_path().ok()) else { return Ok(None) };
    Ok(Some(state.profiles()?.export(&path)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_round_trips_and_blanks_become_none() {
        let dto = ProfileDto {
            name: " db ".into(),
            aws_profile: Some("".into()),
            region: Some("eu-west-1".into()),
            target: "i-0123456789abcdef0".into(),
            remote_port: 5432,
            remote_host: Some(" ".into()),
            local_port: 15432,
            bind: "127.0.0.1".into(),
            sessions: 2,
            auto_start: true,
            keep_alive: false,
            more_forwards: vec![ForwardDto {
                remote_port: 6379,
                remote_host: Some(" ".into()),
                local_port: 16379,
            }],
        };
        let profile = Profile::try_from(dto).unwrap();
        assert_eq!(
            profile.more_forwards,
            [Forward { remote_port: 6379, remote_host: None, local_port: 16379 }]
        );
        assert_eq!(
            (profile.name.as_str(), profile.aws_profile.as_deref(), profile.remote_host.as_deref()),
            ("db", None, None)
        );
        let back = ProfileDto::from(profile);
        assert_eq!(back.bind, "127.0.0.1");
        assert_eq!(back.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn a_bad_bind_address_is_refused_with_what_to_use() {
        let dto = ProfileDto {
            name: "x".into(),
            aws_profile: None,
            region: None,
            target: "i-1".into(),
            remote_port: 1,
            remote_host: None,
            local_port: 0,
            bind: "everywhere".into(),
            sessions: 1,
            auto_start: false,
            keep_alive: false,
            more_forwards: Vec::new(),
        };
        assert!(Profile::try_from(dto).unwrap_err().message.contains("127.0.0.1"));
    }
}
