//! The TypeScript side of every record that crosses the IPC boundary, generated from the Rust
//! types (ts-rs) together with the engine's limits the UI checks against, into
//! `ui/src/backend/generated.ts`. A test fails when that file is not what the types say; run
//! `AIRLOCK_WRITE_BINDINGS=1 cargo test --workspace -- bindings` to write it again.

use ts_rs::{Config, TS};

/// Where the generated file lives, from the workspace root.
pub const PATH: &str = "ui/src/backend/generated.ts";

/// The whole generated file.
pub fn typescript() -> String {
    use airlock_core as core;
    let cfg = Config::new().with_large_int("number");
    let declarations = [
        core::aws_profiles::ProfileKind::decl(&cfg),
        core::aws_profiles::AwsProfile::decl(&cfg),
        core::aws::Identity::decl(&cfg),
        core::doctor::Verdict::decl(&cfg),
        core::doctor::Check::decl(&cfg),
        core::doctor::Report::decl(&cfg),
        core::documents::SessionDocument::decl(&cfg),
        core::documents::DocumentParameter::decl(&cfg),
        core::documents::DocumentDetails::decl(&cfg),
        core::settings::Theme::decl(&cfg),
        core::credentials::Prompt::decl(&cfg),
        core::session::TunnelFigures::decl(&cfg),
        core::group::ForwardFigures::decl(&cfg),
        core::terminal::Stage::decl(&cfg),
        crate::error::UiError::decl(&cfg),
        crate::commands::place::PlaceDto::decl(&cfg),
        crate::commands::place::ContextDto::decl(&cfg),
        crate::commands::place::ChoiceDto::decl(&cfg),
        crate::commands::nodes::NodeDto::decl(&cfg),
        crate::commands::nodes::NodeListingDto::decl(&cfg),
        crate::commands::shells::ShellRequestDto::decl(&cfg),
        crate::commands::shells::SizeDto::decl(&cfg),
        crate::commands::shells::StateDto::decl(&cfg),
        crate::commands::sessions::SessionRow::decl(&cfg),
        crate::commands::tunnels::TunnelKind::decl(&cfg),
        crate::commands::tunnels::TunnelRequestDto::decl(&cfg),
        crate::commands::tunnels::TunnelStarted::decl(&cfg),
        crate::commands::tunnels::TunnelMessage::decl(&cfg),
        crate::commands::files::CopyDirection::decl(&cfg),
        crate::commands::files::CopyRequestDto::decl(&cfg),
        crate::commands::files::CopyMessage::decl(&cfg),
        crate::commands::rdp::RdpLaunched::decl(&cfg),
        crate::commands::profiles::ForwardDto::decl(&cfg),
        crate::commands::profiles::ProfileDto::decl(&cfg),
        crate::commands::profiles::ImportPreviewDto::decl(&cfg),
        crate::commands::desktop::SettingsDto::decl(&cfg),
        crate::prompts::PromptEvent::decl(&cfg),
        crate::state::DesktopEvent::decl(&cfg),
    ];
    let mut out = String::from(
        "// Generated from the Rust types by src-tauri/src/bindings.rs; do not edit by hand.\n\
         // AIRLOCK_WRITE_BINDINGS=1 cargo test --workspace -- bindings writes it again.\n\n",
    );
    for declaration in declarations {
        out.push_str("export ");
        out.push_str(&declaration);
        out.push_str("\n\n");
    }
    let settings = core::settings::Settings::default();
    out.push_str(&format!(
        "/** The engine's limits, which the UI checks before it asks. */\n\
         export const LIMITS = {{\n  \
           /** Sessions in one tunnel's pool. */\n  maxPool: {},\n  \
           /** Connections one tunnel session carries at once. */\n  maxConnections: {},\n  \
           /** Forwards in one saved profile (a tunnel group). */\n  maxForwards: {},\n  \
           fontMin: {},\n  fontMax: {},\n  fontDefault: {},\n\
         }} as const;\n",
        core::session::MAX_POOL,
        core::tunnel::MAX_CONNECTIONS,
        core::profiles::MAX_FORWARDS,
        core::settings::FONT_SIZES.start(),
        core::settings::FONT_SIZES.end(),
        settings.font_size,
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn bindings_the_checked_in_typescript_types_are_what_the_rust_types_say() {
        // Where cargo runs the test from, not where the binary was built: a shared target
        // directory may hold a build from another checkout.
        let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
        let path = crate_dir.join("..").join(super::PATH);
        let generated = super::typescript();
        if std::env::var_os("AIRLOCK_WRITE_BINDINGS").is_some() {
            std::fs::write(&path, &generated).expect("write the bindings");
            return;
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{} is not what the Rust types say; run `AIRLOCK_WRITE_BINDINGS=1 cargo test \
             --workspace -- bindings` and commit it",
            super::PATH
        );
    }
}
