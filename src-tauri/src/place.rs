//! Where the app looks: real AWS through a profile and region, or the demo fleet, an emulator
//! started inside the app (once, on first use) with real local shells and real local ports.
//! Choosing a place builds the AWS clients; open shells and tunnels keep the clients they were
//! started with.

use std::sync::Arc;

use airlock_core::aws::{Aws, DirectEndpoint};
use airlock_core::credentials::Prompter;
use airlock_core::aws_profiles::{credentials_configured, ProfileFiles};
use airlock_core::settings::Settings;
use ssm_emulator::{Emulator, EmulatorConfig, RunningEmulator};
use tokio::sync::OnceCell;

use crate::error::UiError;

/// The region used when neither the choice nor the profile names one.
const FALLBACK_REGION: &str = "us-east-1";

/// A chosen place and its clients.
#[derive(Debug, Clone)]
pub struct Place {
    pub aws: Aws,
    pub demo: bool,
    pub profile: Option<String>,
}

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    Demo,
    Aws { profile: Option<String>, region: Option<String> },
}

impl Choice {
    /// The choice to start with: the remembered one, or the demo fleet when no credentials
    /// are configured anywhere (a new user sees every feature at once).
    pub fn initial(settings: &Settings, files: &ProfileFiles) -> Choice {
        if settings.demo || !credentials_configured(files) {
            Choice::Demo
        } else {
            Choice::Aws { profile: settings.aws_profile.clone(), region: settings.region.clone() }
        }
    }
}

/// The demo fleet's emulator, started on first use and kept for the app's life.
#[derive(Debug, Default)]
pub struct Demo {
    emulator: OnceCell<RunningEmulator>,
}

impl Demo {
    async fn running(&self) -> Result<&RunningEmulator, UiError> {
        self.emulator
            .get_or_try_init(|| async {
                Emulator::start(EmulatorConfig::default())
                    .await
                    .map_err(|e| UiError::new("demo", format!("The demo fleet could not start: {e}")))
            })
            .await
    }
}

/// Builds the clients for `choice`. A remembered profile that no longer exists falls back to
/// the default chain, and a missing region to us-east-1; `notice` says so.
pub async fn open(choice: &Choice, demo: &Demo, files: &ProfileFiles, prompter: Arc<dyn Prompter>) -> Result<(Arc<Place>, Option<String>), UiError> {
    match choice {
        Choice::Demo => {
            let emulator = demo.running().await?;
            let key = emulator.credentials();
            let far_side = DirectEndpoint::new(emulator.endpoint_url(), emulator.region(), (&key.access_key_id, &key.secret_access_key), emulator.ca_pem());
            let aws = Aws::direct(&far_side)?;
            Ok((Arc::new(Place { aws, demo: true, profile: None }), None))
        }
        Choice::Aws { profile, region } => {
            let mut notice = None;
            let profile = match profile {
                Some(name) if files.get(name).is_none() => {
                    notice = Some(format!("The AWS profile {name} is no longer in ~/.aws/config; using the default credential chain."));
                    None
                }
                other => other.clone(),
            };
            let aws = match Aws::load(profile.as_deref(), region.as_deref(), prompter.clone()).await {
                Ok(aws) => aws,
                Err(airlock_core::aws::AwsError::NoRegion) => {
                    notice = Some(format!("No region is set for this profile; showing {FALLBACK_REGION}. Choose another above."));
                    Aws::load(profile.as_deref(), Some(FALLBACK_REGION), prompter).await?
                }
                Err(other) => return Err(other.into()),
            };
            // With no profile chosen, AWS_PROFILE or the default profile may still be in use:
            // show that one.
            let profile = profile.or_else(|| aws.profile().map(str::to_owned));
            Ok((Arc::new(Place { aws, demo: false, profile }), notice))
        }
    }
}
