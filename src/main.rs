//! Thin entry point: everything lives in the library so tests and benches can reach it.

fn main() {
    std::process::exit(concur::main());
}
