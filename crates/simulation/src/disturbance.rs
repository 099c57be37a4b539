//! Seeded randomness in a simulation: upgrades that take longer or shorter,
//! upgrades that fail, clusters that turn unhealthy for a while.
//!
//! Every option is off by default, and no random number is drawn for an option
//! that is off, so a run with all of them off is the plain deterministic
//! simulation whatever the seed. Draws happen in a fixed order (policies in
//! decision order, clusters in discovery order), so one seed gives one
//! timeline.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use srecap_sim::Simulator;

use crate::observed::Observed;

/// What may go wrong, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Disturbances {
    /// Each upgrade lasts the base duration times a factor drawn uniformly from
    /// `[1 - spread, 1 + spread]` (0: every upgrade lasts exactly the base).
    pub duration_spread: f64,
    /// Probability that an upgrade ends `failed`.
    pub failure_rate: f64,
    /// Expected times per cluster and day that a healthy cluster turns
    /// unhealthy (for 1 to 12 hours).
    pub unhealthy_rate: f64,
}

impl Disturbances {
    /// Why the values cannot be used, naming the option.
    pub fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.duration_spread) {
            return Err(format!(
                "duration spread {} must be at least 0 and below 1",
                self.duration_spread
            ));
        }
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return Err(format!(
                "failure rate {} must be between 0 and 1",
                self.failure_rate
            ));
        }
        if !(self.unhealthy_rate >= 0.0 && self.unhealthy_rate.is_finite()) {
            return Err(format!(
                "unhealthy rate {} must be a number of at least 0",
                self.unhealthy_rate
            ));
        }
        Ok(())
    }
}

/// Applies [`Disturbances`] to a running simulator.
#[derive(Debug)]
pub struct Chaos {
    settings: Disturbances,
    base_duration: SignedDuration,
    rng: StdRng,
    /// Cluster id -> when it turns healthy again.
    recoveries: BTreeMap<String, Timestamp>,
}

impl Chaos {
    pub fn new(settings: Disturbances, base_duration: SignedDuration, seed: u64) -> Chaos {
        Chaos {
            settings,
            base_duration,
            rng: StdRng::seed_from_u64(seed),
            recoveries: BTreeMap::new(),
        }
    }

    /// A policy was just created for `cluster_id`: draw its duration and fate.
    pub fn policy_created(&mut self, sim: &Simulator, cluster_id: &str) {
        if self.settings.duration_spread > 0.0 {
            let s = self.settings.duration_spread;
            let factor = self.rng.random_range(1.0 - s..=1.0 + s);
            let secs = (self.base_duration.as_secs_f64() * factor).round();
            let _ = sim.set_upgrade_duration(cluster_id, Some(SignedDuration::from_secs_f64(secs)));
        }
        if self.settings.failure_rate > 0.0 {
            let fail = self.rng.random_bool(self.settings.failure_rate);
            let _ = sim.set_cluster_condition(cluster_id, None, None, Some(fail));
        }
    }

    /// The clock is at `now` and will move by `tick`: heal the clusters whose
    /// trouble is over, make some healthy ones unhealthy.
    pub fn tick(
        &mut self,
        sim: &Simulator,
        fleet: &Observed,
        now: Timestamp,
        tick: SignedDuration,
    ) {
        let due: Vec<String> = self
            .recoveries
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in due {
            self.recoveries.remove(&id);
            let _ = sim.set_cluster_condition(&id, Some(true), None, None);
        }
        if self.settings.unhealthy_rate <= 0.0 {
            return;
        }
        let p = (self.settings.unhealthy_rate * tick.as_secs_f64() / 86_400.0).min(1.0);
        for c in &fleet.clusters {
            if self.recoveries.contains_key(&c.id) || !c.healthy {
                continue;
            }
            if self.rng.random_bool(p) {
                let hours = self.rng.random_range(1..=12);
                self.recoveries
                    .insert(c.id.clone(), now + SignedDuration::from_hours(hours));
                let _ = sim.set_cluster_condition(&c.id, Some(false), None, None);
            }
        }
    }
}
