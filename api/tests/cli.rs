//! The `wharf` binary's command line. (Also makes `cargo test` build the binary that the
//! end-to-end tests in tests/ start.)
#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::process::Command;

fn wharf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wharf"))
        .args(args)
        .output()
        .expect("run wharf")
}

#[test]
fn help_lists_every_subcommand() {
    let out = wharf(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for sub in ["serve", "worker", "migrate", "schema"] {
        assert!(text.contains(sub), "--help does not mention {sub}:\n{text}");
    }
}

#[test]
fn committed_schema_matches_the_built_one() {
    let out = wharf(&["schema"]);
    assert!(out.status.success());
    let built = String::from_utf8_lossy(&out.stdout);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql"))
            .expect("schema.graphql is committed at the workspace root");
    assert!(
        built.trim_end() == committed.trim_end(),
        "schema.graphql is out of date: run `cargo run -- schema > schema.graphql`"
    );
}

#[test]
fn bad_configuration_fails_fast_with_a_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_wharf"))
        .arg("serve")
        .env("WHARF_LISTEN", "not-an-address")
        .output()
        .expect("run wharf");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("WHARF_LISTEN=\"not-an-address\""), "{err}");
}
