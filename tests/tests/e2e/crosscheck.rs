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

pub(crate) fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Deterministic bytes that do not repeat within a chunk (xorshift).
pub(crate) fn generate(path: &Path, size: usize, seed: u64) {
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

pub(crate) fn wharf_json(args: &[&str]) -> Value {
    let out = Command::new(wharf_bin()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "wharf {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn run_node(jobs: &[String]) -> Vec<Value> {
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

/// `wharf cid DIR` and `wharf car DIR` walk a nested directory as `ipfs add -r` and ipfs-car
/// do (entries in name order, hidden ones left out): the same root as the JavaScript
/// importer's for the same tree; and `-` reads stdin.
#[test]
fn nested_directories_and_stdin_match_the_javascript_importer() {
    ensure_npm_packages();
    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("top");
    let files = [
        ("a.txt", 10usize),
        ("sub/b.bin", 300_000),
        ("sub/deeper/c.txt", 1),
        ("z.bin", 262_145),
        ("sub/empty.txt", 0),
    ];
    for (i, (name, size)) in files.iter().enumerate() {
        let path = top.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        generate(&path, *size, 500 + i as u64);
    }
    // Left out, as `ipfs add -r` without --hidden leaves it out.
    std::fs::write(top.join(".hidden"), b"secret").unwrap();

    let entries: Vec<String> = files
        .iter()
        .map(|(name, _)| format!("{name}={}", top.join(name).display()))
        .collect();
    let theirs = run_node(&[format!("dir kubo {}", entries.join(" "))]);
    assert!(theirs[0]["error"].is_null(), "{}", theirs[0]);

    let top_arg = top.to_str().unwrap();
    let ours = wharf_json(&["cid", "--json", top_arg]);
    assert_eq!(ours[0]["cid"], theirs[0]["cid"], "wharf cid DIR");
    let car = dir.path().join("top.car");
    let packed = wharf_json(&["car", "--json", top_arg, "-o", car.to_str().unwrap()]);
    assert_eq!(packed["root"], theirs[0]["cid"], "wharf car DIR");
    let checked = run_node(&[format!("car {}", car.display())]);
    assert_eq!(checked[0]["verified"], true, "{}", checked[0]);
    assert_eq!(checked[0]["roots"][0], theirs[0]["cid"]);
    assert_eq!(checked[0]["blocks"], packed["blocks"]);

    // With --hidden the hidden file counts, and the root changes.
    let with_hidden = wharf_json(&["cid", "--json", "--hidden", top_arg]);
    assert_ne!(with_hidden[0]["cid"], ours[0]["cid"]);

    // stdin: the same CID as the file it came from.
    let file = top.join("sub/b.bin");
    let mut child = Command::new(wharf_bin())
        .args(["cid", "--json", "-"])
        .stdin(std::fs::File::open(&file).unwrap())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    use std::io::Read;
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let from_stdin: Value = serde_json::from_str(&out).unwrap();
    let from_file = wharf_json(&["cid", "--json", file.to_str().unwrap()]);
    assert_eq!(from_stdin[0]["cid"], from_file[0]["cid"]);
}
