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
    // Every subcommand --help lists is in the README's command list, and has a help line.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let commands = text
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default();
    let mut listed = 0;
    for line in commands.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), help) = (words.next(), words.next()) else {
            continue;
        };
        if name == "help" {
            continue;
        }
        listed += 1;
        assert!(help.is_some(), "`wharf {name}` has no help line");
        assert!(
            readme.contains(&format!("wharf {name}")),
            "the README's command list lacks `wharf {name}`"
        );
    }
    assert!(listed >= 10, "{text}");
    // And every ddm leaf command has a help line.
    for group in [
        "dataset",
        "content",
        "provider",
        "replication",
        "rp",
        "wallet",
    ] {
        let out = wharf(&["ddm", group, "--help"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let commands = text.split("Commands:").nth(1).unwrap_or_default();
        for line in commands.lines().take_while(|l| !l.trim().is_empty()) {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert!(
                words.len() > 1,
                "`wharf ddm {group} {}` has no help line",
                words.first().unwrap_or(&"")
            );
        }
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

/// docs/CONFIGURATION.md shows the real defaults: what `wharf config --defaults` prints.
#[test]
fn the_configuration_doc_shows_the_real_defaults() {
    let out = wharf(&["config", "--defaults"]);
    assert!(out.status.success());
    let defaults = String::from_utf8(out.stdout).unwrap();
    assert!(
        defaults.contains("listen = \"127.0.0.1:8080\""),
        "{defaults}"
    );
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/CONFIGURATION.md"
    ))
    .unwrap();
    assert!(
        doc.contains(&format!("```toml\n{defaults}```")),
        "docs/CONFIGURATION.md is out of date: put the output of `wharf config --defaults` \
         in its Defaults block"
    );
}
