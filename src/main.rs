//! The `joinedup` binary: everything lives in the library.

/// Every request allocates many small strings (form fields, page data,
/// rendered HTML) across threads; mimalloc's per-thread free lists do that
/// with far less work and lock traffic than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    joinedup::cli::main()
}
