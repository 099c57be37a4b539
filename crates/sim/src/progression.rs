//! The simulated clock and what happens as it moves (spec §5.5).
//!
//! The clock only moves forward, and only when told (`POST /_sim/clock`,
//! [`crate::Simulator::advance`]). Each move runs every upgrade policy through
//! its state machine up to the new instant, in the order the events would have
//! happened, so one big jump ends in the same state as many small steps:
//!
//! ```text
//! pending ──► scheduled ──(next_run, healthy)──► started ──(upgrade_duration)──► completed
//!                  └──(next_run, unhealthy)──► delayed ──(healthy again)──┘          (failed when injected)
//! ```
//!
//! * An upgrade starts at `next_run` (not at the instant the clock was told), so
//!   its completion time does not depend on how the clock was stepped. A delayed
//!   upgrade starts at the first clock move that finds the cluster healthy.
//! * On completion the cluster (or node pool) runs the target version; channel
//!   and channel group stay. Derived `available_upgrades` follow from the release
//!   catalog; an explicit list keeps its entries newer than the new version.
//! * Manual policies disappear once terminal, after
//!   [`SimConfig::terminal_policy_retention`] (default: at once), because OCM
//!   removes finished manual policies and AUS reads any listed policy as "upgrade
//!   in progress".
//! * `automatic` policies never finish: after each run they return to
//!   `scheduled` with `next_run` at the next cron occurrence. At each occurrence
//!   they upgrade to the newest available z-stream (any minor with
//!   `enable_minor_version_upgrades`), or skip to the next occurrence when there
//!   is none.
//! * Release publication needs no event: derived upgrades are computed from the
//!   catalog at the current simulated instant whenever they are served.

use jiff::{SignedDuration, Timestamp};
use semver::Version;
use srecap_fleet::{PolicyState, ScheduleType};

use crate::config::SimConfig;
use crate::world::{PolicyEvent, PolicyScope, World, next_cron};

/// Why the clock could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClockError {
    /// The simulated clock never goes back: progression already happened.
    #[error("the simulated clock cannot go back from {now} to {requested}")]
    Backwards {
        now: Timestamp,
        requested: Timestamp,
    },
    /// The requested instant is outside what timestamps can represent.
    #[error("cannot advance the simulated clock by {0}: out of range")]
    OutOfRange(SignedDuration),
}

/// Upper bound of state-machine steps per policy and clock move; a guard
/// against a pathological cron schedule, never reached by real schedules.
const MAX_STEPS: usize = 100_000;

impl World {
    /// Move the simulated clock to `t` and run progression up to it.
    pub fn advance_to(&mut self, t: Timestamp, config: &SimConfig) -> Result<(), ClockError> {
        if t < self.now {
            return Err(ClockError::Backwards {
                now: self.now,
                requested: t,
            });
        }
        self.now = t;
        self.progress(config);
        Ok(())
    }

    /// Run every policy's state machine up to `self.now`.
    pub fn progress(&mut self, config: &SimConfig) {
        let now = self.now;
        for index in 0..self.policies.len() {
            for _ in 0..MAX_STEPS {
                if !self.step(index, config) {
                    break;
                }
            }
        }
        self.addons.progress(now);
        let retention = config.terminal_policy_retention;
        self.policies.retain(|p| {
            p.policy.schedule_type == ScheduleType::Automatic
                || !p.is_terminal()
                || p.finished_at.is_none_or(|f| f + retention > now)
        });
    }

    /// Take one transition of policy `index` if one is due; false when none is.
    fn step(&mut self, index: usize, config: &SimConfig) -> bool {
        let now = self.now;
        let p = &self.policies[index];
        let healthy = self.cluster(&p.cluster_id).is_ok_and(|c| c.cluster.healthy);
        let fail = self.cluster(&p.cluster_id).is_ok_and(|c| c.fail_upgrades);
        match p.policy.state {
            PolicyState::Pending => {
                self.policies[index].policy.state = PolicyState::Scheduled;
                true
            }
            PolicyState::Scheduled => {
                let Some(next_run) = p.policy.next_run else {
                    return false;
                };
                if next_run > now {
                    return false;
                }
                if p.policy.schedule_type == ScheduleType::Automatic {
                    return self.fire_automatic(index, next_run, healthy);
                }
                let rec = &mut self.policies[index];
                if healthy {
                    rec.policy.state = PolicyState::Started;
                    rec.started_at = Some(next_run);
                } else {
                    rec.policy.state = PolicyState::Delayed;
                }
                rec.updated_at = next_run;
                self.record(index, next_run);
                true
            }
            PolicyState::Delayed => {
                if !healthy {
                    return false;
                }
                let rec = &mut self.policies[index];
                rec.policy.state = PolicyState::Started;
                rec.started_at = Some(now);
                rec.updated_at = now;
                self.record(index, now);
                true
            }
            PolicyState::Started => {
                let started = p.started_at.unwrap_or(now);
                let duration = self
                    .cluster(&p.cluster_id)
                    .ok()
                    .and_then(|c| c.upgrade_duration)
                    .unwrap_or(config.upgrade_duration);
                let done_at = started + duration;
                if done_at > now {
                    return false;
                }
                self.finish(index, done_at, fail);
                true
            }
            PolicyState::Completed
            | PolicyState::Failed
            | PolicyState::Cancelled
            | PolicyState::Other(_) => false,
        }
    }

    /// An automatic policy reached `next_run`: pick a target or skip ahead.
    fn fire_automatic(&mut self, index: usize, at: Timestamp, healthy: bool) -> bool {
        let p = &self.policies[index];
        let target = self.automatic_target(index);
        let schedule = p.policy.schedule.clone().unwrap_or_default();
        let rec = &mut self.policies[index];
        match target {
            Some(version) if healthy => {
                rec.policy.version = Some(version);
                rec.policy.state = PolicyState::Started;
                rec.started_at = Some(at);
                rec.updated_at = at;
            }
            _ => {
                // Nothing to do at this occurrence: wait for the next one after
                // the current instant (missed occurrences do not pile up).
                rec.policy.next_run = next_cron(&schedule, self.now.max(at));
                rec.updated_at = at;
            }
        }
        true
    }

    /// Newest version an automatic policy would upgrade to now.
    fn automatic_target(&self, index: usize) -> Option<Version> {
        let p = &self.policies[index];
        let rec = self.cluster(&p.cluster_id).ok()?;
        let current = rec.cluster.version.clone();
        let candidates = match &p.scope {
            PolicyScope::NodePool(np) => {
                let pool = rec.cluster.node_pools.iter().find(|n| &n.id == np)?;
                self.node_pool_upgrades(rec, &pool.version)
            }
            _ => self.available_upgrades(rec),
        };
        candidates
            .into_iter()
            .filter(|v| p.enable_minor_version_upgrades || v.minor == current.minor)
            .max()
    }

    /// An upgrade finished at `at`.
    fn finish(&mut self, index: usize, at: Timestamp, fail: bool) {
        let (cluster_id, scope, version, automatic, schedule) = {
            let p = &self.policies[index];
            (
                p.cluster_id.clone(),
                p.scope.clone(),
                p.policy.version.clone(),
                p.policy.schedule_type == ScheduleType::Automatic,
                p.policy.schedule.clone(),
            )
        };
        if !fail && let Some(version) = &version {
            match &scope {
                PolicyScope::Classic | PolicyScope::ControlPlane => {
                    self.set_cluster_version(&cluster_id, version);
                }
                PolicyScope::NodePool(np) => {
                    if let Ok(rec) = self.cluster_mut(&cluster_id)
                        && let Some(pool) = rec.cluster.node_pools.iter_mut().find(|p| &p.id == np)
                    {
                        pool.version = version.clone();
                    }
                }
            }
        }
        let rec = &mut self.policies[index];
        rec.updated_at = at;
        if automatic {
            rec.policy.state = PolicyState::Scheduled;
            rec.started_at = None;
            rec.policy.next_run = schedule.as_deref().and_then(|s| next_cron(s, at));
        } else {
            rec.policy.state = if fail {
                PolicyState::Failed
            } else {
                PolicyState::Completed
            };
            rec.finished_at = Some(at);
            self.record(index, at);
        }
    }

    /// Journal the state policy `index` just took, when events are recorded.
    fn record(&mut self, index: usize, at: Timestamp) {
        if !self.record_events {
            return;
        }
        let p = &self.policies[index];
        let event = PolicyEvent {
            at,
            cluster_id: p.cluster_id.clone(),
            policy_id: p.policy.id.clone(),
            state: p.policy.state.clone(),
            version: p.policy.version.clone(),
        };
        self.events.push(event);
    }
}
