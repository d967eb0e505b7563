//! Thin entry point: parse, dispatch, exit code. Everything lives in the library so tests and
//! benches can reach it.

use clap::Parser;
use concur::{app, cli::Cli, error, sys::signals};

fn main() {
    signals::default_sigpipe();
    let request = app::Request::from(Cli::parse());
    let code = match app::execute(request) {
        Ok(()) => 0,
        Err(err) => {
            // A failed child has already said why on stderr; say only what it means here.
            eprintln!("concur: error: {err:#}");
            error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
