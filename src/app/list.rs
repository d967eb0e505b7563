//! `concur list`: what there is to run, and what each strategy costs and buys by construction.

use crate::strategy::{presets, Memory, StrategyInfo, STRATEGIES};
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
    println!(
        "{:<12} {:<9} {:<9} {:<10} {:<8} {:<7} {:<27} MODELS",
        "STRATEGY",
        "MEMORY",
        "SURVIVES",
        "KILLS",
        "PARALLEL",
        "SERVER",
        "WALLET --sync (default 1st)"
    );
    println!(
        "{:<12} {:<9} {:<9} {:<10} {:<8} {:<7} {:<27}",
        "", "", "CRASH", "HUNG JOB", "", "", ""
    );
    for s in STRATEGIES {
        row(s);
    }
    println!();
    println!("PRESETS (the seed systems, made of the strategies above; run them with -s NAME)");
    for s in presets::PRESETS {
        row(s);
        if let Some(made_of) = s.made_of {
            println!("{:<12} = {made_of}", "");
        }
    }
    println!();
    println!("{:<12} ABOUT", "WORKLOAD");
    for w in Workload::ALL {
        println!("{:<12} {}", w.name(), w.about());
    }
}

/// One strategy's line.
fn row(s: &StrategyInfo) {
    let syncs: Vec<_> = s.syncs.iter().map(|m| m.name()).collect();
    let memory = match s.props.memory {
        Memory::Shared => "shared",
        Memory::Isolated => "isolated",
    };
    let unavailable = (s.unavailable)()
        .map(|why| format!(" [unavailable here: {why}]"))
        .unwrap_or_default();
    println!(
        "{:<12} {:<9} {:<9} {:<10} {:<8} {:<7} {:<27} {}{unavailable}",
        s.name,
        memory,
        yn(s.props.survives_crash),
        yn(s.props.kills_hung),
        yn(s.props.parallel),
        yn(s.props.needs_server),
        syncs.join("|"),
        s.models,
    );
}
