fn main() -> std::process::ExitCode {
    wharf_api::cli::main()
}
