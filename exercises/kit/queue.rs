//! Exercise 8: reliable fetch against a real Redis (a private redis-server that `concur exercise
//! check 8` starts on a Unix socket). A worker that takes a job off the queue and dies must not
//! lose it: the job waits in that worker's *processing list* until the worker acknowledges it,
//! and a *reaper* puts a dead worker's jobs back on the queue (Sidekiq Pro's super_fetch,
//! Resque's reliable queues).
//!
//! Graded with the forced scheduler of [`crate::steps`]: two workers (W1, W2) share two jobs;
//! before every Redis command of theirs, the grader chooses who goes next, or kills W1 right
//! there (`kill -9`); once W1 is dead, the reaper runs your `reap`; afterwards a fresh worker
//! (W3) drains the queue. Every such schedule, depth first, must end with every job performed
//! (twice is allowed only for the job W1 died holding), and nothing left in any list.

use crate::grade::{Bench, Check, Suite};
use crate::model::Quiet;
use crate::report::Outcome;
use crate::steps::{Explorer, Gate, Turn};
use crate::trace;
use redis::{Commands, FromRedisValue};
use std::collections::HashMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The queue: `LPUSH` adds a job at the left, the oldest job is at the right.
pub const QUEUE: &str = "queue";

/// The processing list of `worker`: where its fetched, not yet acknowledged jobs wait.
pub fn processing(worker: &str) -> String {
    format!("processing:{worker}")
}

/// Where concur tells the grader its private redis-server is.
pub const URL_ENV: &str = "CONCUR_EXERCISE_REDIS";

/// A worker's connection to Redis. Each method is one Redis command, atomic on the server; the
/// grader may run another worker's command, or kill this worker, between any two of them.
pub struct Conn {
    con: redis::Connection,
    /// The gate and this lane's place at it, when the grader forces a schedule.
    gate: Option<(Arc<Gate>, usize)>,
    /// Commands left before this worker dies (real-thread trials).
    budget: Option<usize>,
}

impl Conn {
    fn open(url: &str) -> Result<Conn, String> {
        let client = redis::Client::open(url).map_err(|e| format!("Redis at {url}: {e}"))?;
        let con = client
            .get_connection_with_timeout(Duration::from_secs(5))
            .map_err(|e| format!("connecting to Redis at {url}: {e}"))?;
        let _ = con.set_read_timeout(Some(Duration::from_secs(10)));
        Ok(Conn {
            con,
            gate: None,
            budget: None,
        })
    }

    /// Before a command: wait for this lane's turn, or die here.
    fn before(&mut self, step: &str) {
        if let Some(left) = &mut self.budget {
            if *left == 0 {
                panic::panic_any(Quiet);
            }
            *left -= 1;
        }
        if let Some((gate, me)) = &self.gate {
            if gate.step(*me, step) == Turn::Die {
                panic::panic_any(Quiet);
            }
        }
    }

    fn run<T: FromRedisValue>(
        &mut self,
        step: String,
        cmd: &redis::Cmd,
        show: fn(&T) -> String,
    ) -> T {
        self.before(&step);
        let v: T = cmd
            .query(&mut self.con)
            .unwrap_or_else(|e| panic!("Redis failed on {step}: {e}"));
        trace::record(None, format!("{step} → {}", show(&v)));
        v
    }

    /// `LMOVE from to RIGHT LEFT`: take the oldest item of `from` and put it at the left of `to`,
    /// in one step; `None` if `from` is empty.
    pub fn lmove(&mut self, from: &str, to: &str) -> Option<String> {
        let mut c = redis::cmd("LMOVE");
        c.arg(from).arg(to).arg("RIGHT").arg("LEFT");
        self.run(format!("LMOVE {from} {to}"), &c, item)
    }

    /// `RPOP key`: take the oldest item of `key`; `None` if it is empty.
    pub fn rpop(&mut self, key: &str) -> Option<String> {
        let mut c = redis::cmd("RPOP");
        c.arg(key);
        self.run(format!("RPOP {key}"), &c, item)
    }

    /// `LPUSH key value`: add `value` at the left of `key`; the new length.
    pub fn lpush(&mut self, key: &str, value: &str) -> i64 {
        let mut c = redis::cmd("LPUSH");
        c.arg(key).arg(value);
        self.run(format!("LPUSH {key} {value}"), &c, number)
    }

    /// `RPUSH key value`: add `value` at the right (the oldest end) of `key`; the new length.
    pub fn rpush(&mut self, key: &str, value: &str) -> i64 {
        let mut c = redis::cmd("RPUSH");
        c.arg(key).arg(value);
        self.run(format!("RPUSH {key} {value}"), &c, number)
    }

    /// `LREM key count value`: remove up to `count` copies of `value` (0: all); how many went.
    pub fn lrem(&mut self, key: &str, count: i64, value: &str) -> i64 {
        let mut c = redis::cmd("LREM");
        c.arg(key).arg(count).arg(value);
        self.run(format!("LREM {key} {count} {value}"), &c, number)
    }

    /// `LRANGE key start stop`: the items from `start` to `stop` (-1: the last), left to right.
    pub fn lrange(&mut self, key: &str, start: i64, stop: i64) -> Vec<String> {
        let mut c = redis::cmd("LRANGE");
        c.arg(key).arg(start).arg(stop);
        self.run(format!("LRANGE {key} {start} {stop}"), &c, items)
    }

    /// `LLEN key`: how many items `key` holds.
    pub fn llen(&mut self, key: &str) -> i64 {
        let mut c = redis::cmd("LLEN");
        c.arg(key);
        self.run(format!("LLEN {key}"), &c, number)
    }

    /// `DEL key`: delete `key`; whether it was there.
    pub fn del(&mut self, key: &str) -> bool {
        let mut c = redis::cmd("DEL");
        c.arg(key);
        let n: i64 = self.run(format!("DEL {key}"), &c, number);
        n > 0
    }

    /// The job's work (the kit's, not yours): counted on the server, a step of its own.
    fn perform(&mut self, job: &str) {
        let step = format!("perform {job}");
        self.before(&step);
        let _: i64 = self
            .con
            .hincr("performed", job, 1)
            .unwrap_or_else(|e| panic!("Redis failed on {step}: {e}"));
        trace::record(None, step);
    }
}

fn item(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "nil".into())
}

fn number(v: &i64) -> String {
    v.to_string()
}

// A `fn(&T) -> String` for T = Vec<String>: the signature must name the Vec.
#[allow(clippy::ptr_arg)]
fn items(v: &Vec<String>) -> String {
    format!("[{}]", v.join(", "))
}

/// Take a job so that a crash cannot lose it.
pub type Fetch = fn(&mut Conn, &str) -> Option<String>;
/// The job is done: forget it.
pub type Ack = fn(&mut Conn, &str, &str);
/// `dead` died: put its jobs back on the queue; how many.
pub type Reap = fn(&mut Conn, &str) -> usize;

/// The learner's three functions.
#[derive(Copy, Clone)]
pub struct Fns {
    pub fetch: Fetch,
    pub ack: Ack,
    pub reap: Reap,
}

/// The grader's suite.
pub fn suite(fns: Fns) -> Suite {
    Suite {
        checks: vec![
            Check::new(
                "every schedule of 2 workers and 2 jobs, W1 killed at any command, then the reaper",
                Duration::from_secs(120),
                move || explore(fns),
            ),
            Check::new(
                "real threads: 3 workers, 30 jobs, W1 killed mid-way",
                Duration::from_secs(60),
                move || trials(fns),
            ),
        ],
        bench: Bench::new(
            "1,000 jobs fetched, performed and acknowledged by one worker",
            move || bench(fns),
        ),
    }
}

fn url() -> Result<String, String> {
    std::env::var(URL_ENV).map_err(|_| {
        "exercise 8 needs a Redis: run it with `concur exercise check 8`, which starts a private redis-server".to_owned()
    })
}

/// The worker loop (the kit's): fetch, perform, acknowledge, until the queue is empty. The job
/// in hand is noted in `held` from fetch to ack.
fn work(conn: &mut Conn, me: &str, fns: Fns, held: &Mutex<Option<String>>) {
    while let Some(job) = (fns.fetch)(conn, me) {
        *held.lock().unwrap_or_else(|p| p.into_inner()) = Some(job.clone());
        conn.perform(&job);
        (fns.ack)(conn, me, &job);
        *held.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// Run `f` as lane `name`; `Err` with the panic if it panicked other than by being killed.
fn as_lane(name: &str, f: impl FnOnce()) -> Result<(), String> {
    trace::set_lane(name);
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => Ok(()),
        Err(p) if p.is::<Quiet>() => Ok(()),
        Err(p) => {
            Err(crate::model::take_last_panic()
                .unwrap_or_else(|| crate::model::message(p.as_ref())))
        }
    }
}

/// Empty the database and queue `jobs`.
fn setup(url: &str, jobs: &[&str]) -> Result<Conn, String> {
    let mut admin = Conn::open(url)?;
    redis::cmd("FLUSHDB")
        .query::<()>(&mut admin.con)
        .map_err(|e| e.to_string())?;
    for j in jobs {
        let _: i64 = admin.con.lpush(QUEUE, *j).map_err(|e| e.to_string())?;
    }
    Ok(admin)
}

const JOBS: [&str; 2] = ["j1", "j2"];
const LANES: [&str; 3] = ["W1", "W2", "reaper"];

fn explore(fns: Fns) -> Outcome {
    crate::model::install_hook();
    let url = match url() {
        Ok(u) => u,
        Err(e) => return Outcome::fail("no Redis", e, Vec::new()),
    };
    let mut explorer = Explorer::new(20_000);
    while explorer.next_run() {
        trace::begin(false);
        let r = one_run(&url, fns, &mut explorer);
        if let Err(why) = r {
            let (events, _) = trace::take(false);
            trace::end();
            return Outcome::fail(
                format!(
                    "schedule {} of the search breaks it",
                    crate::model::thousands(explorer.runs())
                ),
                why,
                events,
            );
        }
        trace::end();
    }
    let n = crate::model::thousands(explorer.runs());
    Outcome::pass(if explorer.exhausted() {
        format!("all {n} schedules: every job performed, nothing lost, nothing left")
    } else {
        format!("the first {n} schedules: every job performed, nothing lost, nothing left")
    })
}

/// One schedule: W1, W2 and the reaper under the gate; then W3 drains; then the verdict.
fn one_run(url: &str, fns: Fns, explorer: &mut Explorer) -> Result<(), String> {
    let mut admin = setup(url, &JOBS)?;
    let gate = Arc::new(Gate::new(&[None, None, Some(0)]));
    let held: Arc<[Mutex<Option<String>>; 2]> = Arc::new([Mutex::new(None), Mutex::new(None)]);
    let mut threads = Vec::new();
    for (i, name) in LANES.iter().enumerate() {
        let mut conn = Conn::open(url)?;
        conn.gate = Some((Arc::clone(&gate), i));
        let (gate, held) = (Arc::clone(&gate), Arc::clone(&held));
        threads.push(std::thread::spawn(move || {
            let r = as_lane(name, || {
                if i < 2 {
                    work(&mut conn, name, fns, &held[i]);
                } else if gate.step(i, "start") == Turn::Go {
                    trace::record(None, "W1 is dead: reap");
                    (fns.reap)(&mut conn, "W1");
                }
            });
            gate.done(i);
            r
        }));
    }
    let killed = drive(&gate, explorer);
    let mut failed = None;
    for t in threads {
        if let Err(e) = t.join().unwrap_or_else(|_| Err("a lane died".into())) {
            failed.get_or_insert(e);
        }
    }
    let killed = killed?;
    if let Some(e) = failed {
        return Err(e);
    }
    let mut w3 = Conn::open(url)?;
    as_lane("W3", || work(&mut w3, "W3", fns, &Mutex::new(None)))?;
    let dying_with = killed
        .then(|| held[0].lock().unwrap_or_else(|p| p.into_inner()).clone())
        .flatten();
    judge(&mut admin, &JOBS, dying_with.as_deref())
}

/// Choose, at every step, who goes (or that W1 dies there), until every lane is done. Whether
/// W1 was killed.
fn drive(gate: &Gate, explorer: &mut Explorer) -> Result<bool, String> {
    let mut killed = false;
    loop {
        let waiting = gate.settle(Duration::from_secs(5)).map_err(|i| {
            format!(
                "{} did not reach its next Redis command within 5 s (a loop with no command in it?)",
                LANES[i]
            )
        })?;
        if waiting.is_empty() {
            return Ok(killed);
        }
        let ready: Vec<&(usize, String, bool)> = waiting.iter().filter(|w| w.2).collect();
        if ready.is_empty() {
            // Only the reaper is left, and W1 never died: it has nothing to do.
            for (i, _, _) in &waiting {
                gate.tell(*i, Turn::Die);
            }
            continue;
        }
        let w1 = ready.iter().find(|w| w.0 == 0).filter(|_| !killed);
        let options = ready.len() + usize::from(w1.is_some());
        let c = explorer.choose(options);
        if c < ready.len() {
            gate.tell(ready[c].0, Turn::Go);
        } else if let Some((_, step, _)) = w1 {
            trace::record_in(
                "W1",
                None,
                format!("💥 killed (kill -9) before: {step}"),
                None,
            );
            killed = true;
            gate.tell(0, Turn::Die);
        }
    }
}

/// Every job performed (more than once only if W1 died holding it), nothing left anywhere.
fn judge(admin: &mut Conn, jobs: &[&str], dying_with: Option<&str>) -> Result<(), String> {
    let performed: HashMap<String, i64> =
        admin.con.hgetall("performed").map_err(|e| e.to_string())?;
    let keys: Vec<String> = admin.con.keys("processing:*").map_err(|e| e.to_string())?;
    let mut lists = vec![QUEUE.to_owned()];
    lists.extend(keys);
    let mut holding: Vec<(String, Vec<String>)> = Vec::new();
    for k in &lists {
        let items: Vec<String> = admin.con.lrange(k, 0, -1).map_err(|e| e.to_string())?;
        if !items.is_empty() {
            holding.push((k.clone(), items));
        }
    }
    for j in jobs {
        let n = performed.get(*j).copied().unwrap_or(0);
        if n == 0 {
            let place = holding
                .iter()
                .find(|(_, items)| items.iter().any(|i| i == j))
                .map(|(k, _)| format!("it is still in {k}, where nobody will look for it"))
                .unwrap_or_else(|| "it is in no list: it was taken off the queue by a worker that died before it was saved anywhere".into());
            trace::mark_last(
                |e| e.text.contains(&format!("→ {j}")),
                &format!("✗ the last trace of {j}"),
            );
            return Err(format!(
                "{j} was never performed, and never will be: {place}"
            ));
        }
        if n > 1 && dying_with != Some(*j) {
            trace::mark_last(|e| e.text == format!("perform {j}"), "✗ performed again");
            return Err(format!(
                "{j} was performed {n} times, though no worker died holding it: two workers fetched the same job"
            ));
        }
    }
    if let Some((k, items)) = holding.first() {
        return Err(format!(
            "{k} still holds [{}] after every job was performed: acknowledge (remove) a job once it is done",
            items.join(", ")
        ));
    }
    Ok(())
}

fn trials(fns: Fns) -> Outcome {
    crate::model::install_hook();
    let url = match url() {
        Ok(u) => u,
        Err(e) => return Outcome::fail("no Redis", e, Vec::new()),
    };
    let jobs: Vec<String> = (1..=30).map(|i| format!("j{i}")).collect();
    let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
    for trial in 0..20usize {
        let r = real_trial(&url, fns, &names, 1 + (trial * 7) % 40);
        if let Err(why) = r {
            return Outcome::fail(format!("trial {} of 20 failed", trial + 1), why, Vec::new());
        }
    }
    Outcome::pass("20 trials: every job performed, nothing left, whenever W1 dies")
}

/// W1, W2, W3 at once on real threads, W1 dying after `budget` commands; then the reaper, then
/// a drain.
fn real_trial(url: &str, fns: Fns, jobs: &[&str], budget: usize) -> Result<(), String> {
    let mut admin = setup(url, jobs)?;
    let held: Arc<[Mutex<Option<String>>; 3]> =
        Arc::new([Mutex::new(None), Mutex::new(None), Mutex::new(None)]);
    let mut threads = Vec::new();
    for (i, name) in ["W1", "W2", "W3"].into_iter().enumerate() {
        let mut conn = Conn::open(url)?;
        if i == 0 {
            conn.budget = Some(budget);
        }
        let held = Arc::clone(&held);
        threads.push(std::thread::spawn(move || {
            as_lane(name, || work(&mut conn, name, fns, &held[i]))
        }));
    }
    for t in threads {
        t.join().unwrap_or_else(|_| Err("a worker died".into()))?;
    }
    let mut reaper = Conn::open(url)?;
    as_lane("reaper", || {
        (fns.reap)(&mut reaper, "W1");
    })?;
    let mut w4 = Conn::open(url)?;
    as_lane("W4", || work(&mut w4, "W4", fns, &Mutex::new(None)))?;
    let dying_with = held[0].lock().unwrap_or_else(|p| p.into_inner()).clone();
    judge(&mut admin, jobs, dying_with.as_deref())
}

fn bench(fns: Fns) -> u64 {
    let url = url().expect("a Redis");
    let jobs: Vec<String> = (1..=1000).map(|i| format!("j{i}")).collect();
    let names: Vec<&str> = jobs.iter().map(String::as_str).collect();
    setup(&url, &names).expect("setting up Redis");
    let mut conn = Conn::open(&url).expect("a connection");
    work(&mut conn, "W1", fns, &Mutex::new(None));
    1000
}
