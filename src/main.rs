//! The `strata` binary: all logic lives in the library; this only dispatches.

fn main() {
    // The sandbox re-executes this binary to enter its namespaces from a single thread.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__sandbox")) {
        std::process::exit(strata::sandbox::child_main());
    }
    std::process::exit(strata::cli::main());
}
