//! What the binary carries: the exercises' files (so `concur exercise init` can write them out
//! for a learner who has only the binary, and `reset` and `hint` work without a checkout), and
//! the facts about each exercise that `concur` needs before anything is built.

/// One exercise.
#[derive(Debug)]
pub struct Exercise {
    pub number: usize,
    /// The file name without `.rs`: `01_mutex_wallet`.
    pub slug: &'static str,
    pub title: &'static str,
    /// The lessons it follows.
    pub lessons: &'static [usize],
    /// About how long it takes a learner, in minutes.
    pub minutes: u32,
    /// Needs a redis-server (concur starts a private one).
    pub redis: bool,
    /// What the learner's file must not contain, and why (checked before building).
    pub forbidden: &'static [(&'static str, &'static str)],
}

impl Exercise {
    /// The learner's file, relative to the exercises' directory.
    pub fn file(&self) -> String {
        format!("{}.rs", self.slug)
    }

    /// The grader's binary.
    pub fn bin(&self) -> String {
        format!("ex{:02}", self.number)
    }

    /// The file of `variant`, relative to the exercises' directory.
    pub fn variant_file(&self, variant: &str) -> String {
        match variant {
            "learner" => self.file(),
            "solution" => format!("solutions/{}.rs", self.slug),
            other => format!("{other}/{}.rs", self.slug),
        }
    }

    /// The learner's file as shipped (the stub).
    pub fn stub(&self) -> &'static str {
        embedded(&self.file()).unwrap_or_default()
    }
}

const THREADS: &[(&str, &str)] = &[
    (
        "std::sync",
        "take Mutex, atomics and channels from kit::sync: the grader can schedule only what it sees",
    ),
    (
        "std::thread::spawn",
        "spawn threads with kit::thread: the grader can schedule only what it sees",
    ),
    (
        "std::thread::Builder",
        "spawn threads with kit::thread: the grader can schedule only what it sees",
    ),
    (
        "std::thread::scope",
        "spawn threads with kit::thread: the grader can schedule only what it sees",
    ),
    (
        "parking_lot",
        "take locks from kit::sync: the grader can schedule only what it sees",
    ),
    (
        "crossbeam",
        "take channels from kit::sync::channel (crossbeam's API): the grader can schedule only what it sees",
    ),
    ("unsafe", "no unsafe code in these exercises"),
];

const FORK: &[(&str, &str)] = &[
    (
        "unsafe",
        "no unsafe code: the fork is kit::fork::spawn's job",
    ),
    (
        "libc::",
        "no libc: kit::fork's Child waits and kills for you",
    ),
    ("nix::", "no nix: kit::fork's Child waits and kills for you"),
];

const REDIS: &[(&str, &str)] = &[
    ("unsafe", "no unsafe code in these exercises"),
    (
        "redis::",
        "talk to Redis through kit::queue::Conn: the grader schedules (and kills) at its commands",
    ),
];

/// Every exercise, in workshop order.
pub static EXERCISES: &[Exercise] = &[
    Exercise {
        number: 1,
        slug: "01_mutex_wallet",
        title: "the wallet, safe with a Mutex",
        lessons: &[10],
        minutes: 10,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 2,
        slug: "02_atomic_wallet",
        title: "the wallet, with one atomic operation",
        lessons: &[10],
        minutes: 10,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 3,
        slug: "03_actor",
        title: "an actor that owns the balance",
        lessons: &[5],
        minutes: 15,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 4,
        slug: "04_pool",
        title: "a bounded pool that shuts down cleanly",
        lessons: &[3, 11],
        minutes: 20,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 5,
        slug: "05_idempotent",
        title: "a job that survives duplicate delivery",
        lessons: &[12],
        minutes: 10,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 6,
        slug: "06_transfer",
        title: "a transfer that cannot deadlock",
        lessons: &[10, 15],
        minutes: 15,
        redis: false,
        forbidden: THREADS,
    },
    Exercise {
        number: 7,
        slug: "07_fork_runner",
        title: "a fork-per-job runner that survives its jobs",
        lessons: &[8, 11],
        minutes: 20,
        redis: false,
        forbidden: FORK,
    },
    Exercise {
        number: 8,
        slug: "08_reliable_fetch",
        title: "reliable fetch, and a reaper",
        lessons: &[12, 4],
        minutes: 20,
        redis: true,
        forbidden: REDIS,
    },
];

/// Exercise `n` (1-based).
pub fn get(n: usize) -> Option<&'static Exercise> {
    EXERCISES.iter().find(|e| e.number == n)
}

/// The exercises' files as shipped, by path relative to their directory.
pub static FILES: &[(&str, &str)] = &[
    (
        "01_mutex_wallet.rs",
        include_str!("../../../exercises/01_mutex_wallet.rs"),
    ),
    (
        "02_atomic_wallet.rs",
        include_str!("../../../exercises/02_atomic_wallet.rs"),
    ),
    (
        "03_actor.rs",
        include_str!("../../../exercises/03_actor.rs"),
    ),
    ("04_pool.rs", include_str!("../../../exercises/04_pool.rs")),
    (
        "05_idempotent.rs",
        include_str!("../../../exercises/05_idempotent.rs"),
    ),
    (
        "06_transfer.rs",
        include_str!("../../../exercises/06_transfer.rs"),
    ),
    (
        "07_fork_runner.rs",
        include_str!("../../../exercises/07_fork_runner.rs"),
    ),
    (
        "08_reliable_fetch.rs",
        include_str!("../../../exercises/08_reliable_fetch.rs"),
    ),
    ("Cargo.toml", include_str!("../../../exercises/Cargo.toml")),
    ("README.md", include_str!("../../../exercises/README.md")),
    (
        "graders/01_mutex_wallet.rs",
        include_str!("../../../exercises/graders/01_mutex_wallet.rs"),
    ),
    (
        "graders/02_atomic_wallet.rs",
        include_str!("../../../exercises/graders/02_atomic_wallet.rs"),
    ),
    (
        "graders/03_actor.rs",
        include_str!("../../../exercises/graders/03_actor.rs"),
    ),
    (
        "graders/04_pool.rs",
        include_str!("../../../exercises/graders/04_pool.rs"),
    ),
    (
        "graders/05_idempotent.rs",
        include_str!("../../../exercises/graders/05_idempotent.rs"),
    ),
    (
        "graders/06_transfer.rs",
        include_str!("../../../exercises/graders/06_transfer.rs"),
    ),
    (
        "graders/07_fork_runner.rs",
        include_str!("../../../exercises/graders/07_fork_runner.rs"),
    ),
    (
        "graders/08_reliable_fetch.rs",
        include_str!("../../../exercises/graders/08_reliable_fetch.rs"),
    ),
    (
        "kit/bank.rs",
        include_str!("../../../exercises/kit/bank.rs"),
    ),
    (
        "kit/fork.rs",
        include_str!("../../../exercises/kit/fork.rs"),
    ),
    (
        "kit/grade.rs",
        include_str!("../../../exercises/kit/grade.rs"),
    ),
    (
        "kit/idem.rs",
        include_str!("../../../exercises/kit/idem.rs"),
    ),
    ("kit/lib.rs", include_str!("../../../exercises/kit/lib.rs")),
    (
        "kit/model.rs",
        include_str!("../../../exercises/kit/model.rs"),
    ),
    (
        "kit/pool.rs",
        include_str!("../../../exercises/kit/pool.rs"),
    ),
    (
        "kit/queue.rs",
        include_str!("../../../exercises/kit/queue.rs"),
    ),
    (
        "kit/report.rs",
        include_str!("../../../exercises/kit/report.rs"),
    ),
    (
        "kit/steps.rs",
        include_str!("../../../exercises/kit/steps.rs"),
    ),
    (
        "kit/thread.rs",
        include_str!("../../../exercises/kit/thread.rs"),
    ),
    (
        "kit/trace.rs",
        include_str!("../../../exercises/kit/trace.rs"),
    ),
    (
        "kit/transfer.rs",
        include_str!("../../../exercises/kit/transfer.rs"),
    ),
    (
        "kit/trials.rs",
        include_str!("../../../exercises/kit/trials.rs"),
    ),
    (
        "kit/wallet.rs",
        include_str!("../../../exercises/kit/wallet.rs"),
    ),
    (
        "solutions/01_mutex_wallet.rs",
        include_str!("../../../exercises/solutions/01_mutex_wallet.rs"),
    ),
    (
        "solutions/02_atomic_wallet.rs",
        include_str!("../../../exercises/solutions/02_atomic_wallet.rs"),
    ),
    (
        "solutions/03_actor.rs",
        include_str!("../../../exercises/solutions/03_actor.rs"),
    ),
    (
        "solutions/04_pool.rs",
        include_str!("../../../exercises/solutions/04_pool.rs"),
    ),
    (
        "solutions/05_idempotent.rs",
        include_str!("../../../exercises/solutions/05_idempotent.rs"),
    ),
    (
        "solutions/06_transfer.rs",
        include_str!("../../../exercises/solutions/06_transfer.rs"),
    ),
    (
        "solutions/07_fork_runner.rs",
        include_str!("../../../exercises/solutions/07_fork_runner.rs"),
    ),
    (
        "solutions/08_reliable_fetch.rs",
        include_str!("../../../exercises/solutions/08_reliable_fetch.rs"),
    ),
    (
        "wrong/01_mutex_wallet.rs",
        include_str!("../../../exercises/wrong/01_mutex_wallet.rs"),
    ),
    (
        "wrong/02_atomic_wallet.rs",
        include_str!("../../../exercises/wrong/02_atomic_wallet.rs"),
    ),
    (
        "wrong/03_actor.rs",
        include_str!("../../../exercises/wrong/03_actor.rs"),
    ),
    (
        "wrong/04_pool.rs",
        include_str!("../../../exercises/wrong/04_pool.rs"),
    ),
    (
        "wrong/05_idempotent.rs",
        include_str!("../../../exercises/wrong/05_idempotent.rs"),
    ),
    (
        "wrong/06_transfer.rs",
        include_str!("../../../exercises/wrong/06_transfer.rs"),
    ),
    (
        "wrong/07_fork_runner.rs",
        include_str!("../../../exercises/wrong/07_fork_runner.rs"),
    ),
    (
        "wrong/08_reliable_fetch.rs",
        include_str!("../../../exercises/wrong/08_reliable_fetch.rs"),
    ),
    (
        "kit/sync/atomic.rs",
        include_str!("../../../exercises/kit/sync/atomic.rs"),
    ),
    (
        "kit/sync/channel.rs",
        include_str!("../../../exercises/kit/sync/channel.rs"),
    ),
    (
        "kit/sync/mod.rs",
        include_str!("../../../exercises/kit/sync/mod.rs"),
    ),
    (
        "kit/sync/mpsc.rs",
        include_str!("../../../exercises/kit/sync/mpsc.rs"),
    ),
    (
        "kit/sync/mutex.rs",
        include_str!("../../../exercises/kit/sync/mutex.rs"),
    ),
];

/// A shipped file's text.
pub fn embedded(path: &str) -> Option<&'static str> {
    FILES.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}
