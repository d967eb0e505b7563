//! A grader's `main`: `exNN check [VARIANT]`, `exNN bench [VARIANT]`, `exNN variants`.
//!
//! Each grader (`graders/NN_*.rs`) compiles several *variants* of the exercise: `learner` (your
//! file), `solution` (the reference) and the wrong answers the test suite proves are caught.
//! `check` runs the variant's checks in order and stops at the first that fails (fix one thing
//! at a time); `bench` runs its benchmark once, for concur to measure from outside.

use crate::report::{self, Outcome};
use std::time::{Duration, Instant};

/// One check: its name, the time concur gives it, and what it runs.
pub struct Check {
    pub name: String,
    pub limit: Duration,
    pub run: Box<dyn FnOnce() -> Outcome>,
}

impl Check {
    pub fn new(
        name: impl Into<String>,
        limit: Duration,
        run: impl FnOnce() -> Outcome + 'static,
    ) -> Check {
        Check {
            name: name.into(),
            limit,
            run: Box::new(run),
        }
    }
}

/// The benchmark: what it does, in words, and the function that does it (returning the number
/// of operations done).
pub struct Bench {
    pub work: String,
    pub run: Box<dyn FnOnce() -> u64>,
}

impl Bench {
    pub fn new(work: impl Into<String>, run: impl FnOnce() -> u64 + 'static) -> Bench {
        Bench {
            work: work.into(),
            run: Box::new(run),
        }
    }
}

/// Everything a variant is graded by.
pub struct Suite {
    pub checks: Vec<Check>,
    pub bench: Bench,
}

/// A variant's name and how to build its suite.
pub type Variant = (&'static str, fn() -> Suite);

/// The grader's command line.
pub fn main(variants: &[Variant]) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().map(String::as_str).unwrap_or("check");
    let which = args.get(1).map(String::as_str).unwrap_or("learner");
    if command == "variants" {
        for (name, _) in variants {
            println!("{name}");
        }
        return;
    }
    let Some((_, suite)) = variants.iter().find(|(n, _)| *n == which) else {
        eprintln!("no variant '{which}' here");
        std::process::exit(2);
    };
    match command {
        "check" => check(suite()),
        "bench" => bench(suite().bench),
        other => {
            eprintln!("usage: check|bench|variants [VARIANT] ('{other}' is neither)");
            std::process::exit(2);
        }
    }
}

/// Test hook (`concur`'s own tests): a grader that hangs in a check, with a forked child, so
/// that concur's time limit and process-group kill are proved to leave nothing behind.
pub const TEST_HANG_ENV: &str = "CONCUR_EXERCISE_TEST_HANG";

fn hang_for_tests() -> ! {
    report::plan_line(&["a check that hangs"]);
    report::start_line("a check that hangs", 300);
    crate::trace::begin(true);
    crate::trace::set_lane("runner");
    let _child = crate::fork::spawn(crate::fork::Job::Hang);
    crate::trace::wait(None, "sleep forever");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

fn check(suite: Suite) {
    if std::env::var_os(TEST_HANG_ENV).is_some() {
        hang_for_tests();
    }
    crate::model::install_hook();
    let names: Vec<&str> = suite.checks.iter().map(|c| c.name.as_str()).collect();
    report::plan_line(&names);
    let mut passed = true;
    for c in suite.checks {
        report::start_line(&c.name, c.limit.as_millis());
        let outcome = (c.run)();
        report::check_line(&c.name, &outcome);
        if !outcome.passed {
            passed = false;
            break;
        }
    }
    report::end_line(passed);
    // Threads a failed check left blocked (a real deadlock) must not keep the grader alive.
    std::process::exit(0);
}

fn bench(b: Bench) {
    let start = Instant::now();
    let ops = (b.run)();
    report::bench_line(&b.work, ops, start.elapsed().as_nanos());
    std::process::exit(0);
}

/// A model-check [`Check`]: run `scenario` under `search`; pass with `what` (`end at 100`).
pub fn model_check<F>(name: &str, search: crate::model::Search, what: &str, scenario: F) -> Check
where
    F: Fn() + Send + Sync + 'static,
{
    let what = what.to_owned();
    Check::new(name, Duration::from_secs(120), move || {
        let v = crate::model::explore(search, scenario);
        let how = crate::model::how_many(&v, search);
        match v.failure {
            None => Outcome::pass(format!("{how}: {what}")),
            Some(f) => Outcome::fail(
                format!(
                    "schedule {} of the search breaks it",
                    crate::model::thousands(v.explored)
                ),
                f.why,
                f.events,
            ),
        }
    })
}

/// How long real-thread trials may go without one finishing before they are called hung.
pub const STALL: Duration = Duration::from_secs(10);

/// A real-thread trials [`Check`]: `n` trials, hung if none finishes for [`STALL`] (concur's
/// own limit, far above, is only a backstop).
pub fn trials_check<F>(name: &str, n: usize, what: &str, trial: F) -> Check
where
    F: Fn(usize) -> Result<(), String> + Send + 'static,
{
    let what = what.to_owned();
    Check::new(name, Duration::from_secs(300), move || {
        let t = crate::trials::run(n, STALL, trial);
        let n_s = crate::model::thousands(n);
        if t.hung {
            Outcome::fail(
                format!("{} of {n_s} trials ran, then the threads hung", t.run),
                format!(
                    "no trial finished for {} s: threads blocked for good (a deadlock on real threads?)",
                    STALL.as_secs()
                ),
                Vec::new(),
            )
        } else if t.failed > 0 {
            Outcome::fail(
                format!("{} of {n_s} trials failed", t.failed),
                t.first.unwrap_or_default(),
                Vec::new(),
            )
        } else {
            Outcome::pass(format!("{n_s} trials: {what}"))
        }
    })
}
