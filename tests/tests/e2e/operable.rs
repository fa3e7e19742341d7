//! Start-up that checks what it was given: `wharf check` (the same checks `serve` and `worker`
//! run first) against a real local chain, with the message an operator reads asserted.
use std::{path::Path, time::Duration};

use wharf_tests::{
    TestEnv,
    chain::{self, Chain},
    wharf_bin,
};

/// Runs `wharf <args>` to its end: (exit code, stdout + stderr).
async fn wharf(args: &[&str], vars: &[(String, String)], cwd: &Path) -> (i32, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        tokio::process::Command::new(wharf_bin())
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(cwd)
            .output(),
    )
    .await
    .expect("wharf finished within a minute")
    .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

fn chain_toml(chain: &Chain, chain_id: u64, key_file: Option<&str>) -> String {
    let key = key_file
        .map(|f| format!("treasury_key_file = \"{f}\"\n"))
        .unwrap_or_default();
    format!(
        "[[chains]]\nchain_id = {chain_id}\nrpc_url = \"{}\"\n{key}tokens = [{{ symbol = \"OCEAN\", address = \"{}\", decimals = 18 }}]\n",
        chain.url, chain.token
    )
}

#[tokio::test]
async fn check_names_each_mistake_in_a_chain_and_its_keys() {
    let chain = Chain::start().await;
    let env = TestEnv::new().await;
    let cwd = tempfile::tempdir().unwrap();

    // A node that is another chain than configured.
    let config = env.write_config(&chain_toml(&chain, 5, None));
    let vars = env.vars(&[
        ("WHARF_CONFIG", config.as_str()),
        ("WHARF_TREASURY_KEY_5", chain::KEYS[chain::TREASURY]),
    ]);
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "chain 5: the node at {} is chain 1337 (eth_chainId), not 5",
            chain.url
        )),
        "{out}"
    );
    // serve refuses to start on it, with the same line.
    let (code, out) = wharf(&["serve"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("is chain 1337 (eth_chainId), not 5"), "{out}");

    // Tokens offered for payment with no treasury to collect them.
    let config = env.write_config(&chain_toml(&chain, 1337, None));
    let vars = env.vars(&[("WHARF_CONFIG", config.as_str())]);
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("chain 1337: its tokens are offered for payment but it has no treasury key"),
        "{out}"
    );
    assert!(out.contains("WHARF_TREASURY_KEY_1337"), "{out}");

    // A key file relative to wharf.toml, run from elsewhere: found, and its address shown.
    let keys = env.data_dir.path().join("keys");
    std::fs::create_dir_all(&keys).unwrap();
    std::fs::write(keys.join("treasury.hex"), chain::KEYS[chain::TREASURY]).unwrap();
    let config = env.write_config(&chain_toml(&chain, 1337, Some("keys/treasury.hex")));
    let vars = env.vars(&[("WHARF_CONFIG", config.as_str())]);
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_eq!(code, 0, "{out}");
    let treasury = chain::signer(chain::TREASURY).address().to_checksum(None);
    assert!(
        out.contains(&format!("treasury {treasury}")),
        "the summary shows the treasury address: {out}"
    );
    assert!(out.contains("wharf check: nothing wrong"), "{out}");

    // A key file that is not there: the setting and the absolute path it was looked for at.
    let config = env.write_config(&chain_toml(&chain, 1337, Some("keys/missing.hex")));
    let vars = env.vars(&[("WHARF_CONFIG", config.as_str())]);
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    let expected = keys.join("missing.hex");
    assert!(
        out.contains(&format!(
            "chains[0].treasury_key_file (chain 1337) = {}",
            expected.display()
        )),
        "{out}"
    );
}

#[tokio::test]
async fn an_unreachable_database_or_a_bad_listen_value_is_one_clear_line() {
    let cwd = tempfile::tempdir().unwrap();
    let base = vec![(
        "WHARF_DATA_DIR".to_string(),
        cwd.path().join("data").display().to_string(),
    )];

    // Nothing listens on loopback port 1: refused at once, named, no 30-second pool wait.
    let mut vars = base.clone();
    vars.push((
        "DATABASE_URL".into(),
        "postgres://postgres@127.0.0.1:1/wharf".into(),
    ));
    let started = std::time::Instant::now();
    let (code, out) = wharf(&["serve"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("cannot reach the database at 127.0.0.1:1 (DATABASE_URL)"),
        "{out}"
    );
    assert!(!out.contains("pool timed out"), "{out}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "it took {:?}",
        started.elapsed()
    );

    // A listen value that is not host:port names the variable and the value.
    let mut vars = base.clone();
    vars.push(("WHARF_LISTEN".into(), "localhost".into()));
    let (code, out) = wharf(&["serve"], &vars, cwd.path()).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("WHARF_LISTEN=\"localhost\""), "{out}");
    assert!(!out.contains(".rs:"), "no source locations: {out}");

    // `localhost` is an address: check passes with zero configuration, and tells what is unset.
    let mut vars = base;
    vars.push(("WHARF_LISTEN".into(), "localhost:0".into()));
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("listen        127.0.0.1:0"), "{out}");
    assert!(out.contains("WHARF_ADMIN_API_KEY NOT SET"), "{out}");
}

/// The image's entrypoint with the image's environment (the Dockerfile's `ENV` lines), run
/// outside Docker: `wharf check` passes and warns that the SIWE domain falls back to the
/// wildcard listen address; `wharf health` fails while nothing answers. (The data directory
/// is a temporary one instead of the image's `/data`.)
#[tokio::test]
async fn the_image_environment_starts_and_says_what_browsers_need() {
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Dockerfile"))
            .unwrap();
    // `ENV A=1 \ B=2` (one instruction over continued lines).
    let mut vars: Vec<(String, String)> = Vec::new();
    let mut in_env = false;
    for line in dockerfile.lines() {
        let line = line.trim();
        let rest = if let Some(rest) = line.strip_prefix("ENV ") {
            rest
        } else if in_env {
            line
        } else {
            continue;
        };
        in_env = rest.ends_with('\\');
        for pair in rest.trim_end_matches('\\').split_whitespace() {
            if let Some((k, v)) = pair.split_once('=') {
                vars.push((k.to_string(), v.to_string()));
            }
        }
    }
    let listen = vars.iter().find(|(k, _)| k == "WHARF_LISTEN").cloned();
    assert_eq!(
        listen,
        Some(("WHARF_LISTEN".into(), "0.0.0.0:8080".into())),
        "{vars:?}"
    );
    assert!(
        vars.iter().any(|(k, _)| k == "WHARF_WORKER_LISTEN"),
        "{vars:?}"
    );
    assert!(
        dockerfile.contains("USER wharf"),
        "the image runs unprivileged"
    );
    assert!(
        dockerfile.contains("HEALTHCHECK"),
        "the image has a health check"
    );

    let cwd = tempfile::tempdir().unwrap();
    vars.retain(|(k, _)| k != "WHARF_DATA_DIR");
    vars.push(("WHARF_DATA_DIR".into(), cwd.path().display().to_string()));
    let (code, out) = wharf(&["check"], &vars, cwd.path()).await;
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("siwe domain   0.0.0.0:8080"),
        "the summary shows the domain: {out}"
    );
    assert!(out.contains("set WHARF_AUTH__SIWE_DOMAIN"), "{out}");

    // Nothing listens on these loopback ports: not healthy.
    vars.retain(|(k, _)| k != "WHARF_LISTEN" && k != "WHARF_WORKER_LISTEN");
    vars.push(("WHARF_LISTEN".into(), "127.0.0.1:1".into()));
    vars.push(("WHARF_WORKER_LISTEN".into(), "127.0.0.1:1".into()));
    let (code, out) = wharf(&["health"], &vars, cwd.path()).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("not ready"), "{out}");

    // Compose refuses to start without the secrets and mounts a wharf.toml.
    let compose = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docker-compose.yml"),
    )
    .unwrap();
    assert!(compose.contains("${WHARF_ADMIN_API_KEY:?"), "{compose}");
    assert!(compose.contains("${WHARF_WEBCORE_SECRET:?"), "{compose}");
    assert!(!compose.contains("change-me"), "{compose}");
    assert!(
        compose.contains("WHARF_CONFIG: /etc/wharf/wharf.toml"),
        "{compose}"
    );
    assert!(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docker/wharf.toml")
            .is_file()
    );
}
