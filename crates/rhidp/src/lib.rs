//! The Red Hat identity-provider capability core (work in progress).

pub mod client;
pub mod labels;
pub mod record;
pub mod settings;
