//! Multi-GiB consistency, ignored by default (run before landing with
//! `cargo test --release -p wharf-content --test large -- --ignored`): 5 GiB through the
//! one-pass ingest, checked against each computation done on its own.
use sha2::{Digest, Sha256};
use wharf_content::{FileBuilder, Ingest, Profile, car, commp::CommP, varint};

const GIB: u64 = 1 << 30;

/// Streams `total` pseudo-random bytes in 1 MiB pieces.
fn stream(total: u64, mut each: impl FnMut(&[u8])) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut buf = vec![0u8; 1 << 20];
    let mut left = total;
    while left > 0 {
        for word in buf.chunks_exact_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes());
        }
        let n = left.min(buf.len() as u64) as usize;
        each(&buf[..n]);
        left -= n as u64;
    }
}

#[test]
#[ignore = "5 GiB: run with --release --ignored before landing"]
fn five_gib_one_pass_equals_separate_passes() {
    let total = 5 * GIB + 12_345;
    let mut ingest = Ingest::new(Profile::KUBO)
        .with_sha256()
        .with_commp(CommP::available_threads());
    let mut car_body = Vec::new();
    let mut locations = Vec::new();
    let mut sections = 0u64;
    let mut body_bytes = 0u64;
    stream(total, |p| {
        ingest.write(p, &mut car_body);
        // Walk the sections written so far: every one parses and none is held on to.
        let mut pos = 0;
        while pos < car_body.len() {
            let (len, n) = varint::decode(&car_body[pos..]).unwrap();
            pos += n + len as usize;
            sections += 1;
        }
        assert_eq!(pos, car_body.len());
        body_bytes += car_body.len() as u64;
        car_body.clear();
        locations.append(&mut ingest.take_locations());
        locations.clear();
    });
    let summary = ingest.finish(&mut car_body, &mut locations);
    body_bytes += car_body.len() as u64;

    let mut sha = Sha256::new();
    stream(total, |p| sha.update(p));
    assert_eq!(summary.sha256, Some(sha.finalize().into()));

    let mut builder = FileBuilder::cid_only(Profile::KUBO);
    let mut sink = Vec::new();
    stream(total, |p| {
        builder.write(p, &mut sink);
        sink.clear();
    });
    assert_eq!(summary.root, builder.finish(&mut sink).cid);

    let mut single = CommP::new();
    stream(total, |p| single.write(p));
    let single = single.finish();
    assert_eq!(summary.piece, Some(single));
    assert_eq!(summary.piece.map(|p| p.padded_size), Some(8 * GIB));
    assert_eq!(summary.size, total);
    assert_eq!(summary.car_body_bytes, body_bytes);
    assert!(sections >= total / 262_144);
    assert_eq!(car::header(&[summary.root]).len(), 59);
}
