//! Throughput of the content-addressing engine against plain sha256 on the same machine, in one
//! run, and CommP against its own per-core limit: the SHA-256 compression rate measured here,
//! at 4 compressions per 64 padded bytes (each 64-byte node pair hashes as 2 blocks, and a
//! binary tree has about one node per leaf). With `BENCH_SUMMARY` set, the CommP figures are
//! appended to that file for `bench/compare`.
//! Usage: `cargo run --release -p wharf-content --example throughput [MiB]` (default 1024).
use std::time::Instant;

use sha2::{Digest, Sha256};
use wharf_content::{FileBuilder, Ingest, Profile, commp::CommP};

fn data(mib: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut out = Vec::with_capacity(mib << 20);
    while out.len() < mib << 20 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out
}

fn rate(label: &str, bytes: usize, base: Option<f64>, f: impl FnOnce()) -> f64 {
    let start = Instant::now();
    f();
    let secs = start.elapsed().as_secs_f64();
    let gbps = bytes as f64 / secs / 1e9;
    match base {
        Some(b) => println!("{label:<44} {gbps:>7.3} GB/s  {:>5.2}x sha256", gbps / b),
        None => println!("{label:<44} {gbps:>7.3} GB/s  (the limit)"),
    }
    gbps
}

fn feed(data: &[u8], mut each: impl FnMut(&[u8])) {
    for piece in data.chunks(1 << 20) {
        each(piece);
    }
}

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1024);
    let input = data(mib);
    let n = input.len();
    let threads = CommP::available_threads();
    println!("input {mib} MiB, {threads} threads");
    let sha = rate("sha256 (one core)", n, None, || {
        let mut h = Sha256::new();
        feed(&input, |p| h.update(p));
        std::hint::black_box(h.finalize());
    });
    for (label, profile) in [
        ("UnixFS CID, kubo profile", Profile::KUBO),
        ("UnixFS CID, v1-2025 profile", Profile::V1_2025),
    ] {
        rate(label, n, Some(sha), || {
            let mut b = FileBuilder::cid_only(profile);
            let mut out = Vec::new();
            feed(&input, |p| {
                b.write(p, &mut out);
                out.clear();
            });
            std::hint::black_box(b.finish(&mut out));
        });
    }
    let limit = wharf_content::commp::limit_per_core(&input) / 1e9;
    println!(
        "{:<44} {limit:>7.3} GB/s  (CommP per-core limit: 4 compressions / 64 padded bytes)",
        "sha256 compressions x 16 x 127/128"
    );
    let one = rate("CommP, one thread", n, Some(sha), || {
        let mut c = CommP::new();
        feed(&input, |p| c.write(p));
        std::hint::black_box(c.finish());
    });
    let all = rate(&format!("CommP, {threads} threads"), n, Some(sha), || {
        let mut c = CommP::with_threads(threads);
        feed(&input, |p| c.write(p));
        std::hint::black_box(c.finish());
    });
    let per_core_one = one / limit;
    let per_core_all = all / (limit * threads as f64);
    println!(
        "CommP stage per core: one thread {per_core_one:.2} of the limit, {threads} threads {per_core_all:.2} of the limit on each core"
    );
    if let Ok(path) = std::env::var("BENCH_SUMMARY") {
        use std::io::Write;
        let line = format!(
            "CommP, one thread (GB/s)\t{one:.3}\t{per_core_one:.4}\nCommP, {threads} threads (GB/s)\t{all:.3}\t{per_core_all:.4}\n"
        );
        let written = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = written {
            eprintln!("cannot append to {path}: {e}");
        }
    }
    rate("one pass: sha256 + CID + CAR + CommP", n, Some(sha), || {
        let mut ingest = Ingest::new(Profile::KUBO).with_sha256().with_commp(threads);
        let mut car = Vec::with_capacity(2 << 20);
        let mut locations = Vec::new();
        feed(&input, |p| {
            ingest.write(p, &mut car);
            car.clear();
            locations.append(&mut ingest.take_locations());
            locations.clear();
        });
        std::hint::black_box(ingest.finish(&mut car, &mut locations));
    });
}
