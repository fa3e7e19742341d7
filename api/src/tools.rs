//! Local content-addressing tools: `wharf cid`, `wharf commp`, `wharf car`. They read files
//! in one streaming pass and never hold a whole file in memory.
use std::{
    fs::File,
    io::{BufWriter, IsTerminal, Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use wharf_content::{
    Cid, DirectoryBuilder, FileBuilder, Profile, car,
    commp::CommP,
    unixfs::{Block, Node},
};

const READ_CHUNK: usize = 4 * 1024 * 1024;
/// Files at least this large get a progress bar on a terminal.
const PROGRESS_FROM: u64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown profile {0:?}: use kubo, v1-2025 or kubo-v0")]
    Profile(String),
    #[error("{0}")]
    Directory(#[from] wharf_content::unixfs::DirectoryError),
    #[error("{path}: {source}")]
    InDirectory {
        path: String,
        #[source]
        source: wharf_content::unixfs::DirectoryError,
    },
    #[error("{0} is not a file name (stdin can only be packed alone)")]
    Name(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ToolError + '_ {
    move |source| ToolError::Io {
        path: path.display().to_string(),
        source,
    }
}

pub fn profile(name: &str) -> Result<Profile, ToolError> {
    Profile::by_name(name).ok_or_else(|| ToolError::Profile(name.to_string()))
}

fn progress(path: &Path, len: u64) -> ProgressBar {
    if len < PROGRESS_FROM || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(path.display().to_string());
    bar
}

/// Reads a file (or stdin for `-`) in chunks, passing each to `each`.
fn read_file(path: &Path, mut each: impl FnMut(&[u8])) -> Result<u64, ToolError> {
    let (mut input, len): (Box<dyn Read>, u64) = if is_stdin(path) {
        (Box::new(std::io::stdin().lock()), 0)
    } else {
        let file = File::open(path).map_err(io_error(path))?;
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        (Box::new(file), len)
    };
    let bar = progress(path, len);
    let mut buf = vec![0u8; READ_CHUNK];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        each(&buf[..n]);
        total += n as u64;
        bar.inc(n as u64);
    }
    bar.finish_and_clear();
    Ok(total)
}

fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// Where the blocks of what is added go: nowhere (`wharf cid`) or into a CAR (`wharf car`).
trait Blocks {
    /// Takes (and empties) `blocks`.
    fn put(&mut self, blocks: &mut Vec<Block>) -> Result<(), ToolError>;
    fn wants_blocks(&self) -> bool;
}

struct Discard;

impl Blocks for Discard {
    fn put(&mut self, blocks: &mut Vec<Block>) -> Result<(), ToolError> {
        blocks.clear();
        Ok(())
    }
    fn wants_blocks(&self) -> bool {
        false
    }
}

/// What `add` walks: hidden entries (names starting with `.`) are left out unless asked for,
/// as `ipfs add -r` and ipfs-car do.
#[derive(Debug, Clone, Copy)]
pub struct Walk {
    pub profile: Profile,
    pub hidden: bool,
}

/// Adds a file, stdin (`-`) or a directory (recursively, entries in name order) and returns
/// its root: the same DAG as `ipfs add -r --cid-version=1` with the profile's settings.
fn add(path: &Path, walk: Walk, sink: &mut dyn Blocks) -> Result<(Node, u64), ToolError> {
    let is_dir = !is_stdin(path) && std::fs::metadata(path).map_err(io_error(path))?.is_dir();
    if !is_dir {
        let mut builder = if sink.wants_blocks() {
            FileBuilder::new(walk.profile)
        } else {
            FileBuilder::cid_only(walk.profile)
        };
        let mut pending: Vec<Block> = Vec::new();
        let mut failed = None;
        let size = read_file(path, |chunk| {
            builder.write(chunk, &mut pending);
            if failed.is_none()
                && let Err(e) = sink.put(&mut pending)
            {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        let root = builder.finish(&mut pending);
        sink.put(&mut pending)?;
        return Ok((root, size));
    }
    let mut entries: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io_error(path))? {
        let entry = entry.map_err(io_error(path))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| ToolError::Name(entry.path().display().to_string()))?;
        if walk.hidden || !name.starts_with('.') {
            entries.push((name, entry.path()));
        }
    }
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut dir = DirectoryBuilder::new();
    let mut size = 0;
    for (name, child) in entries {
        let (node, child_size) = add(&child, walk, sink)?;
        size += child_size;
        dir.add(&name, node).map_err(|e| ToolError::InDirectory {
            path: path.display().to_string(),
            source: e,
        })?;
    }
    let (node, block) = dir.finish(walk.profile);
    sink.put(&mut vec![block])?;
    Ok((node, size))
}

/// `wharf cid PATH...`: the UnixFS CID of each file or directory (`-`: stdin).
pub fn cid(paths: &[PathBuf], walk: Walk, as_json: bool) -> Result<(), ToolError> {
    let mut results = Vec::new();
    for path in paths {
        let (root, size) = add(path, walk, &mut Discard)?;
        results.push((path.display().to_string(), root.cid, size));
    }
    if as_json {
        let items: Vec<_> = results
            .iter()
            .map(|(p, c, s)| json!({"file": p, "cid": c.to_string(), "size": s}))
            .collect();
        println!("{}", serde_json::Value::Array(items));
    } else {
        for (path, cid, _) in &results {
            println!("{cid}  {path}");
        }
    }
    Ok(())
}

/// `wharf commp FILE`: the piece commitment of a file (usually a CAR).
pub fn commp(file: &Path, as_json: bool) -> Result<(), ToolError> {
    let mut commp = CommP::with_threads(CommP::available_threads());
    read_file(file, |chunk| commp.write(chunk))?;
    let piece = commp.finish();
    if as_json {
        println!(
            "{}",
            json!({
                "file": file.display().to_string(),
                "pieceCid": piece.cid_v1().to_string(),
                "pieceCidV2": piece.cid_v2().to_string(),
                "commP": hex::encode(piece.root),
                "payloadSize": piece.payload_size,
                "unpaddedPieceSize": piece.unpadded_size,
                "paddedPieceSize": piece.padded_size,
            })
        );
    } else {
        println!("piece CID        {}", piece.cid_v1());
        println!("piece CID (v2)   {}", piece.cid_v2());
        println!("payload size     {}", piece.payload_size);
        println!("unpadded size    {}", piece.unpadded_size);
        println!("padded size      {}", piece.padded_size);
    }
    Ok(())
}

/// Streams the blocks of a CAR being written and counts them.
struct CarOut<'a> {
    out: BufWriter<File>,
    path: &'a Path,
    blocks: u64,
    section: Vec<u8>,
}

impl Blocks for CarOut<'_> {
    fn put(&mut self, blocks: &mut Vec<Block>) -> Result<(), ToolError> {
        for block in blocks.drain(..) {
            self.section.clear();
            car::append_section(&block.cid, &block.data, &mut self.section);
            self.out
                .write_all(&self.section)
                .map_err(io_error(self.path))?;
            self.blocks += 1;
        }
        Ok(())
    }
    fn wants_blocks(&self) -> bool {
        true
    }
}

/// `wharf car PATH... -o OUT`: a CAR of one file or directory (`-`: stdin), or of a directory
/// holding several.
pub fn car(paths: &[PathBuf], output: &Path, walk: Walk, as_json: bool) -> Result<(), ToolError> {
    let out_file = File::create(output).map_err(io_error(output))?;
    let mut sink = CarOut {
        out: BufWriter::with_capacity(1 << 20, out_file),
        path: output,
        blocks: 0,
        section: Vec::new(),
    };
    // The root is known only at the end: write a header for a placeholder of the same length
    // and rewrite it once the root is known.
    let placeholder = placeholder_root(walk.profile);
    let header = car::header(&[placeholder]);
    sink.out.write_all(&header).map_err(io_error(output))?;
    let mut roots: Vec<(String, Node)> = Vec::new();
    for path in paths {
        let (root, _) = add(path, walk, &mut sink)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| !is_stdin(path))
            .ok_or_else(|| ToolError::Name(path.display().to_string()))
            .map(str::to_string);
        roots.push((name.unwrap_or_default(), root));
    }
    let root: Cid = if roots.len() == 1 {
        roots[0].1.cid
    } else {
        let mut dir = DirectoryBuilder::new();
        for (name, node) in &roots {
            if name.is_empty() {
                return Err(ToolError::Name("-".into()));
            }
            dir.add(name, node.clone())?;
        }
        let (node, block) = dir.finish(walk.profile);
        sink.put(&mut vec![block])?;
        node.cid
    };
    let blocks = sink.blocks;
    let mut file = sink.out.into_inner().map_err(|e| ToolError::Io {
        path: output.display().to_string(),
        source: e.into_error(),
    })?;
    let final_header = car::header(&[root]);
    debug_assert_eq!(final_header.len(), header.len());
    file.seek(SeekFrom::Start(0)).map_err(io_error(output))?;
    file.write_all(&final_header).map_err(io_error(output))?;
    let size = file.seek(SeekFrom::End(0)).map_err(io_error(output))?;
    file.sync_all().map_err(io_error(output))?;
    if as_json {
        println!(
            "{}",
            json!({"root": root.to_string(), "car": output.display().to_string(), "blocks": blocks, "size": size})
        );
    } else {
        println!(
            "{root}  {} ({blocks} blocks, {size} bytes)",
            output.display()
        );
    }
    Ok(())
}

/// A CID with the same encoded length as this profile's roots.
fn placeholder_root(profile: Profile) -> Cid {
    if profile.cid_version == 0 {
        wharf_content::cids::v0_sha256(b"")
    } else {
        wharf_content::cids::v1_sha256(wharf_content::cids::DAG_PB, b"")
    }
}
