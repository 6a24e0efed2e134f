//! The app's commands, one module per feature. Each command parses its arguments, calls
//! airlock-core, and maps the outcome for the UI; nothing here decides anything about AWS or
//! the protocol.

pub mod desktop;
pub mod files;
pub mod nodes;
pub mod place;
pub mod profiles;
pub mod rdp;
pub mod sessions;
pub mod shells;
pub mod tunnels;
