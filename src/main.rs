//! The `joinedup` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    joinedup::cli::main()
}
