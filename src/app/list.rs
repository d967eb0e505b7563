//! `concur list`: what there is to run, and what each strategy costs and buys by construction.

use crate::strategy::{presets, Memory, StrategyInfo, STRATEGIES};
use crate::sys::table::Table;
use crate::workload::Workload;

fn yn(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// One line per strategy, one per workload.
pub fn print() {
    print!("{}", render());
}

/// The strategies (then the presets made of them, in the same columns), and the workloads.
pub fn render() -> String {
    let mut strategies = Table::new([
        "STRATEGY",
        "MEMORY",
        "SURVIVES\nCRASH",
        "KILLS\nHUNG JOB",
        "PARALLEL",
        "SERVER",
        "WALLET --sync (default 1st)",
        "MODELS",
    ])
    .nowrap(&[6]);
    for s in STRATEGIES {
        strategies.row(row(s));
    }
    strategies.line("");
    strategies
        .line("PRESETS (the seed systems, made of the strategies above; run them with -s NAME)");
    for s in presets::PRESETS {
        strategies.row(row(s));
        if let Some(made_of) = s.made_of {
            strategies.span_row([""], format!("= {made_of}"));
        }
    }
    let mut workloads = Table::new(["WORKLOAD", "ABOUT"]);
    for w in Workload::ALL {
        workloads.row([w.name(), w.about()]);
        if *w == Workload::Transfer {
            workloads.row(["", &transfer_strategies()]);
        }
    }
    format!("{}\n{}", strategies.render(), workloads.render())
}

/// Which strategies run `-w transfer`, with their `--sync` modes (the others cannot: their jobs
/// do not share the accounts' memory and locks).
fn transfer_strategies() -> String {
    // Strategies with the same modes share one group: "threads, pool (--sync a|b)".
    let mut groups: Vec<(Vec<&str>, &[crate::workload::wallet::SyncMode])> = Vec::new();
    for s in STRATEGIES.iter().filter(|s| !s.transfers.is_empty()) {
        match groups.iter_mut().find(|(_, syncs)| *syncs == s.transfers) {
            Some((names, _)) => names.push(s.name),
            None => groups.push((vec![s.name], s.transfers)),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(names, syncs)| {
            let syncs: Vec<_> = syncs.iter().map(|m| m.name()).collect();
            format!("{} (--sync {})", names.join(", "), syncs.join("|"))
        })
        .collect();
    format!(
        "runs under {}; lock-pair, the default, can deadlock",
        parts.join(" and ")
    )
}

/// One strategy's cells.
fn row(s: &StrategyInfo) -> [String; 8] {
    let syncs: Vec<_> = s.syncs.iter().map(|m| m.name()).collect();
    let memory = match s.props.memory {
        Memory::Shared => "shared",
        Memory::Isolated => "isolated",
    };
    let unavailable = (s.unavailable)()
        .map(|why| format!(" [unavailable here: {why}]"))
        .unwrap_or_default();
    [
        s.name.to_owned(),
        memory.to_owned(),
        yn(s.props.survives_crash).to_owned(),
        yn(s.props.kills_hung).to_owned(),
        yn(s.props.parallel).to_owned(),
        yn(s.props.needs_server).to_owned(),
        syncs.join("|"),
        format!("{}{unavailable}", s.models),
    ]
}
