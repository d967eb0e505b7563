//! The board of `race --play`: workers as little programs (read, pause, write; lock, unlock;
//! move), stepped one instruction at a time by the learner, over the same books the real runs
//! keep (a wallet [`Ledger`], accounts and their locks).
//!
//! Everything a step does is decided here, with no threads: the board is the model, the real
//! threads come later, when what the learner found is replayed.

use crate::workload::transfer::{self, AMOUNT};
use crate::workload::wallet::{self, Ledger, SyncMode, START};

/// One instruction of a worker's program.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Instr {
    Lock(usize),
    /// try-lock: take it if free, else give `held` back and start again.
    TryLock {
        lock: usize,
        held: usize,
    },
    Unlock(usize),
    Read,
    Pause,
    Write,
    /// Transfer: both balances read and written, under both locks.
    Move,
}

/// What is on the board.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Scene {
    /// The wallet: `none` (read, pause, write) or `mutex` (the same inside a lock).
    Wallet(SyncMode),
    /// Transfers in opposite directions (or a ring of three): `lock-pair`, `ordered`,
    /// `try-lock`.
    Transfer(SyncMode),
}

impl Scene {
    /// Can the learner break it (lose an update, deadlock), or is it a fix to fail to break?
    pub fn breakable(self) -> bool {
        matches!(
            self,
            Scene::Wallet(SyncMode::None) | Scene::Transfer(SyncMode::LockPair)
        )
    }

    pub fn sync(self) -> SyncMode {
        match self {
            Scene::Wallet(s) | Scene::Transfer(s) => s,
        }
    }
}

/// One worker on the board.
#[derive(Clone, Debug)]
pub struct Worker {
    pub program: Vec<Instr>,
    pub pc: usize,
    /// The wallet read: (balance, version).
    pub read: Option<(i64, u32)>,
    /// The lock it waits for.
    pub waiting: Option<usize>,
    /// Wallet: +10 or -10. Transfer: (from, to).
    pub delta: i64,
    pub route: (usize, usize),
}

impl Worker {
    pub fn done(&self) -> bool {
        self.pc >= self.program.len()
    }
}

/// A step the learner made that the replay needs: a read or write (wallet), a lock attempt
/// (transfer), by worker index.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    Read(usize),
    Write(usize),
    Attempt(usize),
}

/// The whole board.
pub struct Board {
    pub scene: Scene,
    pub ledger: Ledger,
    pub accounts: Vec<i64>,
    pub owner: Vec<Option<usize>>,
    pub workers: Vec<Worker>,
    pub marks: Vec<Mark>,
    pub backoffs: u64,
    /// Wallet: who wrote last, and what.
    last_write: Option<(usize, i64)>,
}

/// How the board stands after a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Standing {
    Playing,
    /// Every worker finished.
    Finished,
    /// Every unfinished worker waits for a lock another holds.
    Deadlock,
}

impl Board {
    /// `lanes` workers on `scene`.
    pub fn new(scene: Scene, lanes: usize) -> Board {
        let accounts = match scene {
            Scene::Wallet(_) => 1,
            Scene::Transfer(_) => lanes.max(2),
        };
        let workers = (0..lanes)
            .map(|i| {
                let route = transfer::route(i as u64, accounts);
                Worker {
                    program: program(scene, route),
                    pc: 0,
                    read: None,
                    waiting: None,
                    delta: wallet::delta(i as u64),
                    route,
                }
            })
            .collect();
        Board {
            scene,
            ledger: Ledger::with_trace(lanes as u64, None),
            accounts: vec![START; accounts],
            owner: vec![None; accounts],
            workers,
            marks: Vec::new(),
            backoffs: 0,
            last_write: None,
        }
    }

    /// Move worker `w` one step; what happened, in words.
    pub fn step(&mut self, w: usize) -> String {
        let worker = &self.workers[w];
        if worker.done() {
            return format!("W{} is done", w + 1);
        }
        if let Some(l) = worker.waiting {
            return format!(
                "W{} is waiting for lock {} (held by W{}): a waiting thread cannot move",
                w + 1,
                transfer::name(l),
                self.owner[l].map(|o| o + 1).unwrap_or(0)
            );
        }
        let instr = worker.program[worker.pc];
        match instr {
            Instr::Lock(l) => self.lock(w, l),
            Instr::TryLock { lock, held } => self.try_lock(w, lock, held),
            Instr::Unlock(l) => {
                self.workers[w].pc += 1;
                let mut said = format!("W{} unlocks {}", w + 1, transfer::name(l));
                said.push_str(&self.release(l));
                said
            }
            Instr::Read => {
                let (b, v) = self.ledger.read();
                self.workers[w].read = Some((b, v));
                self.workers[w].pc += 1;
                self.marks.push(Mark::Read(w));
                format!("W{} reads {b} (v{v})", w + 1)
            }
            Instr::Pause => {
                self.workers[w].pc += 1;
                format!(
                    "W{} thinks (the pause between its read and its write)",
                    w + 1
                )
            }
            Instr::Write => self.write(w),
            Instr::Move => {
                let (from, to) = self.workers[w].route;
                self.accounts[from] -= AMOUNT;
                self.accounts[to] += AMOUNT;
                self.workers[w].pc += 1;
                format!(
                    "W{} moves {AMOUNT} from {} to {}",
                    w + 1,
                    transfer::name(from),
                    transfer::name(to)
                )
            }
        }
    }

    fn lock(&mut self, w: usize, l: usize) -> String {
        self.marks.push(Mark::Attempt(w));
        match self.owner[l] {
            None => {
                self.owner[l] = Some(w);
                self.workers[w].pc += 1;
                format!("W{} locks {}", w + 1, transfer::name(l))
            }
            Some(o) => {
                self.workers[w].waiting = Some(l);
                format!(
                    "W{} tries to lock {}, held by W{}: it waits",
                    w + 1,
                    transfer::name(l),
                    o + 1
                )
            }
        }
    }

    fn try_lock(&mut self, w: usize, l: usize, held: usize) -> String {
        self.marks.push(Mark::Attempt(w));
        if self.owner[l].is_none() {
            self.owner[l] = Some(w);
            self.workers[w].pc += 1;
            return format!("W{} tries {}: free, it takes it", w + 1, transfer::name(l));
        }
        self.workers[w].pc = 0;
        self.backoffs += 1;
        let woke = self.release(held);
        format!(
            "W{} tries {}: taken, so it gives {} back and starts again{woke}",
            w + 1,
            transfer::name(l),
            transfer::name(held)
        )
    }

    /// Free lock `l`; a worker waiting for it takes it (what a real lock does on unlock).
    fn release(&mut self, l: usize) -> String {
        self.owner[l] = None;
        let Some(next) = (0..self.workers.len()).find(|&i| self.workers[i].waiting == Some(l))
        else {
            return String::new();
        };
        self.owner[l] = Some(next);
        self.workers[next].waiting = None;
        self.workers[next].pc += 1;
        format!("; W{} was waiting for it and takes it", next + 1)
    }

    fn write(&mut self, w: usize) -> String {
        let (b, v) = self.workers[w].read.unwrap_or((START, 0));
        let new = b + self.workers[w].delta;
        let (_, now) = self.ledger.read();
        self.ledger.write(v, new);
        self.workers[w].pc += 1;
        self.marks.push(Mark::Write(w));
        let before = self.last_write.replace((w, new));
        match before {
            Some((o, wrote)) if now != v => format!(
                "W{} writes {new}, computed from v{v}: W{}'s write of {wrote} (v{now}) is overwritten, its update lost ✗",
                w + 1,
                o + 1
            ),
            _ => format!("W{} writes {new}", w + 1),
        }
    }

    pub fn standing(&self) -> Standing {
        let open: Vec<&Worker> = self.workers.iter().filter(|w| !w.done()).collect();
        if open.is_empty() {
            Standing::Finished
        } else if open.iter().all(|w| w.waiting.is_some()) {
            Standing::Deadlock
        } else {
            Standing::Playing
        }
    }

    /// Updates lost so far (wallet).
    pub fn lost(&self) -> u64 {
        self.ledger.outcome(self.workers.len() as u64).lost_updates
    }

    /// The wallet's reads and writes as a `race --schedule`, or the first two lock attempts of
    /// each worker as a lock schedule (`l1 l2 l1 l2`).
    pub fn schedule(&self) -> String {
        let mut attempts = vec![0u8; self.workers.len()];
        self.marks
            .iter()
            .filter_map(|m| match *m {
                Mark::Read(w) => Some(format!("r{}", w + 1)),
                Mark::Write(w) => Some(format!("w{}", w + 1)),
                Mark::Attempt(w) => {
                    attempts[w] += 1;
                    (attempts[w] <= 2).then(|| format!("l{}", w + 1))
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The cycle of a deadlock, in words.
    pub fn cycle(&self) -> String {
        self.workers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| {
                let wants = w.waiting?;
                let holds = self.owner.iter().position(|o| *o == Some(i))?;
                Some(format!(
                    "W{} holds {}, waits for {}",
                    i + 1,
                    transfer::name(holds),
                    transfer::name(wants)
                ))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// A worker's program for `scene`, moving money along `route` (transfers).
fn program(scene: Scene, route: (usize, usize)) -> Vec<Instr> {
    use Instr::*;
    match scene {
        Scene::Wallet(SyncMode::Mutex) => vec![Lock(0), Read, Pause, Write, Unlock(0)],
        Scene::Wallet(_) => vec![Read, Pause, Write],
        Scene::Transfer(sync) => {
            let (first, second) = transfer::lock_order(sync, route.0, route.1);
            let take_second = if sync == SyncMode::TryLock {
                TryLock {
                    lock: second,
                    held: first,
                }
            } else {
                Lock(second)
            };
            vec![
                Lock(first),
                take_second,
                Move,
                Unlock(second),
                Unlock(first),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn play(scene: Scene, keys: &[usize]) -> Board {
        let mut b = Board::new(scene, 2);
        for &k in keys {
            b.step(k);
        }
        b
    }

    #[test]
    fn interleaved_reads_lose_an_update_and_give_the_talks_schedule() {
        let b = play(Scene::Wallet(SyncMode::None), &[0, 1, 0, 0, 1, 1]);
        assert_eq!(b.standing(), Standing::Finished);
        assert_eq!(b.lost(), 1);
        assert_eq!(b.schedule(), "r1,r2,w1,w2");
    }

    #[test]
    fn a_mutex_cannot_be_broken_whatever_the_keys() {
        let b = play(
            Scene::Wallet(SyncMode::Mutex),
            &[0, 1, 1, 0, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1],
        );
        assert_eq!(b.standing(), Standing::Finished);
        assert_eq!(b.lost(), 0);
    }

    /// Every sequence of keys, random and long enough to finish: a fix never loses an update and
    /// never deadlocks; the naive versions do, for some sequences.
    #[test]
    fn no_order_of_keys_breaks_a_fix() {
        let mut rng = crate::sys::ids::SplitMix64(19);
        for scene in [
            Scene::Wallet(SyncMode::Mutex),
            Scene::Transfer(SyncMode::Ordered),
            Scene::Transfer(SyncMode::TryLock),
            Scene::Wallet(SyncMode::None),
            Scene::Transfer(SyncMode::LockPair),
        ] {
            let mut broken = 0;
            for lanes in [2, 3] {
                for _ in 0..300 {
                    let mut b = Board::new(scene, lanes);
                    for _ in 0..200 {
                        if b.standing() != Standing::Playing {
                            break;
                        }
                        b.step((rng.next_u64() % lanes as u64) as usize);
                    }
                    let bad = match scene {
                        Scene::Wallet(_) => b.lost() > 0,
                        Scene::Transfer(_) => b.standing() == Standing::Deadlock,
                    };
                    if b.standing() == Standing::Finished || bad {
                        assert_eq!(
                            b.accounts.iter().sum::<i64>(),
                            100 * b.accounts.len() as i64
                        );
                    }
                    broken += u64::from(bad);
                }
            }
            assert_eq!(broken > 0, scene.breakable(), "{scene:?}: {broken} broken");
        }
    }

    #[test]
    fn opposite_lock_orders_deadlock_and_ordered_locks_do_not() {
        let b = play(Scene::Transfer(SyncMode::LockPair), &[0, 1, 0, 1]);
        assert_eq!(b.standing(), Standing::Deadlock);
        assert_eq!(
            b.cycle(),
            "W1 holds A, waits for B; W2 holds B, waits for A"
        );
        assert_eq!(b.schedule(), "l1,l2,l1,l2");
        let b = play(
            Scene::Transfer(SyncMode::Ordered),
            &[0, 1, 0, 1, 0, 0, 0, 1, 1, 1, 1],
        );
        assert_eq!(b.standing(), Standing::Finished);
        assert_eq!(b.accounts, vec![100, 100]);
        let b = play(
            Scene::Transfer(SyncMode::TryLock),
            &[0, 1, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0],
        );
        assert_eq!(b.standing(), Standing::Finished);
        assert_eq!(b.backoffs, 1);
    }
}
