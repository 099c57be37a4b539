//! The integration tests of `srecap-rhidp`, one binary: the worked examples and
//! transition table of the spec ([`examples`]), a checked-in dry-run plan
//! ([`golden`]), generated worlds ([`properties`]),
//! and the in-memory world both use ([`world`]).

mod examples;
mod golden;
mod properties;
mod world;
