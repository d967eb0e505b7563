//! `concur race --play`: the learner is the scheduler.
//!
//! # Why
//! `concur race --schedule r1,r2,w1,w2` shows an interleaving someone else chose. Choosing it
//! yourself is what makes it stick: two (or three) lanes, one per worker, and the keys 1, 2 (3)
//! move that worker one step (read, pause, write; lock, unlock). The goals come in levels:
//! lose an update, then deadlock two locks, then try to break a fix and fail.
//!
//! # Then real threads
//! The board ([`model`]) is a model, so a win is replayed on real threads with the machinery
//! `concur race` uses: the reads and writes the learner made become a `--schedule`
//! ([`crate::workload::trace`]), the lock attempts a lock schedule
//! ([`crate::workload::transfer::LockSchedule`]), and the trials report the same loss, the same
//! deadlock, or the same fix holding, measured.
//!
//! # Keys
//! On a terminal, single keys in raw mode (crossterm); `--play-script KEYS` plays the same keys
//! without a terminal, for tests and slides. `r` restarts the level, `n` skips it, `q` quits.

mod model;

use super::trial::{race_workers, run_series, trial_spec, Mode};
use super::RaceRequest;
use crate::error::usage;
use crate::strategy::StrategyInfo;
use crate::workload::trace::Schedule;
use crate::workload::transfer::{self, LockSchedule, Traced};
use crate::workload::wallet::SyncMode;
use crate::workload::Workload;
use model::{Board, Scene, Standing};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// `--play`, as asked.
#[derive(Clone, Debug)]
pub struct PlayRequest {
    /// `--play-script KEYS`: play these keys instead of reading the terminal.
    pub script: Option<String>,
    /// `--level N`: start at this level.
    pub level: Option<u8>,
}

/// The levels, in order.
const LEVELS: &[(Scene, &str)] = &[
    (Scene::Wallet(SyncMode::None), "lose an update"),
    (Scene::Transfer(SyncMode::LockPair), "deadlock two locks"),
    (
        Scene::Transfer(SyncMode::Ordered),
        "break the fix (lock the lower account first), if you can",
    ),
];

/// Replay trials of a found schedule.
const REPLAY_TRIALS: u64 = 20;

/// One level's result (`--json`).
#[derive(Clone, Debug, Serialize)]
pub struct LevelResult {
    pub scene: String,
    pub sync: String,
    pub goal: String,
    /// won (broke it), held (the fix survived), skipped, or unfinished.
    pub result: &'static str,
    pub keys: String,
    pub schedule: String,
    /// Wallet: updates lost on the board.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Transfer: the deadlock's cycle on the board.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<String>,
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<Replay>,
}

/// The board's finding, measured on real threads.
#[derive(Clone, Debug, Serialize)]
pub struct Replay {
    pub command: String,
    pub trials: u64,
    /// Wallet: trials that lost as many updates as the board did; transfer: trials that
    /// deadlocked (or, for a fix, did not).
    pub matching_trials: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost_updates: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadlocked_trials: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cycle: Option<String>,
    pub note: String,
}

/// Where keys come from.
enum Keys {
    Script(std::vec::IntoIter<char>),
    Terminal(RawMode),
}

/// Raw mode for as long as the game reads keys; restored however it ends.
struct RawMode;

impl RawMode {
    fn on() -> anyhow::Result<RawMode> {
        crossterm::terminal::enable_raw_mode()?;
        Ok(RawMode)
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = crossterm::terminal::disable_raw_mode();
    }
}

impl Keys {
    /// The next key; `None` at the end of the script (or Ctrl-C, Ctrl-D on a terminal).
    fn next(&mut self) -> anyhow::Result<Option<char>> {
        use crossterm::event::{read, Event, KeyCode, KeyEventKind, KeyModifiers};
        match self {
            Keys::Script(it) => Ok(it.next()),
            Keys::Terminal(_) => loop {
                if let Event::Key(k) = read()? {
                    if k.kind != KeyEventKind::Press {
                        continue;
                    }
                    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
                    return Ok(match k.code {
                        KeyCode::Char('c' | 'd') if ctrl => None,
                        KeyCode::Char(c) => Some(c),
                        KeyCode::Esc => Some('q'),
                        _ => continue,
                    });
                }
            },
        }
    }

    fn raw(&self) -> bool {
        matches!(self, Keys::Terminal(_))
    }
}

/// The game's output: `\r\n` in raw mode, nothing at all under `--json` (the object is the
/// output).
struct Out {
    raw: bool,
    quiet: bool,
}

impl Out {
    fn say(&self, text: &str) {
        if self.quiet {
            return;
        }
        let text = if self.raw {
            text.replace('\n', "\r\n")
        } else {
            text.to_owned()
        };
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "{text}{}", if self.raw { "\r\n" } else { "\n" });
        let _ = o.flush();
    }
}

/// `concur race --play`.
pub fn play(args: &RaceRequest, req: &PlayRequest) -> anyhow::Result<()> {
    let lanes = args.items as usize;
    if !(2..=3).contains(&lanes) {
        return usage(format!(
            "--play has two or three lanes (--items 2 or 3), not {lanes}"
        ));
    }
    let first = usize::from(req.level.unwrap_or(1)).clamp(1, LEVELS.len());
    let levels: Vec<(Scene, &str)> = match args.sync {
        None => LEVELS[first - 1..].to_vec(),
        Some(s @ (SyncMode::None | SyncMode::Mutex)) => vec![(
            Scene::Wallet(s),
            if s == SyncMode::None { "lose an update" } else { "lose an update through a lock, if you can" },
        )],
        Some(s @ SyncMode::LockPair) => vec![(Scene::Transfer(s), "deadlock two locks")],
        Some(s @ (SyncMode::Ordered | SyncMode::TryLock)) => {
            vec![(Scene::Transfer(s), "deadlock the fix, if you can")]
        }
        Some(other) => {
            return usage(format!(
                "--play --sync {} is not a scene: none or mutex (the wallet), lock-pair, ordered or try-lock (transfers)",
                other.name()
            ))
        }
    };
    let mut keys = match &req.script {
        Some(s) => Keys::Script(
            s.chars()
                .filter(|c| !c.is_whitespace() && *c != ',')
                .collect::<Vec<_>>()
                .into_iter(),
        ),
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            Keys::Terminal(RawMode::on()?)
        }
        None => return usage("--play needs a terminal, or --play-script KEYS (e.g. 1212)"),
    };
    let out = Out {
        raw: keys.raw(),
        quiet: args.json,
    };
    let mut results = Vec::new();
    let of = if args.sync.is_some() {
        (1, 1)
    } else {
        (first, LEVELS.len())
    };
    for (i, &(scene, goal)) in levels.iter().enumerate() {
        out.say(&format!(
            "\nLevel {} of {}: {goal}\n{}",
            of.0 + i,
            of.1,
            intro(scene, lanes)
        ));
        let (mut result, quit) = level(scene, goal, lanes, &mut keys, &out)?;
        if matches!(result.result, "won" | "held") {
            out.say("\nNow on real threads, forced through what you found...");
            let rep = replay(args, &result)?;
            out.say(&format!("  $ concur {}\n  {}", rep.command, rep.note));
            result.replay = Some(rep);
        }
        results.push(result);
        if quit {
            break;
        }
    }
    drop(keys);
    if args.json {
        println!("{}", serde_json::json!({ "levels": results }));
    }
    crate::app::json_copy(&serde_json::json!({ "levels": results }))?;
    Ok(())
}

/// What the level is, and how to play it.
fn intro(scene: Scene, lanes: usize) -> String {
    let what = match scene {
        Scene::Wallet(SyncMode::Mutex) => format!(
            "A wallet holds 100; W1 adds 10, W2 subtracts 10{}. Each locks, reads, thinks, writes, unlocks.",
            if lanes == 3 { ", W3 adds 10" } else { "" }
        ),
        Scene::Wallet(_) => format!(
            "A wallet holds 100; W1 adds 10, W2 subtracts 10{}. Each reads, thinks, writes.",
            if lanes == 3 { ", W3 adds 10" } else { "" }
        ),
        Scene::Transfer(sync) => format!(
            "Accounts {} hold 100 each. W1 moves 10 A→B, W2 B→A{}. Each locks {}, then the other account, moves, unlocks.",
            if lanes == 3 { "A, B, C" } else { "A and B" },
            if lanes == 3 { ", W3 C→A" } else { "" },
            match sync {
                SyncMode::Ordered => "the lower account first",
                SyncMode::TryLock => "its sender, tries the receiver (giving the first back if taken)",
                _ => "its sender",
            }
        ),
    };
    format!(
        "{what}\nYou are the scheduler: press {} to move that worker one step (r restarts, n skips, q quits).",
        (1..=lanes).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
    )
}

/// Play one level until it is won or held, skipped, or the keys run out.
fn level(
    scene: Scene,
    goal: &str,
    lanes: usize,
    keys: &mut Keys,
    out: &Out,
) -> anyhow::Result<(LevelResult, bool)> {
    let mut board = Board::new(scene, lanes);
    let mut result = LevelResult {
        scene: match scene {
            Scene::Wallet(_) => "wallet".into(),
            Scene::Transfer(_) => "transfer".into(),
        },
        sync: scene.sync().name().into(),
        goal: goal.into(),
        result: "unfinished",
        keys: String::new(),
        schedule: String::new(),
        lost: None,
        cycle: None,
        restarts: 0,
        replay: None,
    };
    out.say(&draw(&board));
    loop {
        let Some(key) = keys.next()? else {
            out.say("(no more keys)");
            return Ok((result, true));
        };
        result.keys.push(key);
        match key {
            'q' => return Ok((result, true)),
            'n' => {
                result.result = "skipped";
                return Ok((result, false));
            }
            'r' => {
                board = Board::new(scene, lanes);
                result.restarts += 1;
                out.say(&format!("(restarted)\n{}", draw(&board)));
                continue;
            }
            c => match c.to_digit(10).map(|d| d as usize) {
                Some(d) if (1..=lanes).contains(&d) => {
                    let said = board.step(d - 1);
                    out.say(&format!("> {d}  {said}\n{}", draw(&board)));
                }
                _ => {
                    out.say(&format!("'{c}' is not a key here: 1 to {lanes}, r, n or q"));
                    continue;
                }
            },
        }
        if let Some(end) = judge(scene, &board, &mut result, out) {
            if end {
                return Ok((result, false));
            }
            board = Board::new(scene, lanes);
            result.restarts += 1;
            out.say(&draw(&board));
        }
    }
}

/// After a step: `Some(true)` the level is over (won or held), `Some(false)` it restarts, `None`
/// play on.
fn judge(scene: Scene, board: &Board, r: &mut LevelResult, out: &Out) -> Option<bool> {
    let standing = board.standing();
    if standing == Standing::Playing {
        return None;
    }
    r.schedule = board.schedule();
    match (scene, standing) {
        (Scene::Wallet(_), _) => {
            let lost = board.lost();
            r.lost = Some(lost);
            let (b, _) = board.ledger.read();
            if lost > 0 {
                r.result = "won";
                out.say(&format!(
                    "✓ You lost {lost} update{}: the balance is {b}, not 100. Your schedule: {}",
                    if lost == 1 { "" } else { "s" },
                    r.schedule
                ));
                Some(true)
            } else if scene.breakable() {
                out.say(&format!("Both finished and the balance is {b}: nothing lost this time. Try another order (the level restarts)."));
                Some(false)
            } else {
                r.result = "held";
                out.say(&format!("The lock held: the balance is {b}, 0 lost. Whatever order you press, the other worker cannot read in the middle of an update."));
                Some(true)
            }
        }
        (Scene::Transfer(_), Standing::Deadlock) => {
            r.result = "won";
            r.cycle = Some(board.cycle());
            out.say(&format!(
                "✓ Deadlock: {}. Neither can ever move again. Your lock order: {}",
                board.cycle(),
                r.schedule
            ));
            Some(true)
        }
        (Scene::Transfer(_), _) if scene.breakable() => {
            out.say("Both transfers went through: no deadlock this time. Try another order (the level restarts).");
            Some(false)
        }
        (Scene::Transfer(_), _) => {
            r.result = "held";
            out.say(&format!(
                "The fix held: both transfers went through, total {} (nothing created or lost){}.",
                board.accounts.iter().sum::<i64>(),
                if board.backoffs > 0 {
                    format!(", {} back-off(s)", board.backoffs)
                } else {
                    String::new()
                }
            ));
            Some(true)
        }
    }
}

/// The board: one line per worker (its program, `▸` at the next step, `…` while waiting), then
/// the balance or the accounts and their locks.
fn draw(b: &Board) -> String {
    let mut lines = Vec::new();
    for (i, w) in b.workers.iter().enumerate() {
        let label = match b.scene {
            Scene::Wallet(_) => format!("W{} ({:+})", i + 1, w.delta),
            Scene::Transfer(_) => format!(
                "W{} ({}→{})",
                i + 1,
                transfer::name(w.route.0),
                transfer::name(w.route.1)
            ),
        };
        let steps: Vec<String> = w
            .program
            .iter()
            .enumerate()
            .map(|(k, ins)| {
                let name = instr_name(*ins);
                match (k.cmp(&w.pc), w.waiting.is_some()) {
                    (std::cmp::Ordering::Less, _) => format!("{name} ✓"),
                    (std::cmp::Ordering::Equal, true) => format!("▸ {name} …waiting"),
                    (std::cmp::Ordering::Equal, false) => format!("▸ {name}"),
                    _ => name,
                }
            })
            .collect();
        lines.push(format!("  {label:<10} {}", steps.join("  ")));
    }
    lines.push(match b.scene {
        Scene::Wallet(_) => {
            let (bal, v) = b.ledger.read();
            let lock = match b.owner.first().copied().flatten() {
                Some(o) if matches!(b.scene, Scene::Wallet(SyncMode::Mutex)) => {
                    format!("  lock held by W{}", o + 1)
                }
                _ => String::new(),
            };
            format!("  balance {bal} (v{v}){lock}")
        }
        Scene::Transfer(_) => {
            let accts: Vec<String> = b
                .accounts
                .iter()
                .enumerate()
                .map(|(k, v)| {
                    let lock = b.owner[k]
                        .map(|o| format!(" [locked by W{}]", o + 1))
                        .unwrap_or_default();
                    format!("{} {v}{lock}", transfer::name(k))
                })
                .collect();
            format!("  {}", accts.join("   "))
        }
    });
    lines.join("\n")
}

fn instr_name(i: model::Instr) -> String {
    use model::Instr::*;
    match i {
        Lock(l) => format!("lock {}", transfer::name(l)),
        TryLock { lock, .. } => format!("try {}", transfer::name(lock)),
        Unlock(l) => format!("unlock {}", transfer::name(l)),
        Read => "read".into(),
        Pause => "pause".into(),
        Write => "write".into(),
        Move => "move 10".into(),
    }
}

/// The strategy the replay runs on: the raced one if its trials run in this process, else
/// threads.
fn replay_strategy(args: &RaceRequest) -> &'static StrategyInfo {
    if args.strategy.in_process() && args.strategy.workers != crate::strategy::Workers::One {
        args.strategy
    } else {
        &crate::strategy::threads::INFO
    }
}

/// The level's finding on real threads.
fn replay(args: &RaceRequest, r: &LevelResult) -> anyhow::Result<Replay> {
    let info = replay_strategy(args);
    let sync = match r.sync.as_str() {
        "none" => SyncMode::None,
        "mutex" => SyncMode::Mutex,
        "lock-pair" => SyncMode::LockPair,
        "ordered" => SyncMode::Ordered,
        _ => SyncMode::TryLock,
    };
    let mut req = args.clone();
    req.play = None;
    req.trials = REPLAY_TRIALS;
    req.workload = if r.scene == "wallet" {
        Workload::Wallet
    } else {
        Workload::Transfer
    };
    req.accounts = if r.scene == "wallet" {
        2
    } else {
        args.items.max(2)
    };
    let spec = trial_spec(&req, info, sync, race_workers(&req, info, true))?;
    if r.scene == "wallet" {
        replay_wallet(info, &spec, r, sync)
    } else {
        replay_transfer(info, &spec, r, sync)
    }
}

fn replay_wallet(
    info: &StrategyInfo,
    spec: &crate::strategy::RunSpec,
    r: &LevelResult,
    sync: SyncMode,
) -> anyhow::Result<Replay> {
    let lost_here = r.lost.unwrap_or(0);
    if sync != SyncMode::None {
        // A lock never gives the other worker its turn mid-update: there is no order to force,
        // so the fix is put through the machine's own interleavings instead.
        let series = run_series(info, spec, false, &Mode::Random, REPLAY_TRIALS)?;
        let lost: u64 = series.trials.iter().map(|t| t.lost_updates).sum();
        let clean = series.trials.iter().filter(|t| t.lost_updates == 0).count() as u64;
        return Ok(Replay {
            command: format!("race -s {} --sync mutex --trials {REPLAY_TRIALS}", info.name),
            trials: REPLAY_TRIALS,
            matching_trials: clean,
            lost_updates: Some(lost),
            deadlocked_trials: None,
            cycle: None,
            note: format!("{clean} of {REPLAY_TRIALS} trials lost nothing ({lost} updates lost in all): a lock cannot be scheduled into losing one"),
        });
    }
    let schedule = Schedule::parse(&r.schedule).map_err(crate::error::Error::Usage)?;
    let series = run_series(
        info,
        spec,
        false,
        &Mode::Schedule(schedule.clone()),
        REPLAY_TRIALS,
    )?;
    let same = series
        .trials
        .iter()
        .filter(|t| t.lost_updates == lost_here)
        .count() as u64;
    let lost: u64 = series.trials.iter().map(|t| t.lost_updates).sum();
    let finals: Vec<String> = super::trial::histogram(&series.trials)
        .iter()
        .map(|b| format!("{} in {}", b.balance, b.trials))
        .collect();
    Ok(Replay {
        command: format!(
            "race -s {} --items {} --schedule {} --trials {REPLAY_TRIALS}",
            info.name,
            spec.items,
            schedule.text().replace(' ', ",")
        ),
        trials: REPLAY_TRIALS,
        matching_trials: same,
        lost_updates: Some(lost),
        deadlocked_trials: None,
        cycle: None,
        note: format!(
            "{same} of {REPLAY_TRIALS} trials lost {lost_here} update{} as you did (final balances: {}; which real thread takes W1's place is the OS's choice, the loss is yours)",
            if lost_here == 1 { "" } else { "s" },
            finals.join(", ")
        ),
    })
}

fn replay_transfer(
    info: &StrategyInfo,
    spec: &crate::strategy::RunSpec,
    r: &LevelResult,
    sync: SyncMode,
) -> anyhow::Result<Replay> {
    let schedule = LockSchedule::parse(&r.schedule).map_err(crate::error::Error::Usage)?;
    let mut deadlocked = 0;
    let mut cycle = None;
    for _ in 0..REPLAY_TRIALS {
        transfer::install(Some(Traced {
            schedule: Some(schedule.clone()),
            record: false,
        }));
        let outcome = (info.run)(spec);
        transfer::install(None);
        let t = outcome?
            .transfer
            .ok_or_else(|| anyhow::anyhow!("no transfer outcome"))?;
        anyhow::ensure!(t.conserved(), "a replayed trial did not conserve the total");
        if let Some(d) = t.deadlock {
            deadlocked += 1;
            cycle.get_or_insert_with(|| d.to_string());
        }
    }
    let matching = if r.result == "won" {
        deadlocked
    } else {
        REPLAY_TRIALS - deadlocked
    };
    let note = if r.result == "won" {
        format!(
            "{deadlocked} of {REPLAY_TRIALS} trials deadlocked: {}",
            cycle.clone().unwrap_or_else(|| "no cycle".into())
        )
    } else {
        format!("{deadlocked} of {REPLAY_TRIALS} trials deadlocked under your order: the fix held on real threads too, total conserved in every trial")
    };
    Ok(Replay {
        command: format!(
            "race -s {} -w transfer --sync {} --accounts {} --items {} --schedule {} --trials {REPLAY_TRIALS}",
            info.name,
            sync.name(),
            spec.knobs.accounts,
            spec.items,
            schedule.text().replace(' ', ",")
        ),
        trials: REPLAY_TRIALS,
        matching_trials: matching,
        lost_updates: None,
        deadlocked_trials: Some(deadlocked),
        cycle,
        note,
    })
}
