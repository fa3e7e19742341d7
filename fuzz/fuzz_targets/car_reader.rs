//! Arbitrary bytes as a CAR v1: `CarReader::new` + `verify_all` and a `next_block` walk must
//! never panic, must agree with each other, and must not depend on how the input is split
//! into `read` calls.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use wharf_content::car::{CarError, CarReader, CarSummary};

/// A reader that hands out at most `step` bytes per call and interrupts every other call,
/// to check that short reads and `ErrorKind::Interrupted` change nothing.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 2 == 0 {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let n = self.step.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

fn verify<R: Read>(input: R) -> Result<CarSummary, String> {
    CarReader::new(input)
        .and_then(CarReader::verify_all)
        .map_err(|e: CarError| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let whole = verify(data);

    // Same bytes, trickled in: the result (including error text and offsets) must match.
    let step = data.first().map_or(1, |b| usize::from(b % 7) + 1);
    let trickled = verify(Trickle {
        data,
        step,
        calls: 0,
    });
    assert_eq!(whole, trickled, "result depends on read boundaries (step {step})");

    // Block by block: offsets must point at the block bytes inside the input.
    let Ok(mut reader) = CarReader::new(data) else {
        return;
    };
    let roots = reader.roots().to_vec();
    let mut blocks = 0u64;
    let mut block_bytes = 0u64;
    loop {
        match reader.next_block() {
            Ok(Some(block)) => {
                let start = usize::try_from(block.offset).expect("offset fits usize");
                let end = start + block.data.len();
                assert!(end <= data.len(), "block runs past the input");
                assert_eq!(&data[start..end], &block.data[..], "offset is wrong");
                // The CID just before the block must be the one reported.
                let cid_bytes = block.cid.to_bytes();
                assert!(start >= cid_bytes.len());
                let _ = block.cid.to_string();
                blocks += 1;
                block_bytes += block.data.len() as u64;
            }
            Ok(None) => break,
            Err(e) => {
                let _ = e.to_string();
                assert!(whole.is_err(), "next_block failed but verify_all succeeded");
                return;
            }
        }
    }
    match whole {
        Ok(summary) => {
            assert_eq!(summary.roots, roots);
            assert_eq!(summary.blocks, blocks);
            assert_eq!(summary.block_bytes, block_bytes);
            assert_eq!(summary.car_bytes, data.len() as u64);
        }
        // Every block verified, so only a missing root can fail the whole read.
        Err(e) => assert!(e.starts_with("root "), "unexpected verify_all error: {e}"),
    }
});
