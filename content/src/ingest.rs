//! One pass over a file: its UnixFS root and blocks, the CAR v1 body of those blocks, and
//! when asked its sha256 (one more sha256 pass) and the CommP of its bytes (about four sha256
//! compressions per 64 bytes): each paid only by a caller that reads it. Memory stays bounded
//! by one chunk, one link list per tree level and the CommP segments in flight, whatever the
//! input size.
use cid::Cid;
use sha2::{Digest, Sha256};

use crate::{
    car,
    commp::{CommP, PieceInfo},
    unixfs::{BlockSink, FileBuilder, Profile},
};

/// Where a block's bytes sit in the CAR body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockLocation {
    pub cid: Cid,
    /// Offset of the block bytes (after the section's length and CID) in the CAR body.
    pub offset: u64,
    pub length: u64,
}

/// Writes at least this large hash the file and its leaves on two threads.
const PARALLEL_MIN: usize = 256 * 1024;

pub struct Ingest {
    locations: Vec<BlockLocation>,
    sha256: Option<Sha256>,
    file: FileBuilder,
    commp: Option<CommP>,
    size: u64,
    /// More than one core: hash the whole file beside the leaves.
    parallel: bool,
    block_count: u64,
    car_body_bytes: u64,
}

/// Everything known about a file after one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    pub size: u64,
    /// The file's sha256, when the ingest computed it.
    pub sha256: Option<[u8; 32]>,
    pub root: Cid,
    /// CommP of the file's bytes, when the ingest computed it.
    pub piece: Option<PieceInfo>,
    pub blocks: u64,
    /// Bytes of CAR sections written; the CAR is `car::header(&[root])` followed by them.
    pub car_body_bytes: u64,
}

impl IngestSummary {
    pub fn car_header(&self) -> Vec<u8> {
        car::header(&[self.root])
    }

    pub fn car_size(&self) -> u64 {
        self.car_header().len() as u64 + self.car_body_bytes
    }
}

impl Ingest {
    /// The UnixFS DAG and its CAR only; [`Ingest::with_sha256`] and [`Ingest::with_commp`] add
    /// the digests some callers need.
    pub fn new(profile: Profile) -> Self {
        Self {
            locations: Vec::new(),
            sha256: None,
            file: FileBuilder::new(profile),
            commp: None,
            size: 0,
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            block_count: 0,
            car_body_bytes: 0,
        }
    }

    /// Also the file's sha256: a second pass over the bytes, on a second core when there is one.
    pub fn with_sha256(self) -> Self {
        Self {
            sha256: Some(Sha256::new()),
            ..self
        }
    }

    /// Also the CommP; `threads` > 1 hashes the CommP tree on that many worker threads.
    pub fn with_commp(self, threads: usize) -> Self {
        Self {
            commp: Some(CommP::with_threads(threads)),
            ..self
        }
    }

    /// Feeds bytes; CAR sections of the blocks they complete are appended to `car_out`.
    pub fn write(&mut self, data: &[u8], car_out: &mut Vec<u8>) {
        self.size += data.len() as u64;
        let Self {
            locations,
            sha256,
            file,
            commp,
            parallel,
            block_count,
            car_body_bytes,
            ..
        } = self;
        let mut sections = CarSections {
            out: car_out,
            locations,
            body_bytes: car_body_bytes,
            blocks: block_count,
        };
        match sha256 {
            // The file's sha256 and its leaves' hashes are two passes over the same bytes:
            // on two cores they take the time of one.
            Some(sha256) if *parallel && data.len() >= PARALLEL_MIN => {
                std::thread::scope(|scope| {
                    scope.spawn(|| sha256.update(data));
                    file.write(data, &mut sections);
                });
            }
            Some(sha256) => {
                sha256.update(data);
                file.write(data, &mut sections);
            }
            None => file.write(data, &mut sections),
        }
        if let Some(commp) = commp {
            commp.write(data);
        }
    }

    /// Ends the file. The last blocks' sections go to `car_out` and their locations to
    /// `locations_out`.
    pub fn finish(
        self,
        car_out: &mut Vec<u8>,
        locations_out: &mut Vec<BlockLocation>,
    ) -> IngestSummary {
        let Self {
            mut locations,
            sha256,
            file,
            commp,
            size,
            mut block_count,
            mut car_body_bytes,
            ..
        } = self;
        let root = file.finish(&mut CarSections {
            out: car_out,
            locations: &mut locations,
            body_bytes: &mut car_body_bytes,
            blocks: &mut block_count,
        });
        locations_out.append(&mut locations);
        IngestSummary {
            size,
            sha256: sha256.map(|h| h.finalize().into()),
            root: root.cid,
            piece: commp.map(CommP::finish),
            blocks: block_count,
            car_body_bytes,
        }
    }

    /// Takes the locations of the blocks written since the last call.
    pub fn take_locations(&mut self) -> Vec<BlockLocation> {
        std::mem::take(&mut self.locations)
    }
}

/// Appends each finished block to the CAR as a section and notes where its bytes sit. A leaf
/// arrives as a slice of the input, so its bytes are copied once, into the CAR.
struct CarSections<'a> {
    out: &'a mut Vec<u8>,
    locations: &'a mut Vec<BlockLocation>,
    body_bytes: &'a mut u64,
    blocks: &'a mut u64,
}

impl BlockSink for CarSections<'_> {
    fn block(&mut self, cid: Cid, data: &[u8]) {
        let before = self.out.len();
        car::append_section(&cid, data, self.out);
        let written = (self.out.len() - before) as u64;
        let length = data.len() as u64;
        self.locations.push(BlockLocation {
            cid,
            offset: *self.body_bytes + written - length,
            length,
        });
        *self.body_bytes += written;
        *self.blocks += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{car::CarReader, commp::commp, unixfs::file_cid};

    /// Each optional digest adds only itself: with or without the sha256 and the CommP, the
    /// file, its blocks and its CAR are the same.
    #[test]
    fn optional_digests_change_nothing_else() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
        let run = |mut ingest: Ingest| {
            let (mut car, mut locations) = (Vec::new(), Vec::new());
            // Chunks above PARALLEL_MIN: the two-thread path on a machine with two cores.
            for piece in data.chunks(300_000) {
                ingest.write(piece, &mut car);
            }
            let summary = ingest.finish(&mut car, &mut locations);
            (summary, car)
        };
        let (bare, car_bare) = run(Ingest::new(Profile::KUBO));
        assert_eq!((bare.sha256, bare.piece), (None, None));
        assert_eq!(bare.root, file_cid(Profile::KUBO, &data));
        let sha256 = <[u8; 32]>::from(Sha256::digest(&data));
        for (ingest, want_sha, want_piece) in [
            (Ingest::new(Profile::KUBO).with_sha256(), true, false),
            (Ingest::new(Profile::KUBO).with_commp(1), false, true),
            (
                Ingest::new(Profile::KUBO).with_sha256().with_commp(2),
                true,
                true,
            ),
        ] {
            let (summary, car) = run(ingest);
            assert_eq!(summary.sha256, want_sha.then_some(sha256));
            assert_eq!(summary.piece, want_piece.then(|| commp(&data)));
            assert_eq!(car, car_bare);
            assert_eq!(
                (summary.size, summary.root, summary.blocks),
                (bare.size, bare.root, bare.blocks)
            );
        }
    }

    #[test]
    fn one_pass_equals_the_separate_computations() {
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 239) as u8).collect();
        let mut car_body = Vec::new();
        let mut ingest = Ingest::new(Profile::KUBO).with_sha256().with_commp(2);
        let mut locations = Vec::new();
        for piece in data.chunks(65_536) {
            ingest.write(piece, &mut car_body);
            locations.append(&mut ingest.take_locations());
        }
        let summary = ingest.finish(&mut car_body, &mut locations);
        assert_eq!(locations.len() as u64, summary.blocks);
        assert_eq!(summary.size, data.len() as u64);
        assert_eq!(summary.sha256, Some(Sha256::digest(&data).into()));
        assert_eq!(summary.root, file_cid(Profile::KUBO, &data));
        assert_eq!(summary.piece, Some(commp(&data)));
        assert_eq!(summary.car_body_bytes, car_body.len() as u64);

        for loc in &locations {
            let block = &car_body[loc.offset as usize..(loc.offset + loc.length) as usize];
            crate::car::verify_block(&loc.cid, block, loc.offset).unwrap();
        }
        let mut car = summary.car_header();
        car.extend_from_slice(&car_body);
        let verified = CarReader::new(&car[..]).unwrap().verify_all().unwrap();
        assert_eq!(verified.roots, vec![summary.root]);
        assert_eq!(verified.blocks, summary.blocks);
        assert_eq!(summary.car_size(), car.len() as u64);
    }
}
