//! The integration tests of `srecap-rhidp`, one binary: the worked examples and
//! transition table of the spec ([`examples`]), generated worlds ([`properties`]),
//! and the in-memory world both use ([`world`]).

mod examples;
mod properties;
mod world;
