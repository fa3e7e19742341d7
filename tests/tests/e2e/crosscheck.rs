//! Our CIDs, piece CIDs and CARs against the JavaScript reference implementations from npm
//! (ipfs-unixfs-importer, @web3-storage/data-segment, @ipld/car), on generated files of sizes
//! around every boundary. The test installs them from tests/js/package-lock.json.
use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use serde_json::Value;
use wharf_tests::{ensure_npm_packages, wharf_bin};

fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Deterministic bytes that do not repeat within a chunk (xorshift).
fn generate(path: &Path, size: usize, seed: u64) {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(size);
    while data.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(size);
    std::fs::write(path, data).unwrap();
}

fn wharf_json(args: &[&str]) -> Value {
    let out = Command::new(wharf_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "wharf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn run_node(jobs: &[String]) -> Vec<Value> {
    let mut child = Command::new("node")
        .arg(js_dir().join("crosscheck.mjs"))
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node is installed");
    {
        let mut stdin = child.stdin.take().unwrap();
        for job in jobs {
            writeln!(stdin, "{job}").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn cids_piece_cids_and_cars_match_the_javascript_references() {
    ensure_npm_packages();
    let dir = tempfile::tempdir().unwrap();
    let chunk = 262_144usize;
    let sizes = [
        0,
        1,
        11,
        65,
        127,
        128,
        254,
        1000,
        chunk - 1,
        chunk,
        chunk + 1,
        1_048_575,
        1_048_576,
        1_048_577,
        174 * chunk,
        174 * chunk + 1,
        3_000_000,
    ];
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    for (i, size) in sizes.iter().enumerate() {
        let file = dir.path().join(format!("f{size}.bin"));
        generate(&file, *size, i as u64 + 1);
        let path = file.to_str().unwrap();
        for profile in ["kubo", "v1-2025"] {
            let ours = wharf_json(&["cid", "--json", "--profile", profile, path]);
            jobs.push(format!("cid {profile} {path}"));
            expected.push(("cid", ours[0]["cid"].clone()));
        }
        if *size >= 65 && *size <= 3_000_000 {
            let ours = wharf_json(&["commp", "--json", path]);
            jobs.push(format!("commp {path}"));
            expected.push(("commp", ours.clone()));
        }
        if [0, 1000, chunk + 1, 3_000_000].contains(size) {
            let car = dir.path().join(format!("f{size}.car"));
            let ours = wharf_json(&["car", "--json", path, "-o", car.to_str().unwrap()]);
            jobs.push(format!("car {}", car.display()));
            expected.push(("car", ours));
        }
    }
    // A directory of several files, both ways.
    let names: Vec<(String, PathBuf)> = ["b.txt", "a.txt", "c d.bin"]
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = dir.path().join(n);
            generate(&p, 1000 * (i + 1), 99 + i as u64);
            (n.to_string(), p)
        })
        .collect();
    let car = dir.path().join("dir.car");
    let mut args = vec!["car".to_string(), "--json".to_string()];
    args.extend(names.iter().map(|(_, p)| p.display().to_string()));
    args.extend(["-o".to_string(), car.display().to_string()]);
    let ours = wharf_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    jobs.push(format!("car {}", car.display()));
    expected.push(("car", ours));

    let results = run_node(&jobs);
    assert_eq!(results.len(), jobs.len());
    for ((kind, ours), theirs) in expected.iter().zip(&results) {
        assert!(theirs["error"].is_null(), "{theirs}");
        match *kind {
            "cid" => assert_eq!(ours, &theirs["cid"], "{}", theirs["job"]),
            "commp" => {
                assert_eq!(ours["pieceCid"], theirs["v1"], "{}", theirs["job"]);
                assert_eq!(ours["pieceCidV2"], theirs["v2"], "{}", theirs["job"]);
                assert_eq!(
                    ours["paddedPieceSize"], theirs["padded"],
                    "{}",
                    theirs["job"]
                );
            }
            "car" => {
                assert_eq!(theirs["verified"], true, "{}", theirs["job"]);
                assert_eq!(theirs["roots"][0], ours["root"], "{}", theirs["job"]);
                assert_eq!(theirs["blocks"], ours["blocks"], "{}", theirs["job"]);
            }
            _ => unreachable!(),
        }
    }

    // The directory root matches the importer's wrapped directory of the same files (names
    // with spaces cannot travel in a whitespace-separated job line, so two of the three).
    let ab: Vec<String> = names
        .iter()
        .filter(|(n, _)| !n.contains(' '))
        .map(|(n, p)| format!("{}={}", n, p.display()))
        .collect();
    let ab_car = dir.path().join("ab.car");
    let ours = wharf_json(&[
        "car",
        "--json",
        names[0].1.to_str().unwrap(),
        names[1].1.to_str().unwrap(),
        "-o",
        ab_car.to_str().unwrap(),
    ]);
    let theirs = run_node(&[format!("dir kubo {}", ab.join(" "))]);
    assert_eq!(ours["root"], theirs[0]["cid"], "{}", theirs[0]);
}
