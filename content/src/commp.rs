//! Filecoin CommP: fr32 expansion (127 -> 128 bytes), zero padding to a power of two, and a
//! binary SHA-256 tree whose every node has its top two bits cleared
//! (shared/reference/content-addressing.md §5-6). Streaming; large inputs are split into
//! independent subtrees hashed on worker threads.
use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex, OnceLock,
        mpsc::{self, Receiver, Sender},
    },
    thread,
};

use cid::Cid;

use crate::{
    cids::{
        FIL_COMMITMENT_UNSEALED, FR32_SHA256_TRUNC254_PADDED_BINARY_TREE, RAW,
        SHA2_256_TRUNC254_PADDED, multihash,
    },
    varint,
};

pub type Node = [u8; 32];

const QUAD: usize = 127;
/// A subtree handed to a worker: 2^14 quads (about 2 MiB of payload), root at level 16.
const SEGMENT_QUADS_LOG2: u32 = 14;
const SEGMENT_BYTES: usize = QUAD << SEGMENT_QUADS_LOG2;
const SEGMENT_LEVEL: u32 = SEGMENT_QUADS_LOG2 + 2;

const SHA256_IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// The second block of SHA-256 over exactly 64 bytes: 0x80, zeros, bit length 512.
const PAD_BLOCK: [u8; 64] = {
    let mut block = [0u8; 64];
    block[0] = 0x80;
    block[62] = 0x02;
    block
};

/// `SHA-256(left ‖ right)` with the top two bits of the last byte cleared.
#[inline]
pub fn hash_pair(left: &Node, right: &Node) -> Node {
    let mut first = [0u8; 64];
    first[..32].copy_from_slice(left);
    first[32..].copy_from_slice(right);
    let mut state = SHA256_IV;
    sha2::compress256(&mut state, &[first.into(), PAD_BLOCK.into()]);
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out[31] &= 0x3f;
    out
}

/// Roots of all-zero subtrees by level (level 0 = a 32-byte leaf).
fn zero_roots() -> &'static [Node; 64] {
    static ZEROS: OnceLock<[Node; 64]> = OnceLock::new();
    ZEROS.get_or_init(|| {
        let mut z = [[0u8; 32]; 64];
        for level in 1..64 {
            z[level] = hash_pair(&z[level - 1], &z[level - 1]);
        }
        z
    })
}

/// Fr32-expands one 127-byte quad into four 32-byte leaves and returns their level-2 root.
#[inline]
fn quad_root(input: &[u8]) -> Node {
    debug_assert_eq!(input.len(), QUAD);
    let mut out = [0u8; 128];
    out[..32].copy_from_slice(&input[..32]);
    out[31] &= 0x3f;
    for i in 32..64 {
        out[i] = (input[i] << 2) | (input[i - 1] >> 6);
    }
    out[63] &= 0x3f;
    for i in 64..96 {
        out[i] = (input[i] << 4) | (input[i - 1] >> 4);
    }
    out[95] &= 0x3f;
    for i in 96..127 {
        out[i] = (input[i] << 6) | (input[i - 1] >> 2);
    }
    out[127] = input[126] >> 2;
    let leaf = |i: usize| -> Node {
        let mut n = [0u8; 32];
        n.copy_from_slice(&out[i * 32..i * 32 + 32]);
        n
    };
    hash_pair(
        &hash_pair(&leaf(0), &leaf(1)),
        &hash_pair(&leaf(2), &leaf(3)),
    )
}

/// Root of a whole segment of `SEGMENT_BYTES` payload bytes.
fn segment_root(data: &[u8]) -> Node {
    let mut stack = Stack::default();
    for quad in data.chunks_exact(QUAD) {
        stack.push(2, quad_root(quad));
    }
    stack.single()
}

/// Completed subtrees, strictly decreasing in level from bottom to top.
#[derive(Default)]
struct Stack {
    nodes: Vec<(u32, Node)>,
}

impl Stack {
    fn push(&mut self, mut level: u32, mut node: Node) {
        while let Some(&(top_level, top)) = self.nodes.last() {
            if top_level != level {
                break;
            }
            self.nodes.pop();
            node = hash_pair(&top, &node);
            level += 1;
        }
        self.nodes.push((level, node));
    }

    fn single(&self) -> Node {
        self.nodes.first().map(|n| n.1).unwrap_or([0; 32])
    }

    /// Completes the tree to `target_level`, padding on the right with zero subtrees.
    fn finish(mut self, target_level: u32) -> Node {
        let zeros = zero_roots();
        let mut acc: Option<(u32, Node)> = None;
        while let Some((level, node)) = self.nodes.pop() {
            acc = Some(match acc {
                None => (level, node),
                Some((mut right_level, mut right)) => {
                    while right_level < level {
                        right = hash_pair(&right, &zeros[right_level as usize]);
                        right_level += 1;
                    }
                    (level + 1, hash_pair(&node, &right))
                }
            });
        }
        let (mut level, mut node) = acc.unwrap_or((0, zeros[0]));
        while level < target_level {
            node = hash_pair(&node, &zeros[level as usize]);
            level += 1;
        }
        node
    }
}

/// A segment to hash, and where its root goes back with the buffer (for the next segment:
/// fresh 2 MiB buffers cost page faults).
type Job = (Vec<u8>, Sender<(Node, Vec<u8>)>);

/// Worker threads hashing whole segments.
struct Pool {
    jobs: Sender<Job>,
    in_flight: VecDeque<Receiver<(Node, Vec<u8>)>>,
    max_in_flight: usize,
    /// Segment buffers back from the workers.
    spare: Vec<Vec<u8>>,
}

impl Pool {
    fn new(threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..threads {
            let queue = queue.clone();
            thread::spawn(move || {
                loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let Ok((data, reply)) = job else { return };
                    let root = segment_root(&data);
                    let _ = reply.send((root, data));
                }
            });
        }
        Self {
            jobs,
            in_flight: VecDeque::new(),
            max_in_flight: threads * 2,
            spare: Vec::new(),
        }
    }
}

/// Streaming CommP of a payload.
pub struct CommP {
    stack: Stack,
    pending: Vec<u8>,
    total: u64,
    pool: Option<Pool>,
}

/// A piece commitment and its sizes and CIDs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PieceInfo {
    pub root: Node,
    pub payload_size: u64,
    /// 127 · 2^k: the payload zero-padded before fr32.
    pub unpadded_size: u64,
    /// 128 · 2^k: the piece size in deals.
    pub padded_size: u64,
    /// Tree height: log2(padded_size / 32).
    pub height: u8,
}

impl PieceInfo {
    /// `baga6ea4seaq…`: what Filecoin market deals take.
    pub fn cid_v1(&self) -> Cid {
        Cid::new_v1(
            FIL_COMMITMENT_UNSEALED,
            multihash(SHA2_256_TRUNC254_PADDED, &self.root),
        )
    }

    /// `bafkzcib…` (FRC-0069): self-describing, carries padding and height.
    pub fn cid_v2(&self) -> Cid {
        let mut digest = Vec::with_capacity(35);
        varint::encode(self.unpadded_size - self.payload_size, &mut digest);
        digest.push(self.height);
        digest.extend_from_slice(&self.root);
        Cid::new_v1(
            RAW,
            multihash(FR32_SHA256_TRUNC254_PADDED_BINARY_TREE, &digest),
        )
    }

    /// go-fil-commp and data-segment refuse payloads under 65 bytes for market deals.
    pub fn below_deal_minimum(&self) -> bool {
        self.payload_size < 65
    }
}

impl Default for CommP {
    fn default() -> Self {
        Self::new()
    }
}

impl CommP {
    /// Single-threaded.
    pub fn new() -> Self {
        Self {
            stack: Stack::default(),
            pending: Vec::with_capacity(QUAD),
            total: 0,
            pool: None,
        }
    }

    /// Hashes whole ~2 MiB segments on `threads` worker threads; inputs smaller than one
    /// segment stay on the calling thread.
    pub fn with_threads(threads: usize) -> Self {
        if threads <= 1 {
            return Self::new();
        }
        Self {
            pool: Some(Pool::new(threads)),
            pending: Vec::with_capacity(SEGMENT_BYTES),
            ..Self::new()
        }
    }

    /// Threads on this machine.
    pub fn available_threads() -> usize {
        thread::available_parallelism().map_or(1, |n| n.get())
    }

    pub fn write(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.pool.is_some() {
            while !data.is_empty() {
                let take = (SEGMENT_BYTES - self.pending.len()).min(data.len());
                self.pending.extend_from_slice(&data[..take]);
                data = &data[take..];
                if self.pending.len() == SEGMENT_BYTES {
                    let next = self
                        .pool
                        .as_mut()
                        .and_then(|p| p.spare.pop())
                        .unwrap_or_else(|| Vec::with_capacity(SEGMENT_BYTES));
                    let segment = std::mem::replace(&mut self.pending, next);
                    self.dispatch(segment);
                }
            }
            return;
        }
        if !self.pending.is_empty() {
            let take = (QUAD - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == QUAD {
                self.stack.push(2, quad_root(&self.pending));
                self.pending.clear();
            }
        }
        let whole = data.len() - data.len() % QUAD;
        for quad in data[..whole].chunks_exact(QUAD) {
            self.stack.push(2, quad_root(quad));
        }
        self.pending.extend_from_slice(&data[whole..]);
    }

    fn dispatch(&mut self, segment: Vec<u8>) {
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        let (reply, result) = mpsc::channel();
        match pool.jobs.send((segment, reply)) {
            Ok(()) => pool.in_flight.push_back(result),
            Err(mpsc::SendError((segment, _))) => {
                // A dead pool: hash here instead, after what is already in flight.
                while self.pool.as_ref().is_some_and(|p| !p.in_flight.is_empty()) {
                    self.collect_one();
                }
                self.stack.push(SEGMENT_LEVEL, segment_root(&segment));
                return;
            }
        }
        if pool.in_flight.len() >= pool.max_in_flight {
            self.collect_one();
        }
    }

    fn collect_one(&mut self) {
        let Some(pool) = self.pool.as_mut() else {
            return;
        };
        if let Some(result) = pool.in_flight.pop_front() {
            let (root, mut buffer) = result.recv().unwrap_or(([0; 32], Vec::new()));
            buffer.clear();
            if buffer.capacity() >= SEGMENT_BYTES {
                pool.spare.push(buffer);
            }
            self.stack.push(SEGMENT_LEVEL, root);
        }
    }

    pub fn finish(mut self) -> PieceInfo {
        while self.pool.as_ref().is_some_and(|p| !p.in_flight.is_empty()) {
            self.collect_one();
        }
        let mut pending = std::mem::take(&mut self.pending);
        // Whole quads of the tail, then the last partial quad zero-padded.
        let whole = pending.len() - pending.len() % QUAD;
        for quad in pending[..whole].chunks_exact(QUAD) {
            self.stack.push(2, quad_root(quad));
        }
        let tail = pending.split_off(whole);
        if !tail.is_empty() || self.total == 0 {
            let mut quad = [0u8; QUAD];
            quad[..tail.len()].copy_from_slice(&tail);
            self.stack.push(2, quad_root(&quad));
        }
        let quads = self.total.div_ceil(QUAD as u64).max(1).next_power_of_two();
        let height = 2 + quads.trailing_zeros();
        let root = self.stack.finish(height);
        PieceInfo {
            root,
            payload_size: self.total,
            unpadded_size: quads * QUAD as u64,
            padded_size: quads * 128,
            height: height as u8,
        }
    }
}

/// The CommP stage's limit on this machine, for benchmarks: payload bytes per second one core
/// could take through CommP doing nothing but SHA-256 compressions, measured now over
/// `sample` (16 blocks per call, for about a quarter of a second). A binary tree has about one
/// node per 32-byte leaf and each node hashes 64 bytes as 2 compressions: 4 compressions per
/// 64 padded bytes, and 127 payload bytes per 128 padded.
pub fn limit_per_core(sample: &[u8]) -> f64 {
    let blocks: Vec<[u8; 64]> = sample
        .chunks_exact(64)
        .take(1 << 16)
        .map(|b| {
            let mut block = [0u8; 64];
            block.copy_from_slice(b);
            block
        })
        .collect();
    if blocks.len() < 16 {
        return 0.0;
    }
    let mut state = SHA256_IV;
    let mut compressed = 0usize;
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(250) {
        for batch in blocks.chunks_exact(16) {
            let batch: [_; 16] = std::array::from_fn(|i| batch[i].into());
            sha2::compress256(&mut state, &batch);
            compressed += 16;
        }
    }
    std::hint::black_box(state);
    compressed as f64 / started.elapsed().as_secs_f64() * 16.0 * 127.0 / 128.0
}

/// CommP of a byte slice.
pub fn commp(data: &[u8]) -> PieceInfo {
    let mut c = CommP::new();
    c.write(data);
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1(data: &[u8]) -> String {
        commp(data).cid_v1().to_string()
    }
    fn v2(data: &[u8]) -> String {
        commp(data).cid_v2().to_string()
    }

    #[test]
    fn zero_piece_root_of_128_bytes() {
        assert_eq!(
            hex::encode(commp(&[0u8; 127]).root),
            "3731bb99ac689f66eef5973e4a94da188f4ddcae580724fc6f3fd60dfd488333"
        );
    }

    #[test]
    fn go_fil_commp_zero_vectors() {
        let cases: [(&[usize], u64, &str); 5] = [
            (
                &[96, 126, 127],
                128,
                "baga6ea4seaqdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy",
            ),
            (
                &[192, 253, 254],
                256,
                "baga6ea4seaqgiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy",
            ),
            (
                &[255, 300, 508],
                512,
                "baga6ea4seaqfpirydiugkk7up5v666wkm6n6jlw6lby2wxht5mwaqekerdfykjq",
            ),
            (
                &[509, 1016],
                1024,
                "baga6ea4seaqb66wjlfkrbye6uqoemcyxmqylwmrm235uclwfpsyx3ge2imidoly",
            ),
            (
                &[1017, 1024],
                2048,
                "baga6ea4seaqpy7usqklokfx2vxuynmupslkeutzexe2uqurdg5vhtebhxqmpqmy",
            ),
        ];
        for (sizes, padded, cid) in cases {
            for &n in sizes {
                let info = commp(&vec![0u8; n]);
                assert_eq!(info.cid_v1().to_string(), cid, "{n} zero bytes");
                assert_eq!(info.padded_size, padded, "{n} zero bytes");
            }
        }
    }

    #[test]
    fn frc_0069_vectors() {
        let mut data = Vec::new();
        for b in 0u8..4 {
            data.extend(std::iter::repeat_n(b, 127));
        }
        assert_eq!(
            v1(&data),
            "baga6ea4seaqes3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi"
        );
        assert_eq!(
            v2(&data),
            "bafkzcibcaaces3nobte6ezpp4wqan2age2s5yxcatzotcvobhgcmv5wi2xh5mbi"
        );
        assert_eq!(
            v2(&[]),
            "bafkzcibcp4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
        assert_eq!(
            v1(&[0; 127]),
            "baga6ea4seaqdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
        assert_eq!(
            v2(&[0; 127]),
            "bafkzcibcaabdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
        assert_eq!(
            v1(&[0; 128]),
            "baga6ea4seaqgiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy"
        );
        assert_eq!(
            v2(&[0; 128]),
            "bafkzcibcpybwiktap34inmaex4wbs6cghlq5i2j2yd2bb2zndn5ep7ralzphkdy"
        );
        assert_eq!(
            v1(&[0; 65]),
            "baga6ea4seaqdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
        assert_eq!(
            v2(&[0; 65]),
            "bafkzcibchybdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
    }

    #[test]
    fn derived_v2_forms_of_zero_payloads() {
        assert_eq!(
            v2(&[0; 96]),
            "bafkzcibcd4bdomn3tgwgrh3g532zopskstnbrd2n3sxfqbze7rxt7vqn7veigmy"
        );
        assert_eq!(
            v2(&[0; 255]),
            "bafkzcibd7uaqiv5chancqzjl6r7wx332zjtzxzfo3zmhdk246pvsycarisemxbjg"
        );
        assert_eq!(
            v2(&[0; 508]),
            "bafkzcibcaacfpirydiugkk7up5v666wkm6n6jlw6lby2wxht5mwaqekerdfykjq"
        );
        assert_eq!(
            v2(&[0; 1024]),
            "bafkzcibd6adqn7d6skbjnziw7kw6tbvsr6jnisspes4tkscsem3wu6mqe66br6bt"
        );
    }

    /// data-segment's payload generator: SHA-512 chain from SHA-512("").
    fn derive_buffer(size: usize) -> Vec<u8> {
        use sha2::{Digest, Sha512};
        let mut out = Vec::with_capacity(size + 64);
        let mut block = Sha512::digest(b"").to_vec();
        while out.len() < size {
            out.extend_from_slice(&block);
            block = Sha512::digest(&block).to_vec();
        }
        out.truncate(size);
        out
    }

    #[test]
    fn data_segment_vectors() {
        let d65 = derive_buffer(65);
        assert_eq!(
            crate::cids::v1_sha256(RAW, &d65).to_string(),
            "bafkreie3ntx3nzvhuv63btdsgaeste6gurdigzw2soryitq6m3f3p24nba"
        );
        assert_eq!(
            v1(&d65),
            "baga6ea4seaqcq4xx7rqx2lsrm6iky7qqk5jh7pbaj5bgdu22afhp4fodvccb6bq"
        );
        let d1015 = derive_buffer(1015);
        assert_eq!(
            crate::cids::v1_sha256(RAW, &d1015).to_string(),
            "bafkreid2z2uccrzhwijtq7nhvsnlexele7k7x7p44xmuia2be3xpk2qhdy"
        );
        assert_eq!(
            v1(&d1015),
            "baga6ea4seaqivgoicxkhp3zpkzqxdqun553xlzfeyjtni2ju2aa3r2fz54v6qhq"
        );
    }

    #[test]
    fn edge_sizes_have_the_right_padded_size() {
        for (n, padded) in [
            (0u64, 128u64),
            (1, 128),
            (127, 128),
            (128, 256),
            (254, 256),
            (255, 512),
        ] {
            assert_eq!(commp(&vec![1u8; n as usize]).padded_size, padded, "{n}");
        }
    }

    #[test]
    fn threaded_and_chunked_equal_single_threaded() {
        // Three and a half segments, so that whole segments, a tail and padding all occur.
        let data: Vec<u8> = (0..SEGMENT_BYTES * 7 / 2)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let single = commp(&data);
        let mut threaded = CommP::with_threads(3);
        for piece in data.chunks(100_003) {
            threaded.write(piece);
        }
        assert_eq!(threaded.finish(), single);
        let mut chunked = CommP::new();
        for piece in data.chunks(1000) {
            chunked.write(piece);
        }
        assert_eq!(chunked.finish(), single);
    }
}
