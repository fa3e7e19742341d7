// mimalloc instead of glibc's malloc: a request allocates and frees many small objects on
// whichever worker thread runs it, and glibc's arenas spent a tenth of the GraphQL read path
// (decision 136; figures in docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    wharf_api::cli::main()
}
