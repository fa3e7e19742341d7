//! The `sandbox` executor: a job runs as a local process under bubblewrap. Inputs are mounted
//! read-only at `/data/inputs/<did>/<index>`, the algorithm at `/data/transformations/algorithm`,
//! outputs go to `/data/outputs`; the host's `/usr` (and so its python3 and node) is read-only;
//! every namespace is new (no network: its own, empty, network namespace); nothing of the host
//! but `/usr` is visible.
//!
//! Limits: per-process CPU time, address space and file size, and the number of processes, as
//! rlimits (`prlimit`); when wharf runs as root the job also runs as a user of its own
//! (`setpriv`), so the process limit counts only its processes. A supervisor kills the whole
//! sandbox (bwrap, and with it the job's PID namespace) past the wall-clock limit, when the
//! outputs grow past their limit, when its processes outnumber the limit, or on a stop.
use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use tokio::io::AsyncReadExt;

use crate::config::SandboxLimits;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{0} is not installed (Debian package {1})")]
    Missing(&'static str, &'static str),
    #[error("bubblewrap cannot start a sandbox here: {0}")]
    Unusable(String),
    #[error("cannot prepare the job's directory: {0}")]
    Io(#[from] std::io::Error),
}

/// What a finished run was.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Why the job failed, if it did (also written at the end of its log).
    pub failure: Option<String>,
    /// Seconds it ran.
    pub seconds: f64,
}

/// One job's directories on the host.
#[derive(Debug, Clone)]
pub struct JobDirs {
    pub root: PathBuf,
    pub inputs: PathBuf,
    pub transformations: PathBuf,
    pub outputs: PathBuf,
    pub log: PathBuf,
}

impl JobDirs {
    pub fn create(work_dir: &Path, job_id: &str) -> Result<Self, SandboxError> {
        let root = work_dir.join(job_id);
        let dirs = JobDirs {
            inputs: root.join("inputs"),
            transformations: root.join("transformations"),
            outputs: root.join("outputs"),
            log: root.join("algorithm.log"),
            root,
        };
        for dir in [&dirs.inputs, &dirs.transformations, &dirs.outputs] {
            std::fs::create_dir_all(dir)?;
        }
        // The job may run as another user: it reads its inputs and writes its outputs.
        set_mode(&dirs.root, 0o755)?;
        set_mode(&dirs.outputs, 0o777)?;
        Ok(dirs)
    }

    /// Makes everything staged readable by the job's user.
    pub fn open_up(&self) -> Result<(), SandboxError> {
        for dir in [&self.inputs, &self.transformations] {
            for entry in walk(dir)? {
                let mode = if entry.is_dir() { 0o755 } else { 0o644 };
                set_mode(&entry, mode)?;
            }
            set_mode(dir, 0o755)?;
        }
        Ok(())
    }

    pub fn remove(&self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

/// Every file and directory under `dir`.
pub fn walk(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current)? {
            let path = entry?.path();
            if path.is_dir() && !path.is_symlink() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    Ok(out)
}

fn size_of(dir: &Path) -> u64 {
    walk(dir)
        .unwrap_or_default()
        .iter()
        .filter_map(|p| std::fs::symlink_metadata(p).ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

/// Processes descending from `root` (itself included), from /proc.
fn descendants(root: u32) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut parent_of = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(after) = stat.rsplit_once(')').map(|(_, a)| a)
            && let Some(ppid) = after
                .split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
        {
            parent_of.push((pid, ppid));
        }
    }
    let mut inside = vec![root];
    let mut grew = true;
    while grew {
        grew = false;
        for (pid, ppid) in &parent_of {
            if inside.contains(ppid) && !inside.contains(pid) {
                inside.push(*pid);
                grew = true;
            }
        }
    }
    inside.len()
}

/// Users jobs run as when wharf is root, one per job at a time.
static NEXT_UID: AtomicU32 = AtomicU32::new(0);
const FIRST_UID: u32 = 110_000;
const UIDS: u32 = 10_000;

#[derive(Debug, Clone)]
pub struct Sandbox {
    bwrap: PathBuf,
    prlimit: PathBuf,
    setpriv: PathBuf,
    /// Whether jobs run as users of their own (wharf runs as root).
    own_users: bool,
}

fn find(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|p| p.is_file())
    })
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl Sandbox {
    /// Finds the tools and runs a trivial sandbox once: an environment that cannot start is
    /// refused at start-up, not at its first job.
    pub async fn check() -> Result<Sandbox, SandboxError> {
        let bwrap = find("bwrap").ok_or(SandboxError::Missing("bwrap", "bubblewrap"))?;
        let prlimit = find("prlimit").ok_or(SandboxError::Missing("prlimit", "util-linux"))?;
        let setpriv = find("setpriv").ok_or(SandboxError::Missing("setpriv", "util-linux"))?;
        let sandbox = Sandbox {
            bwrap,
            prlimit,
            setpriv,
            own_users: is_root(),
        };
        let probe = tempfile_dir()?;
        let dirs = JobDirs::create(&probe, "probe")?;
        let mut command = sandbox.command(&dirs, &SandboxLimits::default(), &[], &["/bin/true"]);
        let output = tokio::time::timeout(Duration::from_secs(20), command.output())
            .await
            .map_err(|_| SandboxError::Unusable("the probe did not finish in 20 s".into()))??;
        let _ = std::fs::remove_dir_all(&probe);
        if !output.status.success() {
            return Err(SandboxError::Unusable(
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ));
        }
        Ok(sandbox)
    }

    /// The command line: limits, the job's user, the sandbox, then `argv`.
    fn command(
        &self,
        dirs: &JobDirs,
        limits: &SandboxLimits,
        env: &[(&str, String)],
        argv: &[&str],
    ) -> tokio::process::Command {
        // setpriv: the sandbox dies with wharf (parent-death signal, kept through the execs
        // of prlimit and bwrap), and as root runs as a user of its own so that the process
        // limit counts only the job's processes.
        let mut command = tokio::process::Command::new(&self.setpriv);
        command.args(["--pdeathsig", "KILL"]);
        if self.own_users {
            let uid = FIRST_UID + NEXT_UID.fetch_add(1, Ordering::Relaxed) % UIDS;
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={uid}"))
                .arg("--clear-groups");
        }
        command.arg("--").arg(&self.prlimit);
        let mib = |m: u64| (m.saturating_mul(1 << 20)).to_string();
        command
            .arg(format!("--nproc={}", limits.processes))
            .arg(format!("--as={}", mib(limits.memory_mb)))
            // SIGXCPU at the soft limit (its reason shows), SIGKILL a second later.
            .arg(format!("--cpu={}:{}", limits.cpu_secs, limits.cpu_secs + 1))
            .arg(format!("--fsize={}", mib(limits.output_mb)))
            .arg("--core=0")
            .arg("--")
            .arg(&self.bwrap)
            .args([
                "--unshare-all",
                "--die-with-parent",
                "--new-session",
                "--ro-bind",
                "/usr",
                "/usr",
            ]);
        // Merged-/usr systems link these into /usr; others have them as directories.
        for top in ["/bin", "/sbin", "/lib", "/lib32", "/lib64"] {
            match std::fs::read_link(top) {
                Ok(target) => {
                    command.args(["--symlink"]).arg(target).arg(top);
                }
                Err(_) if Path::new(top).is_dir() => {
                    command.args(["--ro-bind", top, top]);
                }
                Err(_) => {}
            }
        }
        command
            .args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"])
            .arg("--ro-bind")
            .arg(&dirs.inputs)
            .arg("/data/inputs")
            .arg("--ro-bind")
            .arg(&dirs.transformations)
            .arg("/data/transformations")
            .arg("--bind")
            .arg(&dirs.outputs)
            .arg("/data/outputs")
            .args(["--chdir", "/data", "--clearenv"])
            .args(["--setenv", "HOME", "/tmp"])
            .args(["--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin"])
            .args(["--setenv", "LANG", "C.UTF-8"]);
        for (name, value) in env {
            command.args(["--setenv", name]).arg(value);
        }
        command.arg("--").args(argv);
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `argv` in the sandbox until it ends or is killed. `keep_going` is asked every
    /// half second (renewing the job's lease): `false` stops the job.
    pub async fn run<F, Fut>(
        &self,
        dirs: &JobDirs,
        limits: &SandboxLimits,
        wall: Duration,
        env: &[(&str, String)],
        argv: &[&str],
        mut keep_going: F,
    ) -> Result<Outcome, SandboxError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let started = Instant::now();
        let mut child = self.command(dirs, limits, env, argv).spawn()?;
        let log_limit = limits.log_kb.saturating_mul(1024);
        let mut log = tokio::fs::File::create(&dirs.log).await?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
        for stream in [
            stdout.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            stderr.map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
        ]
        .into_iter()
        .flatten()
        {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut stream = stream;
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || tx.send(buf[..n].to_vec()).await.is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let pid = child.id().unwrap_or(0);
        let mut written = 0u64;
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut ticks = 0u64;
        let mut killed: Option<String> = None;
        let mut open = true;
        let status = loop {
            tokio::select! {
                chunk = rx.recv(), if open => {
                    match chunk {
                        Some(chunk) => {
                            use tokio::io::AsyncWriteExt;
                            let room = log_limit.saturating_sub(written) as usize;
                            if room > 0 {
                                let part = &chunk[..chunk.len().min(room)];
                                log.write_all(part).await?;
                                written += part.len() as u64;
                            }
                        }
                        None => open = false,
                    }
                    continue;
                }
                status = child.wait() => break status?,
                _ = tick.tick() => {}
            }
            ticks += 1;
            let reason = if started.elapsed() > wall {
                Some(format!("wall time limit of {} s exceeded", wall.as_secs()))
            } else if ticks.is_multiple_of(2)
                && pid != 0
                && descendants(pid) > limits.processes as usize
            {
                Some(format!("more than {} processes", limits.processes))
            } else if ticks.is_multiple_of(5) && size_of(&dirs.outputs) > limits.output_mb << 20 {
                Some(format!("outputs over {} MiB", limits.output_mb))
            } else if ticks.is_multiple_of(5) && !keep_going().await {
                Some("stopped".to_string())
            } else {
                None
            };
            if let Some(reason) = reason {
                let _ = child.start_kill();
                killed = Some(reason);
                break child.wait().await?;
            }
        };
        // What the algorithm wrote last.
        while let Ok(Some(chunk)) =
            tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
        {
            use tokio::io::AsyncWriteExt;
            let room = log_limit.saturating_sub(written) as usize;
            if room > 0 {
                let part = &chunk[..chunk.len().min(room)];
                log.write_all(part).await?;
                written += part.len() as u64;
            }
        }
        let failure = killed.or_else(|| explain(&status, limits));
        if let Some(reason) = &failure {
            use tokio::io::AsyncWriteExt;
            let line = if reason == "stopped" {
                "\n[wharf] the job was stopped\n".to_string()
            } else {
                format!("\n[wharf] the job failed: {reason}\n")
            };
            log.write_all(line.as_bytes()).await?;
        }
        {
            use tokio::io::AsyncWriteExt;
            let _ = log.flush().await;
        }
        Ok(Outcome {
            failure,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Why a process that ended on its own failed, if it did.
fn explain(status: &std::process::ExitStatus, limits: &SandboxLimits) -> Option<String> {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        return None;
    }
    Some(match (status.code(), status.signal()) {
        (_, Some(24)) => format!("CPU time limit of {} s exceeded", limits.cpu_secs),
        (_, Some(25)) => format!("an output file exceeded {} MiB", limits.output_mb),
        (_, Some(signal)) => format!("killed by signal {signal}"),
        // bwrap reports a signal-killed child as 128 + signal.
        (Some(code), _) if code == 128 + 24 => {
            format!("CPU time limit of {} s exceeded", limits.cpu_secs)
        }
        (Some(code), _) if code == 128 + 25 => {
            format!("an output file exceeded {} MiB", limits.output_mb)
        }
        (Some(code), _) => format!("the algorithm exited with code {code}"),
        (None, None) => "the algorithm ended abnormally".to_string(),
    })
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("wharf-sandbox-probe-{}", ulid::Ulid::generate()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
