//! The `joinedup` binary: everything lives in the library.

/// Every request allocates many small strings (form fields, page data,
/// rendered HTML) across threads; mimalloc's per-thread free lists do that
/// with far less work and lock traffic than the system allocator. Built
/// without transparent huge pages (`no_thp`): a report's large columns
/// faulted in as 2 MiB pages cost over a second more per million responses
/// on the virtual machines measured here, where fresh huge pages come slowly.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    joinedup::cli::main()
}
