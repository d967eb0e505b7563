//! Presets: the seed systems by name. `-s resque`, `-s sidekiq`, `-s delayed-job` and
//! `-s sucker-punch` are the strategies the talks compare, each assembled from concur's parts
//! with that system's defaults, so a workshop can say "Sidekiq" and mean something measurable.
//!
//! A preset is a [`StrategyInfo`] like any other (it runs, measures and reports the same way, with
//! the same `--json`), plus a line saying what it is made of, which `concur list` prints. Presets
//! live apart from [`super::STRATEGIES`] so that `compare`'s "every strategy" does not run the
//! same machinery twice under two names; `-s NAME` finds them all the same.
//!
//! | preset | made of | defaults from |
//! |---|---|---|
//! | `resque` | a Redis list + a fork per job ([`super::resque`]) | Resque |
//! | `sidekiq` | the `redis` strategy: a Redis list + a thread pool | Sidekiq 7: concurrency 5 |
//! | `delayed-job` | the `sqlite-fork` strategy: rows claimed by worker processes | DelayedJob |
//! | `sucker-punch` | the `actors` strategy: an in-process actor pool, no server | SuckerPunch: 2 workers |

use super::{actors, redis, resque, sqlite, StrategyInfo, Workers};
use crate::strategy::spec::{Outcome, RunSpec};

/// Every preset, in the order `list` shows them.
pub static PRESETS: &[&StrategyInfo] = &[&RESQUE, &SIDEKIQ, &DELAYED_JOB, &SUCKER_PUNCH];

pub const RESQUE: StrategyInfo = StrategyInfo {
    made_of: Some(
        "redis queue + fork per job (the redis strategy's list, the fork strategy's child per job)",
    ),
    ..resque::INFO
};

pub const SIDEKIQ: StrategyInfo = StrategyInfo {
    name: "sidekiq",
    models: "Sidekiq: JSON jobs in a Redis list, a pool of 5 threads with their own connections",
    workers: Workers::Count(5),
    made_of: Some("redis strategy (Redis list + thread pool), 5 workers"),
    run: sidekiq,
    ..redis::INFO
};

pub const DELAYED_JOB: StrategyInfo = StrategyInfo {
    name: "delayed-job",
    models:
        "DelayedJob: jobs as rows in SQLite, worker processes claim them by UPDATE ... RETURNING",
    made_of: Some("sqlite-fork strategy (SQLite rows + worker processes)"),
    run: delayed_job,
    ..sqlite::FORK_INFO
};

pub const SUCKER_PUNCH: StrategyInfo = StrategyInfo {
    name: "sucker-punch",
    models: "SuckerPunch: an in-process pool of 2 actors with mailboxes, no server",
    workers: Workers::Count(2),
    made_of: Some("actors strategy (in-process actor pool), 2 workers"),
    run: sucker_punch,
    ..actors::INFO
};

fn sidekiq(spec: &RunSpec) -> anyhow::Result<Outcome> {
    (redis::INFO.run)(spec)
}

fn delayed_job(spec: &RunSpec) -> anyhow::Result<Outcome> {
    (sqlite::FORK_INFO.run)(spec)
}

fn sucker_punch(spec: &RunSpec) -> anyhow::Result<Outcome> {
    (actors::INFO.run)(spec)
}

/// What preset `name` is made of, for `concur list`; `None` if it is not a preset.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_found_and_says_what_it_is_made_of() {
        for p in PRESETS {
            assert!(p.made_of.is_some(), "{}", p.name);
            assert_eq!(super::super::find(p.name).map(|s| s.name), Some(p.name));
            assert!(
                super::super::STRATEGIES.iter().all(|s| s.name != p.name),
                "{} is not also a strategy",
                p.name
            );
        }
        assert!(super::super::names().contains("presets: resque, sidekiq"));
    }
}
