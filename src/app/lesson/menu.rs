//! Plain `concur` on a terminal: a short menu that comes back after every choice, until `q`.

use super::run_demo;

/// The menu's entries: what each does, and the command it runs.
const ITEMS: &[(&str, &[&str])] = &[
    ("watch threads print emoji", &["run", "-s", "threads"]),
    ("compare every strategy", &["compare"]),
    ("lose updates to a race", &["race"]),
    ("be the scheduler (press 1 and 2)", &["race", "--play"]),
    ("continue the lessons", &["lesson", "next"]),
    ("your lessons and predictions", &["lesson", "list"]),
    ("measure the primitives (limits)", &["limits"]),
    ("list strategies and workloads", &["list"]),
];

/// Show the menu, run the choice, and come back, until `q` (or the end of input).
pub fn menu() -> anyhow::Result<()> {
    println!("concur: the same jobs, many strategies, measured.");
    loop {
        println!();
        for (i, (label, args)) in ITEMS.iter().enumerate() {
            println!("  {}) {label:<34} concur {}", i + 1, args.join(" "));
        }
        println!("  q) quit                               (concur --help for everything)");
        let Some(choice) = super::ask("\nChoose: ") else {
            return Ok(());
        };
        if matches!(choice.as_str(), "q" | "Q" | "quit" | "exit") {
            return Ok(());
        }
        match choice
            .parse::<usize>()
            .ok()
            .and_then(|i| ITEMS.get(i.wrapping_sub(1)))
        {
            Some((_, args)) => {
                let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
                if !run_demo(&args, None)? {
                    eprintln!("(concur {} exited with an error)", args.join(" "));
                }
                println!("\n(back to the menu)");
            }
            None if choice.is_empty() => {}
            None => println!(
                "'{choice}' is not on the menu: a number from 1 to {}, or q",
                ITEMS.len()
            ),
        }
    }
}
