//! UnixFS import: fixed-size chunking into a balanced DAG, streamed, in constant memory.
//!
//! Blocks come out in creation order (each leaf, then each parent once its children are done),
//! which is the order ipfs-car writes them. At most `max_links` links are held per tree level.
use cid::Cid;

use crate::{
    cids::{DAG_PB, RAW, v0_sha256, v1_sha256},
    dagpb::{PbLink, UnixfsData, UnixfsType, encode_node},
};

/// Import parameters (shared/reference/content-addressing.md §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub chunk_size: usize,
    pub max_links: usize,
    /// Leaves as raw blocks (CIDv1) or as dag-pb UnixFS nodes (CIDv0).
    pub raw_leaves: bool,
    pub cid_version: u8,
}

impl Profile {
    /// `ipfs add --cid-version=1` and ipfs-unixfs-importer's default.
    pub const KUBO: Profile = Profile {
        chunk_size: 262_144,
        max_links: 174,
        raw_leaves: true,
        cid_version: 1,
    };
    /// kubo's `unixfs-v1-2025` profile (IPIP-499), also ipfs-car 3.x.
    pub const V1_2025: Profile = Profile {
        chunk_size: 1_048_576,
        max_links: 1024,
        raw_leaves: true,
        cid_version: 1,
    };
    /// kubo's plain `ipfs add`: CIDv0 with dag-pb leaves.
    pub const KUBO_V0: Profile = Profile {
        chunk_size: 262_144,
        max_links: 174,
        raw_leaves: false,
        cid_version: 0,
    };

    pub fn by_name(name: &str) -> Option<Profile> {
        match name {
            "kubo" | "kubo-v1" => Some(Self::KUBO),
            "v1-2025" | "unixfs-v1-2025" => Some(Self::V1_2025),
            "kubo-v0" | "v0" => Some(Self::KUBO_V0),
            _ => None,
        }
    }

    /// Same import with another chunk size (tests, small vectors).
    pub fn with_chunk_size(self, chunk_size: usize) -> Profile {
        Profile { chunk_size, ..self }
    }

    fn node_cid(&self, block: &[u8]) -> Cid {
        if self.cid_version == 0 {
            v0_sha256(block)
        } else {
            v1_sha256(DAG_PB, block)
        }
    }
}

/// A block and its CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub cid: Cid,
    pub data: Vec<u8>,
}

/// Where a builder puts the blocks it finishes, in creation order.
pub trait BlockSink {
    /// `data` is only borrowed: a leaf is handed straight from the input, so a sink that
    /// writes it somewhere (a CAR) copies the file's bytes once.
    fn block(&mut self, cid: Cid, data: &[u8]);
}

impl BlockSink for Vec<Block> {
    fn block(&mut self, cid: Cid, data: &[u8]) {
        self.push(Block {
            cid,
            data: data.to_vec(),
        });
    }
}

/// A finished DAG (or sub-DAG) as its parent links to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub cid: Cid,
    /// Cumulative size: this block plus everything below it (the PBLink Tsize).
    pub tsize: u64,
    /// File bytes under it.
    pub filesize: u64,
}

/// Builds the UnixFS DAG of one file from a stream of bytes.
pub struct FileBuilder {
    profile: Profile,
    chunk: Vec<u8>,
    levels: Vec<Vec<Node>>,
    leaves: u64,
    /// When false, leaf bytes are hashed but not copied out (CID-only imports).
    emit_leaves: bool,
}

impl FileBuilder {
    pub fn new(profile: Profile) -> Self {
        assert!(
            profile.chunk_size > 0 && profile.max_links > 1,
            "invalid profile"
        );
        Self {
            profile,
            chunk: Vec::with_capacity(profile.chunk_size),
            levels: Vec::new(),
            leaves: 0,
            emit_leaves: true,
        }
    }

    /// A builder that computes the CID without handing out leaf blocks.
    pub fn cid_only(profile: Profile) -> Self {
        Self {
            emit_leaves: false,
            ..Self::new(profile)
        }
    }

    /// Feeds bytes; finished blocks are appended to `out`.
    pub fn write(&mut self, mut data: &[u8], out: &mut impl BlockSink) {
        let size = self.profile.chunk_size;
        while !data.is_empty() {
            if self.chunk.is_empty() && data.len() >= size {
                // Whole chunks straight from the input, without staging them.
                let (chunk, rest) = data.split_at(size);
                self.leaf(chunk, out);
                data = rest;
                continue;
            }
            let take = (size - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == size {
                let chunk = std::mem::take(&mut self.chunk);
                self.leaf(&chunk, out);
                self.chunk = chunk;
                self.chunk.clear();
            }
        }
    }

    /// Ends the file: emits the remaining blocks and returns the root.
    pub fn finish(mut self, out: &mut impl BlockSink) -> Node {
        if !self.chunk.is_empty() || self.leaves == 0 {
            let chunk = std::mem::take(&mut self.chunk);
            self.leaf(&chunk, out);
        }
        let mut level = 0;
        loop {
            let top = level + 1 == self.levels.len();
            if top && self.levels[level].len() == 1 {
                return self.levels[level].remove(0);
            }
            let children = std::mem::take(&mut self.levels[level]);
            let parent = self.parent(&children, out);
            self.push(level + 1, parent, out);
            level += 1;
        }
    }

    fn leaf(&mut self, chunk: &[u8], out: &mut impl BlockSink) {
        self.leaves += 1;
        let len = chunk.len() as u64;
        let node = if self.profile.raw_leaves {
            let cid = v1_sha256(RAW, chunk);
            if self.emit_leaves {
                out.block(cid, chunk);
            }
            Node {
                cid,
                tsize: len,
                filesize: len,
            }
        } else {
            let data = UnixfsData {
                kind: UnixfsType::File,
                data: (!chunk.is_empty()).then(|| chunk.to_vec()),
                filesize: Some(len),
                blocksizes: Vec::new(),
            };
            let block = encode_node(&[], Some(&data.encode()));
            let cid = self.profile.node_cid(&block);
            let tsize = block.len() as u64;
            if self.emit_leaves {
                out.block(cid, &block);
            }
            Node {
                cid,
                tsize,
                filesize: len,
            }
        };
        self.push(0, node, out);
    }

    /// Adds a node at `level`; a level that already holds `max_links` first becomes a parent.
    fn push(&mut self, level: usize, node: Node, out: &mut impl BlockSink) {
        if self.levels.len() <= level {
            self.levels.push(Vec::with_capacity(self.profile.max_links));
        }
        if self.levels[level].len() == self.profile.max_links {
            let children = std::mem::take(&mut self.levels[level]);
            let parent = self.parent(&children, out);
            self.levels[level] = children;
            self.levels[level].clear();
            self.push(level + 1, parent, out);
        }
        self.levels[level].push(node);
    }

    fn parent(&self, children: &[Node], out: &mut impl BlockSink) -> Node {
        let filesize: u64 = children.iter().map(|c| c.filesize).sum();
        let data = UnixfsData {
            kind: UnixfsType::File,
            data: None,
            filesize: Some(filesize),
            blocksizes: children.iter().map(|c| c.filesize).collect(),
        };
        let links: Vec<PbLink> = children
            .iter()
            .map(|c| PbLink {
                cid: c.cid,
                name: String::new(),
                tsize: c.tsize,
            })
            .collect();
        let block = encode_node(&links, Some(&data.encode()));
        let cid = self.profile.node_cid(&block);
        let tsize = block.len() as u64 + children.iter().map(|c| c.tsize).sum::<u64>();
        out.block(cid, &block);
        Node {
            cid,
            tsize,
            filesize,
        }
    }
}

/// Most entries a directory may hold: above this kubo and ipfs-car shard directories
/// (HAMT), which wharf does not build.
pub const MAX_DIRECTORY_ENTRIES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    #[error("entry name {0:?} is not a valid file name")]
    BadName(String),
    #[error("entry name {0:?} appears twice")]
    Duplicate(String),
    #[error("a directory holds at most {MAX_DIRECTORY_ENTRIES} entries")]
    TooMany,
}

/// A flat UnixFS directory of named entries.
#[derive(Debug, Default)]
pub struct DirectoryBuilder {
    entries: Vec<(String, Node)>,
}

impl DirectoryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: &str, node: Node) -> Result<(), DirectoryError> {
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.contains('/')
            || name.contains('\0')
        {
            return Err(DirectoryError::BadName(name.to_string()));
        }
        if self.entries.iter().any(|(n, _)| n == name) {
            return Err(DirectoryError::Duplicate(name.to_string()));
        }
        if self.entries.len() == MAX_DIRECTORY_ENTRIES {
            return Err(DirectoryError::TooMany);
        }
        self.entries.push((name.to_string(), node));
        Ok(())
    }

    /// The directory node; links sorted by name bytes.
    pub fn finish(mut self, profile: Profile) -> (Node, Block) {
        self.entries
            .sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let links: Vec<PbLink> = self
            .entries
            .iter()
            .map(|(name, node)| PbLink {
                cid: node.cid,
                name: name.clone(),
                tsize: node.tsize,
            })
            .collect();
        let data = UnixfsData {
            kind: UnixfsType::Directory,
            data: None,
            filesize: None,
            blocksizes: Vec::new(),
        };
        let block = encode_node(&links, Some(&data.encode()));
        let cid = profile.node_cid(&block);
        let tsize = block.len() as u64 + self.entries.iter().map(|(_, n)| n.tsize).sum::<u64>();
        let filesize = self.entries.iter().map(|(_, n)| n.filesize).sum();
        (
            Node {
                cid,
                tsize,
                filesize,
            },
            Block { cid, data: block },
        )
    }
}

/// CID of `data` imported as one file (blocks discarded).
pub fn file_cid(profile: Profile, data: &[u8]) -> Cid {
    let mut sink = Vec::new();
    let mut builder = FileBuilder::cid_only(profile);
    builder.write(data, &mut sink);
    builder.finish(&mut sink).cid
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cid(profile: Profile, data: &[u8]) -> String {
        file_cid(profile, data).to_string()
    }

    #[test]
    fn hello_world_v1_raw_and_v0() {
        assert_eq!(
            cid(Profile::KUBO, b"hello world"),
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
        );
        assert_eq!(
            cid(Profile::KUBO_V0, b"hello world"),
            "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
        );
    }

    #[test]
    fn empty_file_v1_and_v0() {
        assert_eq!(
            cid(Profile::KUBO, b""),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            cid(Profile::V1_2025, b""),
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
        );
        assert_eq!(
            cid(Profile::KUBO_V0, b""),
            "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        );
    }

    #[test]
    fn three_thousand_a_in_chunks_of_1000_with_explicit_empty_names() {
        let data = vec![b'a'; 3000];
        assert_eq!(
            cid(Profile::V1_2025.with_chunk_size(1000), &data),
            "bafybeiapp6tzng2hpxzmopnplvg6hoxldufypompu6uzmhc6rdyw4m2qx4"
        );
    }

    #[test]
    fn directory_with_one_file_matches_boxo() {
        let mut sink = Vec::new();
        let mut file = FileBuilder::new(Profile::KUBO);
        file.write(b"hello\n", &mut sink);
        let root = file.finish(&mut sink);
        let mut dir = DirectoryBuilder::new();
        dir.add("hello.txt", root).unwrap();
        let (node, block) = dir.finish(Profile::KUBO);
        assert_eq!(
            node.cid.to_string(),
            "bafybeigdcg7pksx2zk5336vrfsktjodlr4rbfz37qr3koc5xboxe5ekv24"
        );
        assert_eq!(
            hex::encode(block.data),
            "12330a24015512205891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03120968656c6c6f2e74787418060a020801"
        );
    }

    #[test]
    fn empty_directory_v0_and_v1() {
        assert_eq!(
            DirectoryBuilder::new()
                .finish(Profile::KUBO_V0)
                .0
                .cid
                .to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
        assert_eq!(
            DirectoryBuilder::new()
                .finish(Profile::KUBO)
                .0
                .cid
                .to_string(),
            "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
        );
    }

    /// Tree shape at the edges: one chunk is a bare leaf; chunk + 1 byte gains a parent;
    /// width + 1 leaves gain a second level.
    #[test]
    fn levels_appear_exactly_when_the_width_is_exceeded() {
        let profile = Profile::KUBO.with_chunk_size(4);
        let width = profile.max_links;
        let blocks = |n: usize| {
            let data = vec![7u8; n];
            let mut out = Vec::new();
            let mut b = FileBuilder::new(profile);
            b.write(&data, &mut out);
            let root = b.finish(&mut out);
            (root, out)
        };
        let (root, out) = blocks(4);
        assert_eq!((root.cid.codec(), out.len()), (RAW, 1));
        let (root, out) = blocks(3);
        assert_eq!((root.cid.codec(), out.len()), (RAW, 1));
        let (root, out) = blocks(5);
        assert_eq!((root.cid.codec(), out.len()), (DAG_PB, 3));
        let (_, out) = blocks(4 * width);
        assert_eq!(out.len(), width + 1, "width leaves under one parent");
        let (root, out) = blocks(4 * width + 1);
        // width+1 leaves, two parents, one root.
        assert_eq!(out.len(), width + 1 + 3);
        assert_eq!(root.filesize, 4 * width as u64 + 1);
    }

    #[test]
    fn chunked_writes_give_the_same_cid() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let whole = file_cid(Profile::KUBO, &data);
        let mut sink = Vec::new();
        let mut b = FileBuilder::new(Profile::KUBO);
        for piece in data.chunks(12_345) {
            b.write(piece, &mut sink);
        }
        assert_eq!(b.finish(&mut sink).cid, whole);
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;
    use crate::dagpb::decode_node;

    /// Root links of a file of `chunks` whole chunks plus `extra` bytes, fed in chunk-sized
    /// writes of one repeated buffer (content does not matter for the shape).
    fn root_links(profile: Profile, chunks: usize, extra: usize) -> (Node, usize) {
        let chunk = vec![0x5au8; profile.chunk_size];
        let mut builder = FileBuilder::cid_only(profile);
        let mut out = Vec::new();
        for _ in 0..chunks {
            builder.write(&chunk, &mut out);
            out.clear();
        }
        builder.write(&chunk[..extra], &mut out);
        let root = builder.finish(&mut out);
        let root_block = out.last().expect("a root block");
        assert_eq!(root_block.cid, root.cid);
        (
            root.clone(),
            decode_node(&root_block.data).unwrap().links.len(),
        )
    }

    #[test]
    fn kubo_gains_a_level_above_174_chunks() {
        let p = Profile::KUBO;
        let (root, links) = root_links(p, 174, 0);
        assert_eq!((links, root.filesize), (174, 174 * 262_144));
        let (root, links) = root_links(p, 174, 1);
        assert_eq!(links, 2, "two subtrees: 174 leaves and 1 leaf");
        assert_eq!(root.filesize, 174 * 262_144 + 1);
    }

    #[test]
    fn v1_2025_gains_a_level_above_1024_chunks() {
        let p = Profile::V1_2025;
        let (root, links) = root_links(p, 1024, 0);
        assert_eq!((links, root.filesize), (1024, 1 << 30));
        let (_, links) = root_links(p, 1024, 1);
        assert_eq!(links, 2);
        let (_, links) = root_links(p, 1023, p.chunk_size - 1);
        assert_eq!(
            links, 1024,
            "chunk - 1 extra bytes is one more leaf, same level"
        );
    }
}
