//! Where a front end looks: a profile and region of real AWS, or the demo fleet; and the rules
//! that choose one, the same for the CLI and the app: the first place of a new user, what is
//! shown when a remembered place is gone, and where a saved tunnel runs.

use std::future::Future;
use std::sync::Arc;

use crate::aws::{Aws, AwsError, DirectEndpoint};
use crate::aws_profiles::{credentials_configured, ProfileFiles};
use crate::credentials::Prompter;
use crate::profiles::Profile;
use crate::sentence::sentence;
use crate::settings::Settings;

/// The region shown when neither the choice nor the profile names one.
pub const FALLBACK_REGION: &str = "us-east-1";

/// A place as the user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// The demo fleet (an emulator started by the app).
    Demo,
    /// Real AWS. `None` is the default credential chain, or the profile's own region.
    Aws {
        /// The AWS profile from `~/.aws/config`.
        profile: Option<String>,
        /// The region.
        region: Option<String>,
    },
}

impl Choice {
    /// The place to start with: the remembered one, or the demo fleet when no credentials are
    /// configured anywhere (a new user sees every feature at once).
    pub fn initial(settings: &Settings, files: &ProfileFiles) -> Choice {
        if settings.demo || !credentials_configured(files) {
            Choice::Demo
        } else {
            Choice::Aws { profile: settings.aws_profile.clone(), region: settings.region.clone() }
        }
    }

    /// Where the saved tunnel `saved` runs when it is started from `self`: in the AWS profile
    /// and region the user names for this run (`named`: the CLI's `--profile` and `--region`),
    /// else in those the tunnel was saved with, else here. A region alone does not take a
    /// tunnel out of the demo fleet; a tunnel moved to another AWS profile takes that
    /// profile's own region unless one is named or saved.
    pub fn for_saved(&self, saved: &Profile, named: (Option<&str>, Option<&str>)) -> Choice {
        let profile = named.0.map(str::to_owned).or_else(|| saved.aws_profile.clone());
        let region = named.1.map(str::to_owned).or_else(|| saved.region.clone());
        match self {
            Choice::Demo if profile.is_none() => Choice::Demo,
            Choice::Demo => Choice::Aws { profile, region },
            Choice::Aws { profile: here_profile, region: here_region } => match profile {
                Some(profile) if Some(&profile) != here_profile.as_ref() => {
                    Choice::Aws { profile: Some(profile), region }
                }
                _ => Choice::Aws {
                    profile: here_profile.clone(),
                    region: region.or_else(|| here_region.clone()),
                },
            },
        }
    }
}

/// An open place: its clients, and how it was chosen.
#[derive(Debug, Clone)]
pub struct Place {
    /// The clients; shells and tunnels keep the ones they were started with.
    pub aws: Aws,
    /// What the user chose (before fallbacks).
    pub choice: Choice,
    /// The AWS profile in use, for showing: the chosen one, or the one the default chain
    /// picked (`AWS_PROFILE`, `default`); `None` on the demo fleet or with environment keys.
    pub profile: Option<String>,
}

impl Place {
    /// Whether this is the demo fleet.
    pub fn is_demo(&self) -> bool {
        self.choice == Choice::Demo
    }

    /// Opens `choice` for a front end that must show something: a remembered AWS profile that
    /// is gone falls back to the default credential chain, and a missing region to
    /// [`FALLBACK_REGION`]; the notice says so. `demo` starts (or finds) the demo fleet's far
    /// side, and is called only for [`Choice::Demo`].
    pub async fn open<F>(
        choice: &Choice,
        demo: impl Fn() -> F,
        files: &ProfileFiles,
        prompter: Arc<dyn Prompter>,
    ) -> Result<(Place, Option<String>), PlaceError>
    where
        F: Future<Output = Result<DirectEndpoint, DemoError>>,
    {
        let (profile, region) = match choice {
            Choice::Demo => {
                let far_side = demo().await.map_err(PlaceError::Demo)?;
                let aws = Aws::direct(&far_side)?;
                return Ok((Place { aws, choice: Choice::Demo, profile: None }, None));
            }
            Choice::Aws { profile, region } => (profile, region),
        };
        let mut notice = None;
        let profile = match profile {
            Some(name) if files.get(name).is_none() => {
                notice = Some(format!(
                    "The AWS profile {name} is no longer in ~/.aws/config; using the default \
                     credential chain."
                ));
                None
            }
            other => other.clone(),
        };
        let aws = match Aws::load(profile.as_deref(), region.as_deref(), prompter.clone()).await {
            Ok(aws) => aws,
            Err(AwsError::NoRegion) => {
                notice = Some(format!(
                    "No region is set for this profile; showing {FALLBACK_REGION}. Choose \
                     another region."
                ));
                Aws::load(profile.as_deref(), Some(FALLBACK_REGION), prompter).await?
            }
            Err(other) => return Err(other.into()),
        };
        let profile = profile.or_else(|| aws.profile().map(str::to_owned));
        Ok((Place { aws, choice: choice.clone(), profile }, notice))
    }

    /// Opens the place to start with ([`Choice::initial`]). When the remembered place cannot
    /// be opened (say its region is gone), the demo fleet, which always can be; the notice
    /// says why it is shown.
    pub async fn open_initial<F>(
        settings: &Settings,
        demo: impl Fn() -> F,
        files: &ProfileFiles,
        prompter: Arc<dyn Prompter>,
    ) -> Result<(Place, Option<String>), PlaceError>
    where
        F: Future<Output = Result<DirectEndpoint, DemoError>>,
    {
        let choice = Choice::initial(settings, files);
        match Place::open(&choice, &demo, files, prompter.clone()).await {
            Err(error) if choice != Choice::Demo => {
                let (place, _) = Place::open(&Choice::Demo, &demo, files, prompter).await?;
                Ok((place, Some(format!("{} Showing the demo fleet instead.", sentence(&error)))))
            }
            opened => opened,
        }
    }

    /// Writes this place into `settings` as the one to open next time.
    pub fn remember(&self, settings: &mut Settings) {
        settings.demo = self.is_demo();
        if !self.is_demo() {
            settings.aws_profile = self.profile.clone();
            settings.region = Some(self.aws.region().to_owned());
        }
    }
}

/// Why the demo fleet's far side did not start (the front end's own error).
pub type DemoError = Box<dyn std::error::Error + Send + Sync>;

/// Why a place could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    /// The demo fleet did not start.
    #[error("the demo fleet could not start: {0}")]
    Demo(#[source] DemoError),
    /// Building the clients failed.
    #[error(transparent)]
    Aws(#[from] AwsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(aws_profile: Option<&str>, region: Option<&str>) -> Profile {
        Profile {
            name: "db".into(),
            aws_profile: aws_profile.map(str::to_owned),
            region: region.map(str::to_owned),
            target: "web-1".into(),
            remote_port: 5432,
            remote_host: None,
            local_port: 0,
            bind: [127, 0, 0, 1].into(),
            sessions: 1,
            auto_start: false,
            keep_alive: false,
            more_forwards: Vec::new(),
        }
    }

    fn aws(profile: Option<&str>, region: Option<&str>) -> Choice {
        Choice::Aws { profile: profile.map(str::to_owned), region: region.map(str::to_owned) }
    }

    #[test]
    fn a_saved_tunnel_runs_where_it_was_saved_and_takes_the_rest_from_here() {
        let here = aws(Some("dev"), Some("eu-west-1"));
        assert_eq!(here.for_saved(&saved(None, None), (None, None)), here, "nothing saved");
        assert_eq!(
            here.for_saved(&saved(None, Some("us-east-2")), (None, None)),
            aws(Some("dev"), Some("us-east-2")),
            "a saved region in the current profile"
        );
        assert_eq!(
            here.for_saved(&saved(Some("prod"), None), (None, None)),
            aws(Some("prod"), None),
            "another profile brings its own region, not this one's"
        );
        assert_eq!(
            here.for_saved(&saved(Some("dev"), None), (None, None)),
            here,
            "the same profile keeps the region here"
        );
    }

    #[test]
    fn what_the_user_names_for_a_run_wins_over_what_was_saved() {
        let ambient = aws(None, None);
        let tunnel = saved(Some("prod"), Some("us-east-2"));
        assert_eq!(ambient.for_saved(&tunnel, (None, None)), aws(Some("prod"), Some("us-east-2")));
        assert_eq!(
            ambient.for_saved(&tunnel, (Some("stage"), None)),
            aws(Some("stage"), Some("us-east-2"))
        );
        assert_eq!(
            ambient.for_saved(&tunnel, (None, Some("ap-south-1"))),
            aws(Some("prod"), Some("ap-south-1"))
        );
    }

    #[test]
    fn only_a_saved_profile_takes_a_tunnel_out_of_the_demo_fleet() {
        assert_eq!(
            Choice::Demo.for_saved(&saved(None, Some("us-east-2")), (None, None)),
            Choice::Demo
        );
        assert_eq!(
            Choice::Demo.for_saved(&saved(Some("prod"), None), (None, None)),
            aws(Some("prod"), None)
        );
    }
}
