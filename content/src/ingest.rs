//! One pass over a file: its sha256, its UnixFS root and blocks, the CAR v1 body of those
//! blocks, and (when asked: it costs about four sha256 compressions per 64 bytes) the CommP of
//! the file's bytes. Memory stays bounded by one chunk, one link list per tree level and the
//! CommP segments in flight, whatever the input size.
use cid::Cid;
use sha2::{Digest, Sha256};

use crate::{
    car,
    commp::{CommP, PieceInfo},
    unixfs::{Block, FileBuilder, Profile},
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
    sha256: Sha256,
    file: FileBuilder,
    commp: Option<CommP>,
    size: u64,
    /// More than one core: hash the whole file beside the leaves.
    parallel: bool,
    blocks: Vec<Block>,
    block_count: u64,
    car_body_bytes: u64,
}

/// Everything known about a file after one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestSummary {
    pub size: u64,
    pub sha256: [u8; 32],
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
    /// With CommP; `commp_threads` > 1 hashes the CommP tree on that many worker threads.
    pub fn new(profile: Profile, commp_threads: usize) -> Self {
        Self {
            commp: Some(CommP::with_threads(commp_threads)),
            ..Self::without_commp(profile)
        }
    }

    /// Without CommP: for content no Filecoin deal is made from.
    pub fn without_commp(profile: Profile) -> Self {
        Self {
            locations: Vec::new(),
            sha256: Sha256::new(),
            file: FileBuilder::new(profile),
            commp: None,
            size: 0,
            parallel: std::thread::available_parallelism().is_ok_and(|n| n.get() > 1),
            blocks: Vec::new(),
            block_count: 0,
            car_body_bytes: 0,
        }
    }

    /// Feeds bytes; CAR sections of the blocks they complete are appended to `car_out`.
    pub fn write(&mut self, data: &[u8], car_out: &mut Vec<u8>) {
        self.size += data.len() as u64;
        let (sha256, file, blocks) = (&mut self.sha256, &mut self.file, &mut self.blocks);
        if self.parallel && data.len() >= PARALLEL_MIN {
            // The file's sha256 and its leaves' hashes are two passes over the same bytes:
            // on two cores they take the time of one.
            std::thread::scope(|scope| {
                scope.spawn(|| sha256.update(data));
                file.write(data, blocks);
            });
        } else {
            sha256.update(data);
            file.write(data, blocks);
        }
        if let Some(commp) = &mut self.commp {
            commp.write(data);
        }
        self.drain(car_out);
    }

    /// Ends the file. The last blocks' sections go to `car_out` and their locations to
    /// `locations_out`.
    pub fn finish(
        mut self,
        car_out: &mut Vec<u8>,
        locations_out: &mut Vec<BlockLocation>,
    ) -> IngestSummary {
        let root = self.file.finish(&mut self.blocks);
        self.file = FileBuilder::cid_only(Profile::KUBO);
        self.drain(car_out);
        locations_out.append(&mut self.locations);
        let piece = self.commp.map(CommP::finish);
        IngestSummary {
            size: self.size,
            sha256: self.sha256.finalize().into(),
            root: root.cid,
            piece,
            blocks: self.block_count,
            car_body_bytes: self.car_body_bytes,
        }
    }

    /// Takes the locations of the blocks written since the last call.
    pub fn take_locations(&mut self) -> Vec<BlockLocation> {
        std::mem::take(&mut self.locations)
    }

    fn drain(&mut self, car_out: &mut Vec<u8>) {
        for block in self.blocks.drain(..) {
            let before = car_out.len();
            car::append_section(&block.cid, &block.data, car_out);
            let written = (car_out.len() - before) as u64;
            let length = block.data.len() as u64;
            self.locations.push(BlockLocation {
                cid: block.cid,
                offset: self.car_body_bytes + written - length,
                length,
            });
            self.car_body_bytes += written;
            self.block_count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{car::CarReader, commp::commp, unixfs::file_cid};

    /// Without CommP the file, its blocks and its CAR are the same; only the piece is absent.
    #[test]
    fn skipping_commp_changes_nothing_else() {
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
        let (with, car_with) = run(Ingest::new(Profile::KUBO, 1));
        let (without, car_without) = run(Ingest::without_commp(Profile::KUBO));
        assert_eq!(without.piece, None);
        assert_eq!(with.piece, Some(commp(&data)));
        assert_eq!(without.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(without.root, file_cid(Profile::KUBO, &data));
        assert_eq!(car_with, car_without);
        assert_eq!(
            (with.size, with.sha256, with.root, with.blocks),
            (without.size, without.sha256, without.root, without.blocks)
        );
    }

    #[test]
    fn one_pass_equals_the_separate_computations() {
        let data: Vec<u8> = (0..1_500_000u32).map(|i| (i % 239) as u8).collect();
        let mut car_body = Vec::new();
        let mut ingest = Ingest::new(Profile::KUBO, 2);
        let mut locations = Vec::new();
        for piece in data.chunks(65_536) {
            ingest.write(piece, &mut car_body);
            locations.append(&mut ingest.take_locations());
        }
        let summary = ingest.finish(&mut car_body, &mut locations);
        assert_eq!(locations.len() as u64, summary.blocks);
        assert_eq!(summary.size, data.len() as u64);
        assert_eq!(summary.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
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
