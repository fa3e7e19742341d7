//! Builds a valid CAR v1 from the input with the crate's own writer, checks that the reader
//! returns exactly what was written, then mutates it (byte flips, truncations, insertions,
//! deletions, overwrites) as the input says and reads it again, which must not panic. When
//! the only mutations are truncations, the result must be the documented one: a clean
//! shorter CAR at a section boundary, otherwise `Truncated` (or `MissingRoot`).
//!
//! Input layout:
//!   [0] number of blocks (% 9)   [1] roots mode (% 4)   [2] number of mutations (% 6)
//!   then 4 bytes per mutation: kind, position (u16 LE), value
//!   then per block: a kind byte and a length byte, followed by up to that many data bytes.
#![no_main]

use cid::Cid;
use libfuzzer_sys::fuzz_target;
use wharf_content::{
    car::{self, CarError, CarReader},
    cids::{self, DAG_PB, IDENTITY, RAW},
};

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
}

fn block_cid(kind: u8, block: &[u8]) -> Cid {
    match kind % 4 {
        0 => cids::v1_sha256(RAW, block),
        1 => cids::v1_sha256(DAG_PB, block),
        2 => cids::v0_sha256(block),
        _ if block.len() <= 64 => Cid::new_v1(RAW, cids::multihash(IDENTITY, block)),
        _ => cids::v1_sha256(RAW, block),
    }
}

#[derive(Debug, Clone, Copy)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Truncate { at: usize },
    Insert { at: usize, value: u8 },
    Remove { at: usize },
    Overwrite { at: usize, value: u8 },
}

fn apply(car: &mut Vec<u8>, m: Mutation) {
    let len = car.len();
    match m {
        Mutation::Flip { at, mask } if len > 0 => car[at % len] ^= mask,
        Mutation::Truncate { at } => car.truncate(at % (len + 1)),
        Mutation::Insert { at, value } => car.insert(at % (len + 1), value),
        Mutation::Remove { at } if len > 0 => {
            car.remove(at % len);
        }
        Mutation::Overwrite { at, value } if len > 0 => car[at % len] = value,
        _ => {}
    }
}

fn read_all(car: &[u8]) -> Result<Vec<car::CarBlock>, CarError> {
    let mut reader = CarReader::new(car)?;
    let mut out = Vec::new();
    while let Some(block) = reader.next_block()? {
        out.push(block);
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input(data);
    let n_blocks = usize::from(input.byte() % 9);
    let roots_mode = input.byte() % 4;
    let n_mutations = usize::from(input.byte() % 6);
    let mutations: Vec<Mutation> = (0..n_mutations)
        .map(|_| {
            let kind = input.byte();
            let at = usize::from(u16::from_le_bytes([input.byte(), input.byte()]));
            let value = input.byte();
            match kind % 5 {
                0 => Mutation::Flip {
                    at,
                    mask: value.max(1),
                },
                1 => Mutation::Truncate { at },
                2 => Mutation::Insert { at, value },
                3 => Mutation::Remove { at },
                _ => Mutation::Overwrite { at, value },
            }
        })
        .collect();

    // The blocks; bit 2 of the kind byte scales the length by 4 to get multi-byte varints.
    let mut blocks: Vec<(Cid, Vec<u8>)> = Vec::with_capacity(n_blocks);
    for _ in 0..n_blocks {
        let kind = input.byte();
        let len = usize::from(input.byte()) * if kind & 4 != 0 { 4 } else { 1 };
        let block = input.take(len).to_vec();
        blocks.push((block_cid(kind, &block), block));
    }
    let roots: Vec<Cid> = match (roots_mode, blocks.first(), blocks.last()) {
        (0, Some(first), _) => vec![first.0],
        (2, Some(_), _) => blocks.iter().map(|(cid, _)| *cid).collect(),
        (3, Some(first), Some(last)) => vec![first.0, last.0, first.0],
        _ => Vec::new(),
    };

    // Write it, remembering where each section ends and where each block starts.
    let mut car = car::header(&roots);
    let mut boundaries = vec![car.len()];
    let mut offsets = Vec::with_capacity(blocks.len());
    for (cid, block) in &blocks {
        let before = car.len();
        car::append_section(cid, block, &mut car);
        assert_eq!(
            (car.len() - before) as u64,
            car::section_len(cid, block.len()),
            "section_len disagrees with append_section"
        );
        offsets.push((car.len() - block.len()) as u64);
        boundaries.push(car.len());
    }

    // The unmodified CAR reads back exactly.
    let reader = CarReader::new(&car[..]).expect("valid CAR header rejected");
    assert_eq!(reader.roots(), &roots[..]);
    let read = read_all(&car).expect("valid CAR rejected");
    assert_eq!(read.len(), blocks.len());
    for ((got, (cid, block)), offset) in read.iter().zip(&blocks).zip(&offsets) {
        assert_eq!(&got.cid, cid);
        assert_eq!(&got.data, block);
        assert_eq!(got.offset, *offset);
    }
    let summary = reader.verify_all().expect("valid CAR fails verification");
    assert_eq!(summary.roots, roots);
    assert_eq!(summary.blocks, blocks.len() as u64);
    assert_eq!(
        summary.block_bytes,
        blocks.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );
    assert_eq!(summary.car_bytes, car.len() as u64);

    // The mutated CAR: any result but a panic.
    let mut mutated = car.clone();
    for m in &mutations {
        apply(&mut mutated, *m);
    }
    let result = CarReader::new(&mutated[..]).and_then(CarReader::verify_all);
    if let Err(e) = &result {
        let _ = e.to_string();
    }
    let _ = read_all(&mutated);

    // Truncations only: a prefix of the original.
    if mutations
        .iter()
        .all(|m| matches!(m, Mutation::Truncate { .. }))
    {
        let cut = mutated.len();
        match boundaries.iter().position(|b| *b == cut) {
            Some(sections) => {
                let present = &blocks[..sections];
                let all_roots = roots.iter().all(|r| present.iter().any(|(c, _)| c == r));
                match result {
                    Ok(s) => {
                        assert!(all_roots, "missing root not reported at cut {cut}");
                        assert_eq!(s.blocks, sections as u64);
                        assert_eq!(s.car_bytes, cut as u64);
                    }
                    Err(CarError::MissingRoot(_)) => {
                        assert!(!all_roots, "MissingRoot at cut {cut} with every root present")
                    }
                    Err(e) => panic!("cut at section boundary {cut}: {e:?}"),
                }
            }
            None => match result {
                Err(CarError::Truncated { .. }) => {}
                other => panic!("cut at {cut} (not a boundary) gave {other:?}"),
            },
        }
    }
});
