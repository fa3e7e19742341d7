//! The compute sandbox (bubblewrap from Debian, Python 3 from the host) against hostile
//! algorithms: each is contained, ends with its reason in the log, and leaves the host as it
//! was — no host file read, no packet to a listener the test holds, no process left behind.
use std::{path::Path, time::Duration};

use wharf_core::{
    compute::sandbox::{JobDirs, Outcome, Sandbox},
    config::SandboxLimits,
};

async fn sandbox() -> Sandbox {
    wharf_tests::ensure_bubblewrap();
    Sandbox::check()
        .await
        .expect("bubblewrap can start a sandbox here")
}

fn small_limits() -> SandboxLimits {
    SandboxLimits {
        cpu_secs: 5,
        memory_mb: 256,
        processes: 16,
        output_mb: 8,
        log_kb: 64,
        input_mb: 16,
    }
}

/// Runs a Python algorithm in a fresh job directory; returns the outcome, the log and the
/// directories (for the outputs).
async fn run_python(
    sandbox: &Sandbox,
    work: &Path,
    code: &str,
    limits: &SandboxLimits,
    wall: Duration,
) -> (Outcome, String, JobDirs) {
    let (outcome, log, dirs, _) = run_marked(sandbox, work, code, limits, wall).await;
    (outcome, log, dirs)
}

/// As [`run_python`]; the algorithm's command line carries a marker of its own (returned),
/// so its processes can be told from other tests'.
async fn run_marked(
    sandbox: &Sandbox,
    work: &Path,
    code: &str,
    limits: &SandboxLimits,
    wall: Duration,
) -> (Outcome, String, JobDirs, String) {
    let marker = uuid::Uuid::new_v4().simple().to_string();
    let dirs = JobDirs::create(work, &marker).unwrap();
    std::fs::create_dir_all(dirs.inputs.join("did:op:test")).unwrap();
    std::fs::write(dirs.inputs.join("did:op:test").join("0"), b"1,2,3\n").unwrap();
    std::fs::write(dirs.transformations.join("algorithm"), code).unwrap();
    dirs.open_up().unwrap();
    let outcome = sandbox
        .run(
            &dirs,
            limits,
            wall,
            &[("DIDS", "[\"did:op:test\"]".to_string())],
            &[
                "/bin/sh",
                "-c",
                "python3 $0 $1",
                "/data/transformations/algorithm",
                &marker,
            ],
            || async { true },
        )
        .await
        .unwrap();
    let log = std::fs::read_to_string(&dirs.log).unwrap_or_default();
    (outcome, log, dirs, marker)
}

/// Processes still running an algorithm marked `marker`.
fn processes_left(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(marker))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test]
async fn an_algorithm_reads_its_inputs_and_writes_outputs() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    let code = r#"
import json, os
dids = json.loads(os.environ["DIDS"])
data = open(f"/data/inputs/{dids[0]}/0").read()
total = sum(int(x) for x in data.strip().split(","))
open("/data/outputs/sum.txt", "w").write(str(total))
print("summed", total)
"#;
    let (outcome, log, dirs) = run_python(
        &sandbox,
        work.path(),
        code,
        &small_limits(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(outcome.failure, None, "log: {log}");
    assert_eq!(
        std::fs::read_to_string(dirs.outputs.join("sum.txt")).unwrap(),
        "6"
    );
    assert!(log.contains("summed 6"), "{log}");
}

#[tokio::test]
async fn host_files_are_out_of_reach() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    // A secret beside the job's directory, and the host's own files.
    let secret = work.path().join("secret.txt");
    std::fs::write(&secret, "host-secret-7c1f").unwrap();
    let code = format!(
        r#"
import os
seen = []
for path in ["/etc/passwd", "/etc/shadow", "/root", {secret:?}, "/proc/1/environ", "/home"]:
    try:
        if os.path.isdir(path):
            seen.append(path + ": " + ",".join(os.listdir(path)))
        else:
            seen.append(path + ": " + open(path).read()[:200])
    except Exception as e:
        print("refused", path, type(e).__name__)
open("/data/outputs/seen.txt", "w").write("\n".join(seen))
try:
    open("/data/inputs/did:op:test/0", "w").write("changed")
    print("inputs writable")
except Exception as e:
    print("inputs read-only", type(e).__name__)
try:
    open("/usr/wharf-was-here", "w").write("x")
    print("usr writable")
except Exception as e:
    print("usr read-only", type(e).__name__)
raise SystemExit(3)
"#,
        secret = secret.display().to_string()
    );
    let (outcome, log, dirs) = run_python(
        &sandbox,
        work.path(),
        &code,
        &small_limits(),
        Duration::from_secs(30),
    )
    .await;
    let seen = std::fs::read_to_string(dirs.outputs.join("seen.txt")).unwrap_or_default();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let first_line = passwd.lines().next().unwrap();
    assert!(
        !seen.contains(first_line),
        "the host's /etc/passwd leaked: {seen}"
    );
    assert!(
        !seen.contains("host-secret-7c1f"),
        "a host file leaked: {seen}"
    );
    assert!(log.contains("refused /etc/passwd"), "{log}");
    assert!(log.contains("inputs read-only"), "{log}");
    assert!(log.contains("usr read-only"), "{log}");
    assert!(!Path::new("/usr/wharf-was-here").exists());
    assert_eq!(
        std::fs::read_to_string(dirs.inputs.join("did:op:test").join("0")).unwrap(),
        "1,2,3\n"
    );
    let failure = outcome.failure.expect("exit 3 is a failure");
    assert!(failure.contains("exited with code 3"), "{failure}");
    assert!(
        log.contains("[wharf] the job failed: the algorithm exited with code 3"),
        "{log}"
    );
}

#[tokio::test]
async fn no_packet_reaches_a_listener_on_the_host() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let code = format!(
        r#"
import socket
for host in ["127.0.0.1", "localhost", "10.0.2.2"]:
    try:
        s = socket.create_connection((host, {port}), timeout=2)
        s.sendall(b"hello from the sandbox")
        print("connected", host)
    except Exception as e:
        print("no network to", host, type(e).__name__)
raise SystemExit(1)
"#
    );
    let (outcome, log, _dirs) = run_python(
        &sandbox,
        work.path(),
        &code,
        &small_limits(),
        Duration::from_secs(30),
    )
    .await;
    assert!(!log.contains("connected"), "{log}");
    assert!(log.contains("no network to 127.0.0.1"), "{log}");
    assert!(outcome.failure.is_some());
    let accepted = tokio::time::timeout(Duration::from_millis(500), listener.accept()).await;
    assert!(accepted.is_err(), "the listener saw a connection");
}

#[tokio::test]
async fn a_fork_bomb_is_contained_and_leaves_nothing_behind() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    let code = r#"
import os, time
print("forking", flush=True)
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"#;
    let started = std::time::Instant::now();
    let (outcome, log, _dirs, marker) = run_marked(
        &sandbox,
        work.path(),
        code,
        &small_limits(),
        Duration::from_secs(4),
    )
    .await;
    let failure = outcome.failure.expect("a fork bomb fails");
    assert!(
        failure.contains("processes") || failure.contains("time limit"),
        "{failure}"
    );
    assert!(log.contains("[wharf] the job failed"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // The host can still start processes, and none of the bomb's survive.
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processes_left(&marker), 0);
}

#[tokio::test]
async fn memory_output_cpu_and_wall_limits_end_the_job_with_their_reason() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    let limits = small_limits();

    // Memory past the limit: the allocation fails.
    let (outcome, log, _) = run_python(
        &sandbox,
        work.path(),
        "x = bytearray(1024 * 1024 * 1024)\nprint('allocated')",
        &limits,
        Duration::from_secs(30),
    )
    .await;
    assert!(outcome.failure.is_some());
    assert!(log.contains("MemoryError"), "{log}");
    assert!(!log.contains("allocated"), "{log}");

    // One file past the output limit: the write fails.
    let (outcome, log, dirs) = run_python(
        &sandbox,
        work.path(),
        "f = open('/data/outputs/big', 'wb')\nfor _ in range(64):\n    f.write(b'x' * (1 << 20))\nprint('wrote it all')",
        &limits,
        Duration::from_secs(30),
    )
    .await;
    let failure = outcome.failure.expect("too big an output fails");
    assert!(!log.contains("wrote it all"), "{log}");
    assert!(
        failure.contains("8 MiB") || log.contains("File too large"),
        "{failure} / {log}"
    );
    let written = std::fs::metadata(dirs.outputs.join("big"))
        .map(|m| m.len())
        .unwrap_or(0);
    assert!(written <= 8 << 20, "{written} bytes written");

    // Many files past the output limit together: the supervisor stops it.
    let (outcome, _, _) = run_python(
        &sandbox,
        work.path(),
        "import time\nfor i in range(64):\n    open(f'/data/outputs/part{i}', 'wb').write(b'x' * (1 << 20))\n    time.sleep(0.05)\ntime.sleep(5)",
        &limits,
        Duration::from_secs(30),
    )
    .await;
    let failure = outcome.failure.expect("too many outputs fail");
    assert!(failure.contains("outputs over 8 MiB"), "{failure}");

    // CPU past its limit.
    let (outcome, log, _) = run_python(
        &sandbox,
        work.path(),
        "while True:\n    pass",
        &SandboxLimits {
            cpu_secs: 1,
            ..limits.clone()
        },
        Duration::from_secs(30),
    )
    .await;
    let failure = outcome.failure.expect("a busy loop fails");
    assert!(failure.contains("CPU time limit of 1 s"), "{failure}");
    assert!(log.contains("CPU time limit"), "{log}");

    // Wall time past its limit, without using CPU.
    let started = std::time::Instant::now();
    let (outcome, log, _, marker) = run_marked(
        &sandbox,
        work.path(),
        "import time\ntime.sleep(60)",
        &limits,
        Duration::from_secs(2),
    )
    .await;
    let failure = outcome.failure.expect("a sleeper is stopped");
    assert!(failure.contains("wall time limit of 2 s"), "{failure}");
    assert!(log.contains("wall time limit"), "{log}");
    assert!(started.elapsed() < Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(processes_left(&marker), 0);
}

#[tokio::test]
async fn a_stop_kills_the_job_at_once() {
    let sandbox = sandbox().await;
    let work = tempfile::tempdir().unwrap();
    let dirs = JobDirs::create(work.path(), "stopped").unwrap();
    std::fs::write(
        dirs.transformations.join("algorithm"),
        "import time\ntime.sleep(60)",
    )
    .unwrap();
    dirs.open_up().unwrap();
    let started = std::time::Instant::now();
    let outcome = sandbox
        .run(
            &dirs,
            &small_limits(),
            Duration::from_secs(60),
            &[],
            &[
                "/bin/sh",
                "-c",
                "python3 $0",
                "/data/transformations/algorithm",
            ],
            || async move { started.elapsed() < Duration::from_secs(1) },
        )
        .await
        .unwrap();
    assert_eq!(outcome.failure.as_deref(), Some("stopped"));
    assert!(started.elapsed() < Duration::from_secs(5));
}
