//! Choosing where to look (profile and region, or the demo fleet) and who that is.

use airlock_core::aws::Identity;
use airlock_core::aws_profiles::{credentials_configured, AwsProfile, ProfileFiles, REGIONS};
use airlock_core::place::{Choice, Place};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::UiError;
use crate::state::AppState;

#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Place")]
pub struct PlaceDto {
    demo: bool,
    profile: Option<String>,
    region: String,
}

#[derive(Debug, Serialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "Context")]
pub struct ContextDto {
    place: PlaceDto,
    profiles: Vec<AwsProfile>,
    regions: Vec<String>,
    credentials_configured: bool,
    notice: Option<String>,
}

#[derive(Debug, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(rename = "PlaceChoice")]
pub struct ChoiceDto {
    demo: bool,
    profile: Option<String>,
    region: Option<String>,
}

fn describe(
    state: &AppState,
    files: &ProfileFiles,
    notice: Option<String>,
) -> Result<ContextDto, UiError> {
    let place = state.place()?;
    let mut regions: Vec<String> = REGIONS.iter().map(|r| (*r).to_owned()).collect();
    for region in
        files.list().into_iter().filter_map(|p| p.region).chain([place.aws.region().to_owned()])
    {
        if !regions.contains(&region) {
            regions.push(region);
        }
    }
    Ok(ContextDto {
        place: PlaceDto {
            demo: place.is_demo(),
            profile: place.profile.clone(),
            region: place.aws.region().to_owned(),
        },
        profiles: files.list(),
        regions,
        credentials_configured: credentials_configured(files),
        notice,
    })
}

/// Where the app looks now. The first call opens the remembered place (or the demo fleet).
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn context(state: State<'_, AppState>) -> Result<ContextDto, UiError> {
    let files = ProfileFiles::load();
    let mut notice = None;
    if state.place().is_err() {
        let settings = match state.settings_store().and_then(|s| s.load().map_err(UiError::from)) {
            Ok(settings) => settings,
            Err(error) => {
                notice = Some(error.message);
                Default::default()
            }
        };
        let (opened, opened_notice) =
            Place::open_initial(&settings, || state.demo.endpoint(), &files, state.prompter())
                .await?;
        state.set_place(Arc::new(opened));
        notice = notice.or(opened_notice);
    }
    describe(&state, &files, notice)
}

/// Switches to another place, and remembers it.
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn choose_place(
    state: State<'_, AppState>,
    choice: ChoiceDto,
) -> Result<ContextDto, UiError> {
    let files = ProfileFiles::load();
    let choice = if choice.demo {
        Choice::Demo
    } else {
        Choice::Aws { profile: choice.profile, region: choice.region }
    };
    let (opened, notice) =
        Place::open(&choice, || state.demo.endpoint(), &files, state.prompter()).await?;
    if let Ok(store) = state.settings_store() {
        // Remembering is a convenience: a settings file that cannot be written does not stop
        // the switch, and the next switch tries again.
        let _ = store.update(|settings| opened.remember(settings));
    }
    state.set_place(Arc::new(opened));
    describe(&state, &files, notice)
}

/// The account and ARN of the current place's credentials.
#[tauri::command]
#[tracing::instrument(skip_all, err)]
pub async fn whoami(state: State<'_, AppState>) -> Result<Identity, UiError> {
    Ok(state.place()?.aws.whoami().await?)
}

/// "Check connection": every check of `airlock doctor` for the current place, and for
/// `target` (a node id) when one is given.
#[tauri::command]
#[tracing::instrument(skip(state), err)]
pub async fn doctor(
    state: State<'_, AppState>,
    target: Option<String>,
) -> Result<airlock_core::doctor::Report, UiError> {
    Ok(state.place()?.aws.doctor(target.as_deref()).await)
}

/// The window's channel for credential prompts (MFA codes, SSO logins).
#[tauri::command]
pub fn watch_prompts(
    state: State<'_, AppState>,
    channel: tauri::ipc::Channel<crate::prompts::PromptEvent>,
) {
    state.prompts.0.watch(channel);
}

/// The user's answer to a credential prompt; `null` cancels it.
#[tauri::command]
pub fn answer_prompt(
    state: State<'_, AppState>,
    id: u64,
    answer: Option<String>,
) -> Result<(), UiError> {
    if state.prompts.0.answer(id, answer) {
        Ok(())
    } else {
        Err(UiError::new("prompt-gone", "That question is no longer waiting for an answer (the operation that asked it has ended)."))
    }
}
