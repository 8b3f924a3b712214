//! When to restart the VM: a pure state machine fed with observations and
//! the time they were made (the caller's clock, so tests drive time).
//!
//! - A VM that is not running is restarted at once (no grace: nothing is
//!   booting), unless it is within the grace of a restart of ours.
//! - Any other problem (detached, tap down, unhealthy) must last `grace`
//!   before a restart. The grace runs from the VM's own start when that is
//!   known and the trouble began while it was booting, else from the first
//!   problem seen; a restart re-arms it so a booting VM is not hit again.
//! - Consecutive restarts are spaced by an exponential backoff from
//!   `backoff_initial` up to `backoff_max`; it falls back to the initial
//!   value once the VM has stayed healthy for `reset_after`.
//! - At most `max_per_hour` restarts in any rolling hour; then the policy
//!   holds (reports, does nothing) until the oldest leaves the window.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use crate::health::HealthFailure;

const HOUR: Duration = Duration::from_secs(3600);

/// Tunables of [`RestartPolicy`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyConfig {
    pub grace: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub max_per_hour: u32,
    pub reset_after: Duration,
}

impl Default for PolicyConfig {
    /// The ZTPServer appliance boots in well under two minutes.
    fn default() -> Self {
        PolicyConfig {
            grace: Duration::from_secs(120),
            backoff_initial: Duration::from_secs(60),
            backoff_max: Duration::from_secs(15 * 60),
            max_per_hour: 4,
            reset_after: Duration::from_secs(15 * 60),
        }
    }
}

/// What is wrong with the VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// No tap of the VM exists on the host: the VM is not running.
    NotRunning,
    /// The VM's tap is on the host but not on the bridge, and could not be
    /// put back (another controller holds it, or netlink refused).
    Detached,
    /// The VM's tap is on the bridge but not up.
    TapDown { port: String },
    /// Attached, but `/bootstrap` does not answer 200.
    Unhealthy(HealthFailure),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotRunning => f.write_str("not running (no tap of the VM on the host)"),
            Problem::Detached => f.write_str("not attached to the bridge"),
            Problem::TapDown { port } => write!(f, "tap {port} on the bridge is down"),
            Problem::Unhealthy(why) => write!(f, "ZTPServer unhealthy: {why}"),
        }
    }
}

/// The policy's verdict on one observation. The agent turns each into an
/// event (and logs a repeated verdict only when it changes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Attached and healthy; nothing to do.
    Steady,
    /// Attached and healthy again after `problem_lasted` of trouble.
    Recovered { problem_lasted: Duration },
    /// A problem still within its grace period.
    Grace {
        problem: Problem,
        remaining: Duration,
    },
    /// Restart now. `restarts_this_hour` includes this one; the next restart
    /// cannot come sooner than `next_backoff`.
    Restart {
        problem: Problem,
        restarts_this_hour: u32,
        next_backoff: Duration,
    },
    /// A restart is due but the previous one was too recent.
    BackingOff {
        problem: Problem,
        remaining: Duration,
    },
    /// The hourly budget is spent; no restart for `remaining`.
    Holding {
        problem: Problem,
        restarts_this_hour: u32,
        remaining: Duration,
    },
}

/// The restart state machine. See the module documentation.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    config: PolicyConfig,
    /// First problem seen since the VM was last healthy (for `Recovered`).
    trouble_since: Option<Instant>,
    /// Start of the current grace period (re-armed by each restart).
    grace_from: Option<Instant>,
    healthy_since: Option<Instant>,
    /// Restarts of the last hour, oldest first.
    restarts: VecDeque<Instant>,
    last_restart: Option<Instant>,
    /// Spacing required after `last_restart`.
    required_spacing: Duration,
    /// Restarts since the backoff was last reset.
    streak: u32,
}

impl RestartPolicy {
    pub fn new(mut config: PolicyConfig) -> Self {
        config.backoff_initial = config.backoff_initial.min(config.backoff_max);
        RestartPolicy {
            required_spacing: config.backoff_initial,
            config,
            trouble_since: None,
            grace_from: None,
            healthy_since: None,
            restarts: VecDeque::new(),
            last_restart: None,
            streak: 0,
        }
    }

    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Restarts counted in the hour before `now`.
    pub fn restarts_in_last_hour(&self, now: Instant) -> u32 {
        let n = self
            .restarts
            .iter()
            .filter(|&&t| now.saturating_duration_since(t) < HOUR)
            .count();
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// Feeds one observation: `None` when the VM is attached and healthy.
    /// A `Restart` verdict is recorded as done; the caller must attempt it.
    pub fn observe(&mut self, now: Instant, problem: Option<Problem>) -> Decision {
        self.observe_vm(now, problem, None)
    }

    /// As [`RestartPolicy::observe`], knowing when the VM itself started
    /// (its QEMU process), so that a VM found booting gets the rest of its
    /// grace rather than a fresh one, and no more.
    pub fn observe_vm(
        &mut self,
        now: Instant,
        problem: Option<Problem>,
        vm_started: Option<Instant>,
    ) -> Decision {
        match problem {
            None => self.observe_healthy(now),
            Some(problem) => self.observe_problem(now, problem, vm_started),
        }
    }

    /// Where the current grace runs from, if one applies at all.
    fn grace_start(
        &mut self,
        now: Instant,
        problem: &Problem,
        vm_started: Option<Instant>,
    ) -> Option<Instant> {
        let base = *self.grace_from.get_or_insert(now);
        if *problem == Problem::NotRunning {
            // Only our own restart is worth waiting for: the VM it starts
            // needs a moment to create its tap.
            return self.last_restart.filter(|&r| r >= base);
        }
        match vm_started {
            // Trouble that began while the VM was booting is its boot.
            Some(started) if base < started + self.config.grace => Some(started),
            _ => Some(base),
        }
    }

    fn observe_healthy(&mut self, now: Instant) -> Decision {
        self.grace_from = None;
        let healthy_since = *self.healthy_since.get_or_insert(now);
        if self.streak > 0
            && now.saturating_duration_since(healthy_since) >= self.config.reset_after
        {
            self.streak = 0;
            self.required_spacing = self.config.backoff_initial;
        }
        match self.trouble_since.take() {
            Some(since) => Decision::Recovered {
                problem_lasted: now.saturating_duration_since(since),
            },
            None => Decision::Steady,
        }
    }

    fn observe_problem(
        &mut self,
        now: Instant,
        problem: Problem,
        vm_started: Option<Instant>,
    ) -> Decision {
        self.healthy_since = None;
        self.trouble_since.get_or_insert(now);
        if let Some(grace_from) = self.grace_start(now, &problem, vm_started) {
            let in_grace = now.saturating_duration_since(grace_from);
            if in_grace < self.config.grace {
                return Decision::Grace {
                    problem,
                    remaining: self.config.grace - in_grace,
                };
            }
        }
        while self
            .restarts
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= HOUR)
        {
            self.restarts.pop_front();
        }
        let count = self.restarts_in_last_hour(now);
        if count >= self.config.max_per_hour {
            let remaining = self.restarts.front().map_or(HOUR, |&oldest| {
                HOUR.saturating_sub(now.saturating_duration_since(oldest))
            });
            return Decision::Holding {
                problem,
                restarts_this_hour: count,
                remaining,
            };
        }
        if let Some(last) = self.last_restart {
            let since = now.saturating_duration_since(last);
            if since < self.required_spacing {
                return Decision::BackingOff {
                    problem,
                    remaining: self.required_spacing - since,
                };
            }
        }
        self.restarts.push_back(now);
        self.last_restart = Some(now);
        self.required_spacing = self
            .config
            .backoff_initial
            .saturating_mul(1u32.checked_shl(self.streak).unwrap_or(u32::MAX))
            .min(self.config.backoff_max);
        self.streak = self.streak.saturating_add(1);
        // The restarted VM gets a full grace to boot.
        self.grace_from = Some(now);
        Decision::Restart {
            problem,
            restarts_this_hour: count + 1,
            next_backoff: self.required_spacing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn config() -> PolicyConfig {
        PolicyConfig {
            grace: s(60),
            backoff_initial: s(30),
            backoff_max: s(240),
            max_per_hour: 4,
            reset_after: s(600),
        }
    }

    /// Observes a problem at each of `times` (seconds from `t0`), returning
    /// the seconds at which a restart was decided.
    fn restarts_at(
        policy: &mut RestartPolicy,
        t0: Instant,
        times: impl IntoIterator<Item = u64>,
    ) -> Vec<u64> {
        times
            .into_iter()
            .filter(|&t| {
                matches!(
                    policy.observe(t0 + s(t), Some(Problem::Detached)),
                    Decision::Restart { .. }
                )
            })
            .collect()
    }

    #[test]
    fn healthy_is_steady_forever() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        for t in (0..7200).step_by(5) {
            assert_eq!(p.observe(t0 + s(t), None), Decision::Steady);
        }
    }

    #[test]
    fn a_problem_waits_out_its_grace_then_restarts() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        assert_eq!(
            p.observe(t0, Some(Problem::Detached)),
            Decision::Grace {
                problem: Problem::Detached,
                remaining: s(60)
            }
        );
        assert!(
            matches!(p.observe(t0 + s(59), Some(Problem::Detached)), Decision::Grace { remaining, .. } if remaining == s(1))
        );
        assert_eq!(
            p.observe(t0 + s(60), Some(Problem::Detached)),
            Decision::Restart {
                problem: Problem::Detached,
                restarts_this_hour: 1,
                next_backoff: s(30)
            }
        );
    }

    #[test]
    fn a_problem_that_clears_within_grace_causes_nothing() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        assert!(matches!(
            p.observe(t0, Some(Problem::Detached)),
            Decision::Grace { .. }
        ));
        assert_eq!(
            p.observe(t0 + s(50), None),
            Decision::Recovered {
                problem_lasted: s(50)
            }
        );
        // A new problem gets a full grace of its own.
        assert!(
            matches!(p.observe(t0 + s(55), Some(Problem::Detached)), Decision::Grace { remaining, .. } if remaining == s(60))
        );
        assert!(matches!(
            p.observe(t0 + s(114), Some(Problem::Detached)),
            Decision::Grace { .. }
        ));
    }

    #[test]
    fn backoff_doubles_up_to_its_max_and_the_grace_is_rearmed() {
        let mut p = RestartPolicy::new(PolicyConfig {
            max_per_hour: 100,
            ..config()
        });
        let t0 = Instant::now();
        // Problem every second: restarts at 60 (grace), then each after
        // max(grace, backoff): 60+60=120 (backoff 30 < grace 60), +60, +120, +240, +240.
        let got = restarts_at(&mut p, t0, 0..1000);
        assert_eq!(got, vec![60, 120, 180, 300, 540, 780]);
    }

    #[test]
    fn backoff_is_enforced_when_longer_than_grace() {
        let mut p = RestartPolicy::new(PolicyConfig {
            grace: s(0),
            max_per_hour: 100,
            ..config()
        });
        let t0 = Instant::now();
        assert!(matches!(
            p.observe(t0, Some(Problem::Detached)),
            Decision::Restart { .. }
        ));
        assert_eq!(
            p.observe(t0 + s(10), Some(Problem::Detached)),
            Decision::BackingOff {
                problem: Problem::Detached,
                remaining: s(20)
            }
        );
        let got = restarts_at(&mut p, t0, 1..1000);
        assert_eq!(got, vec![30, 90, 210, 450, 690, 930]);
    }

    #[test]
    fn the_hourly_budget_holds_then_frees_up() {
        let mut p = RestartPolicy::new(PolicyConfig {
            grace: s(0),
            backoff_max: s(30),
            ..config()
        });
        let t0 = Instant::now();
        let got = restarts_at(&mut p, t0, 0..200);
        assert_eq!(got, vec![0, 30, 60, 90]);
        assert_eq!(
            p.observe(t0 + s(200), Some(Problem::Detached)),
            Decision::Holding {
                problem: Problem::Detached,
                restarts_this_hour: 4,
                remaining: s(3400)
            }
        );
        assert!(
            matches!(p.observe(t0 + s(3599), Some(Problem::Detached)), Decision::Holding { remaining, .. } if remaining == s(1))
        );
        assert!(matches!(
            p.observe(t0 + s(3600), Some(Problem::Detached)),
            Decision::Restart {
                restarts_this_hour: 4,
                ..
            }
        ));
    }

    #[test]
    fn zero_budget_never_restarts() {
        let mut p = RestartPolicy::new(PolicyConfig {
            max_per_hour: 0,
            grace: s(0),
            ..config()
        });
        let t0 = Instant::now();
        assert!(restarts_at(&mut p, t0, 0..5000).is_empty());
        assert!(matches!(
            p.observe(t0 + s(5000), Some(Problem::Detached)),
            Decision::Holding {
                restarts_this_hour: 0,
                ..
            }
        ));
    }

    #[test]
    fn staying_healthy_resets_the_backoff_but_a_short_recovery_does_not() {
        let mut p = RestartPolicy::new(PolicyConfig {
            grace: s(0),
            max_per_hour: 100,
            ..config()
        });
        let t0 = Instant::now();
        assert_eq!(restarts_at(&mut p, t0, 0..100), vec![0, 30, 90]); // next spacing 120
        assert!(matches!(
            p.observe(t0 + s(100), None),
            Decision::Recovered { .. }
        ));
        assert!(
            matches!(p.observe(t0 + s(150), Some(Problem::Detached)), Decision::BackingOff { remaining, .. } if remaining == s(60))
        );
        // Healthy from 200 to 800 (>= reset_after 600): back to 30 s.
        p.observe(t0 + s(200), None);
        p.observe(t0 + s(800), None);
        assert!(
            matches!(p.observe(t0 + s(801), Some(Problem::Detached)), Decision::Restart { next_backoff, .. } if next_backoff == s(30))
        );
        assert!(matches!(
            p.observe(t0 + s(820), Some(Problem::Detached)),
            Decision::BackingOff { .. }
        ));
    }

    #[test]
    fn recovered_reports_how_long_the_trouble_lasted_across_restarts() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        assert_eq!(restarts_at(&mut p, t0, [0, 60]), vec![60]);
        assert_eq!(
            p.observe(
                t0 + s(100),
                Some(Problem::Unhealthy(HealthFailure::Status(503)))
            ),
            Decision::Grace {
                problem: Problem::Unhealthy(HealthFailure::Status(503)),
                remaining: s(20)
            }
        );
        assert_eq!(
            p.observe(t0 + s(130), None),
            Decision::Recovered {
                problem_lasted: s(130)
            }
        );
        assert_eq!(p.observe(t0 + s(135), None), Decision::Steady);
    }

    #[test]
    fn a_vm_that_is_not_running_is_restarted_at_once_then_given_its_grace() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        assert!(matches!(
            p.observe(t0, Some(Problem::NotRunning)),
            Decision::Restart {
                restarts_this_hour: 1,
                ..
            }
        ));
        // The restarted VM has no tap yet: that is its boot, not a failure.
        assert_eq!(
            p.observe(t0 + s(5), Some(Problem::NotRunning)),
            Decision::Grace {
                problem: Problem::NotRunning,
                remaining: s(55)
            }
        );
        // Still not running after the grace and the backoff: again.
        assert!(matches!(
            p.observe(t0 + s(60), Some(Problem::NotRunning)),
            Decision::Restart {
                restarts_this_hour: 2,
                ..
            }
        ));
    }

    #[test]
    fn a_vm_that_stops_after_being_unhealthy_is_restarted_without_waiting() {
        let mut p = RestartPolicy::new(config());
        let t0 = Instant::now();
        let unhealthy = Some(Problem::Unhealthy(HealthFailure::Status(503)));
        assert!(matches!(p.observe(t0, unhealthy), Decision::Grace { .. }));
        assert!(matches!(
            p.observe(t0 + s(1), Some(Problem::NotRunning)),
            Decision::Restart { .. }
        ));
    }

    #[test]
    fn the_grace_of_a_booting_vm_runs_from_its_own_start() {
        let t0 = Instant::now() + s(1000);
        let unhealthy = || Some(Problem::Unhealthy(HealthFailure::Status(503)));
        // Found 45 s into its boot: 15 s of its 60 s grace are left.
        let mut p = RestartPolicy::new(config());
        assert_eq!(
            p.observe_vm(t0, unhealthy(), Some(t0 - s(45))),
            Decision::Grace {
                problem: Problem::Unhealthy(HealthFailure::Status(503)),
                remaining: s(15)
            }
        );
        assert!(matches!(
            p.observe_vm(t0 + s(15), unhealthy(), Some(t0 - s(45))),
            Decision::Restart { .. }
        ));
        // Booted long ago and then failed: the trouble gets a full grace
        // of its own, not none.
        let mut p = RestartPolicy::new(config());
        assert_eq!(
            p.observe_vm(t0, unhealthy(), Some(t0 - s(900))),
            Decision::Grace {
                problem: Problem::Unhealthy(HealthFailure::Status(503)),
                remaining: s(60)
            }
        );
        // Unknown start: from the first problem seen, as before.
        let mut p = RestartPolicy::new(config());
        assert!(
            matches!(p.observe_vm(t0, unhealthy(), None), Decision::Grace { remaining, .. } if remaining == s(60))
        );
    }

    #[derive(Debug, Clone)]
    struct Step {
        after: u64,
        problem: bool,
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        prop::collection::vec(
            (0u64..400, prop::bool::weighted(0.8))
                .prop_map(|(after, problem)| Step { after, problem }),
            1..400,
        )
    }

    fn configs(reset: bool) -> impl Strategy<Value = PolicyConfig> {
        (0u64..300, 1u64..600, 0u64..3000, 0u32..8, 0u64..1200).prop_map(
            move |(grace, initial, extra, max, reset_after)| PolicyConfig {
                grace: s(grace),
                backoff_initial: s(initial),
                backoff_max: s(initial + extra),
                max_per_hour: max,
                reset_after: if reset { s(reset_after) } else { Duration::MAX },
            },
        )
    }

    /// Runs the steps and returns the restart times (seconds), checking
    /// on the way that no restart happens while healthy or within grace.
    fn run(config: &PolicyConfig, steps: &[Step]) -> Vec<u64> {
        let mut p = RestartPolicy::new(config.clone());
        let t0 = Instant::now();
        let mut t = 0;
        let mut restarts = Vec::new();
        // Grace runs from the first problem after being healthy, or from
        // the last restart.
        let mut grace_from: Option<u64> = None;
        for step in steps {
            t += step.after;
            let decision = p.observe(t0 + s(t), step.problem.then_some(Problem::Detached));
            if step.problem {
                grace_from.get_or_insert(t);
            } else {
                grace_from = None;
            }
            if let Decision::Restart { .. } = decision {
                assert!(step.problem, "restart while healthy");
                let from = grace_from.unwrap();
                assert!(
                    t - from >= config.grace.as_secs(),
                    "restart at {t} within grace from {from}"
                );
                restarts.push(t);
                grace_from = Some(t);
            }
        }
        restarts
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn restarts_in_any_hour_never_exceed_the_budget(config in configs(true), steps in steps()) {
            let restarts = run(&config, &steps);
            for (i, &r) in restarts.iter().enumerate() {
                let in_window = restarts[..=i].iter().filter(|&&q| r - q < 3600).count();
                prop_assert!(in_window as u32 <= config.max_per_hour, "{in_window} restarts in the hour ending {r}: {restarts:?}");
            }
        }

        #[test]
        fn spacing_never_goes_below_the_initial_backoff(config in configs(true), steps in steps()) {
            let restarts = run(&config, &steps);
            for pair in restarts.windows(2) {
                prop_assert!(pair[1] - pair[0] >= config.backoff_initial.as_secs(), "{restarts:?}");
            }
        }

        #[test]
        fn without_reset_spacing_follows_the_exponential_backoff(config in configs(false), steps in steps()) {
            let restarts = run(&config, &steps);
            for (k, pair) in restarts.windows(2).enumerate() {
                let want = config.backoff_initial.as_secs().saturating_mul(1u64 << k.min(40)).min(config.backoff_max.as_secs());
                prop_assert!(pair[1] - pair[0] >= want, "gap {k} below {want}: {restarts:?}");
            }
        }
    }
}
