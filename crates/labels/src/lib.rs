//! The SRE-capability label framework.
//!
//! SRE capabilities are switched on and configured by OCM labels named
//! `sre-capabilities.<capability>.<setting>`. A capability declares its label set
//! **once**, as data ([`LabelSetDecl`]): each setting's key, value type, whether it is
//! mandatory, and a one-line summary. That single declaration drives
//!
//! * parsing and validation of a label map ([`LabelSetDecl::parse`]), with one
//!   message per failing label, always of the form `label <full key>: <reason>`;
//! * validation of a single value before the CLI writes it
//!   ([`LabelSetDecl::validate`]), so the CLI can never write what the reconciler
//!   rejects;
//! * generated documentation ([`LabelSetDecl::markdown_table`]).
//!
//! Design decisions:
//! * Values are validated strictly when read, not when used: a bad regex, a cron
//!   expression that never fires or a bad parallelism limit is a label error at once
//!   (the reference found some of these only mid-decision and aborted the whole
//!   organization; see the AUS spec §18 G8).
//! * CSV values are trimmed and empty items are rejected (§18 G18): `"a, b"` is
//!   `[a, b]`, and `","` is an error rather than two empty names.
//! * Whole numbers are plain ASCII digits with optional surrounding whitespace; the
//!   reference's exotic forms (`+1`, `1_0`, `2.0`) are rejected with the normal error.

mod capability;
mod cron;
mod decl;
mod value;

pub use capability::{CapabilityDecl, LabelScope};
pub use cron::{CronError, CronSchedule};
pub use decl::{LabelDecl, LabelError, LabelKind, LabelParser, LabelSetDecl, ParsedLabels};
pub use value::{LabelValue, ParallelLimit, PatternTooCostly, VersionPattern};

/// Prefix shared by every SRE-capability label.
pub const PREFIX: &str = "sre-capabilities.";
