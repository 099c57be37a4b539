//! AUS soak history ("version data") as AUS stores it, per organization.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// The soak history of one organization (spec R62).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionData {
    /// Instant of the last update; absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_in: Option<Timestamp>,
    /// Version string -> per-workload history. Versions are never removed.
    #[serde(default)]
    pub versions: BTreeMap<String, VersionHistory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// History of one version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionHistory {
    #[serde(default)]
    pub workloads: BTreeMap<String, WorkloadHistory>,
}

/// Soak days of one version for one workload.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkloadHistory {
    /// Accumulated cluster-days (R66).
    #[serde(default)]
    pub soak_days: f64,
    /// Names of the clusters that reported this version and workload.
    #[serde(default)]
    pub reporting: Vec<String>,
}

/// Lowest versions of the organization's clusters (R69).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    pub min_version: String,
    #[serde(default)]
    pub min_version_per_workload: BTreeMap<String, String>,
}
