//! What the grader draws: the steps each thread (a *lane*) took, in the order they happened.
//!
//! # Why record
//! A failed schedule is only useful if the learner can see it: `W1 load → 100`, `W2 load → 100`,
//! `W1 store ← 110`, `W2 store ← 90`. So every primitive of [`crate::sync`] records what it did
//! while the model checker runs (and while a streaming check runs on real processes or Redis),
//! and the log of the execution that failed is what `concur` draws as lanes. An ordinary run
//! records nothing: every primitive checks one flag and goes on.
//!
//! # Why two ways to know who is running
//! Under the model checker every "thread" is a shuttle task on one OS thread, so a lane is
//! looked up by shuttle's task id; in a streaming check on real threads it is a thread-local.
//!
//! The log is one `std::sync::Mutex`, never held while anything else runs (a shuttle switch
//! while it is held would stop the only OS thread).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Mutex;

/// One step of one lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub lane: String,
    /// The object the step was on (`m1`, `balance`, `A`), when there is one.
    pub object: Option<String>,
    /// What happened, e.g. `load → 100`.
    pub text: String,
    /// Why this step is wrong, when the grader knows (`charged twice`, `waits forever`).
    pub mark: Option<String>,
}

impl Event {
    /// The step as drawn: `lock A → 100`, or without the object when `named` is false.
    pub fn shown(&self, named: bool) -> String {
        match (&self.object, named) {
            (Some(o), true) => {
                let mut words = self.text.splitn(2, ' ');
                let verb = words.next().unwrap_or_default();
                match words.next() {
                    Some(rest) => format!("{verb} {o} {rest}"),
                    None => format!("{verb} {o}"),
                }
            }
            _ => self.text.clone(),
        }
    }
}

/// At most this many events are kept per execution (a loop that never ends must not fill memory).
pub const MAX_EVENTS: usize = 400;

#[derive(Default)]
struct Log {
    on: bool,
    /// A failure happened: what follows (unwinding, teardown) is not part of the story.
    frozen: bool,
    /// Print every event as a JSON line as it happens (checks that may be killed midway).
    stream: bool,
    events: Vec<Event>,
    dropped: usize,
    /// Shuttle task id → lane name (model mode).
    lanes: HashMap<usize, String>,
    /// Lane → the step it is blocked in (object, verb), if any.
    pending: Vec<(String, Option<String>, String)>,
    /// Auto-names handed out in this execution, per kind.
    counters: HashMap<char, usize>,
}

static LOG: Mutex<Option<Log>> = Mutex::new(None);
/// `on && !frozen`, readable without the lock: an ordinary run pays one relaxed load per step.
static RECORDING: AtomicBool = AtomicBool::new(false);

thread_local! {
    static MODEL: Cell<bool> = const { Cell::new(false) };
    static LANE: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn with_log<R>(f: impl FnOnce(&mut Log) -> R) -> R {
    let mut guard = LOG.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(Log::default))
}

/// True while the model checker runs this thread's code (every primitive is then shuttle's).
pub fn modelled() -> bool {
    MODEL.with(|m| m.get())
}

pub(crate) fn set_modelled(on: bool) {
    MODEL.with(|m| m.set(on));
}

/// True while steps are being recorded.
pub fn recording() -> bool {
    RECORDING.load(Relaxed)
}

fn task_key() -> Option<usize> {
    if modelled() {
        shuttle::current::try_get_current_task().map(usize::from)
    } else {
        None
    }
}

/// The lane of the running thread: its name, or `main`.
pub fn lane() -> String {
    match task_key() {
        Some(k) => with_log(|l| l.lanes.get(&k).cloned()).unwrap_or_else(|| "main".into()),
        None => LANE
            .with(|l| l.borrow().clone())
            .unwrap_or_else(|| "main".into()),
    }
}

/// Name the running thread's lane.
pub fn set_lane(name: &str) {
    match task_key() {
        Some(k) => with_log(|l| {
            l.lanes.insert(k, name.to_owned());
        }),
        None => LANE.with(|l| *l.borrow_mut() = Some(name.to_owned())),
    }
}

/// A fresh name for a new object of `kind` (`m` for a mutex: `m1`, `m2`...), when recording.
pub fn auto_name(kind: char) -> Option<String> {
    if !recording() {
        return None;
    }
    with_log(|l| {
        let n = l.counters.entry(kind).or_insert(0);
        *n += 1;
        Some(format!("{kind}{n}"))
    })
}

/// Record a step of the running lane.
pub fn record(object: Option<&str>, text: impl Into<String>) {
    record_marked(object, text, None);
}

/// Record a step the grader already knows is wrong.
pub fn record_marked(object: Option<&str>, text: impl Into<String>, mark: Option<String>) {
    if !recording() {
        return;
    }
    record_in(&lane(), object, text, mark);
}

/// Record a step on another lane than the running one (what a forked child did, seen by its
/// parent).
pub fn record_in(lane: &str, object: Option<&str>, text: impl Into<String>, mark: Option<String>) {
    if !recording() {
        return;
    }
    let event = Event {
        lane: lane.to_owned(),
        object: object.map(str::to_owned),
        text: text.into(),
        mark,
    };
    let stream = with_log(|l| {
        if l.events.len() >= MAX_EVENTS {
            l.dropped += 1;
            return false;
        }
        l.events.push(event.clone());
        l.stream
    });
    if stream {
        crate::report::event_line(&event);
    }
}

/// Note that the running lane is about to block in `verb` on `object` (`lock`, `B`): a deadlock
/// is drawn as each lane's last wait.
pub fn wait(object: Option<&str>, verb: &str) {
    if !recording() {
        return;
    }
    let lane = lane();
    let stream = with_log(|l| {
        l.pending.retain(|(who, _, _)| *who != lane);
        l.pending
            .push((lane.clone(), object.map(str::to_owned), verb.to_owned()));
        l.stream
    });
    if stream {
        let what = match object {
            Some(o) => format!("{verb} {o}"),
            None => verb.to_owned(),
        };
        crate::report::pending_line(&lane, &what);
    }
}

/// The running lane is no longer blocked.
pub fn unwait() {
    if !recording() {
        return;
    }
    let lane = lane();
    with_log(|l| l.pending.retain(|(who, _, _)| *who != lane));
}

/// Start a fresh log (one execution, or one streaming check).
pub(crate) fn begin(stream: bool) {
    with_log(|l| {
        *l = Log {
            on: true,
            stream,
            ..Log::default()
        }
    });
    RECORDING.store(true, Relaxed);
}

/// A failure happened: keep the log as it is now.
pub(crate) fn freeze() {
    with_log(|l| l.frozen = true);
    RECORDING.store(false, Relaxed);
}

/// Stop recording.
pub(crate) fn end() {
    with_log(|l| l.on = false);
    RECORDING.store(false, Relaxed);
}

/// The log so far, each lane still blocked appended as a last step marked `waits forever` when
/// `deadlock` is true; and how many events did not fit.
pub(crate) fn take(deadlock: bool) -> (Vec<Event>, usize) {
    with_log(|l| {
        let mut events = std::mem::take(&mut l.events);
        if deadlock {
            for (lane, object, verb) in l.pending.drain(..) {
                events.push(Event {
                    lane,
                    object,
                    text: format!("{verb} …"),
                    mark: Some("waits forever".into()),
                });
            }
        }
        (events, l.dropped)
    })
}

/// Mark the last event that `which` picks with `mark` (the step a check blames).
pub fn mark_last(which: impl Fn(&Event) -> bool, mark: &str) {
    with_log(|l| {
        if let Some(e) = l.events.iter_mut().rev().find(|e| which(e)) {
            e.mark = Some(mark.to_owned());
        }
    });
}

/// A copy of the log so far (a scenario checking what its threads did).
pub fn snapshot() -> Vec<Event> {
    with_log(|l| l.events.clone())
}

/// Lanes in the order they first appear.
pub fn lanes(events: &[Event]) -> Vec<String> {
    let mut lanes: Vec<String> = Vec::new();
    for e in events {
        if !lanes.contains(&e.lane) {
            lanes.push(e.lane.clone());
        }
    }
    lanes
}

/// Whether objects must be named when drawn: only when more than one was used.
pub fn needs_names(events: &[Event]) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    for o in events.iter().filter_map(|e| e.object.as_deref()) {
        if !seen.contains(&o) {
            seen.push(o);
        }
    }
    seen.len() > 1
}

/// A value as a short string for the lanes (long ones are cut).
pub fn short(value: &dyn std::fmt::Debug) -> String {
    let s = format!("{value:?}");
    if s.chars().count() > 40 {
        let cut: String = s.chars().take(37).collect();
        format!("{cut}...")
    } else {
        s
    }
}
