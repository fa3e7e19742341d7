//! CAR v1: writing sections and headers, and a reader that checks every block's hash and
//! that the roots are present, reporting what is wrong and where instead of panicking.
use std::io::Read;

use cid::Cid;
use sha2::{Digest, Sha256};

use crate::{
    cids::{IDENTITY, SHA2_256},
    varint,
};

/// Largest block the reader accepts (kubo refuses blocks above 2 MiB; some importers go to 4).
pub const MAX_BLOCK: usize = 8 * 1024 * 1024;
/// Largest header the reader accepts.
pub const MAX_HEADER: usize = 64 * 1024;

/// The length-prefixed dag-cbor header `{"roots": [...], "version": 1}`.
pub fn header(roots: &[Cid]) -> Vec<u8> {
    let mut cbor = Vec::with_capacity(16 + roots.len() * 42);
    cbor.push(0xa2); // map(2)
    cbor.push(0x65);
    cbor.extend_from_slice(b"roots");
    cbor_head(4, roots.len() as u64, &mut cbor);
    for root in roots {
        let bytes = root.to_bytes();
        cbor.extend_from_slice(&[0xd8, 0x2a]); // tag(42)
        cbor_head(2, bytes.len() as u64 + 1, &mut cbor);
        cbor.push(0x00); // identity multibase prefix
        cbor.extend_from_slice(&bytes);
    }
    cbor.push(0x67);
    cbor.extend_from_slice(b"version");
    cbor.push(0x01);
    let mut out = Vec::with_capacity(cbor.len() + 2);
    varint::encode(cbor.len() as u64, &mut out);
    out.extend_from_slice(&cbor);
    out
}

fn cbor_head(major: u8, value: u64, out: &mut Vec<u8>) {
    let major = major << 5;
    match value {
        0..=23 => out.push(major | value as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, value as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(value as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(value as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&value.to_be_bytes());
        }
    }
}

/// Appends one section: varint(len) ‖ CID ‖ block.
pub fn append_section(cid: &Cid, block: &[u8], out: &mut Vec<u8>) {
    let cid_bytes = cid.to_bytes();
    varint::encode((cid_bytes.len() + block.len()) as u64, out);
    out.extend_from_slice(&cid_bytes);
    out.extend_from_slice(block);
}

/// Length of a section holding `cid` and a block of `block_len` bytes.
pub fn section_len(cid: &Cid, block_len: usize) -> u64 {
    let body = cid.encoded_len() + block_len;
    (varint::encoded_len(body as u64) + body) as u64
}

#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("the CAR ends inside {what} at byte {offset}")]
    Truncated { what: &'static str, offset: u64 },
    #[error("bad CAR header: {0}")]
    BadHeader(String),
    #[error("bad section at byte {offset}: {reason}")]
    BadSection { offset: u64, reason: String },
    #[error("block {cid} at byte {offset} does not match its hash")]
    HashMismatch { cid: String, offset: u64 },
    #[error(
        "block {cid} at byte {offset} uses a hash function this reader cannot check (0x{code:x})"
    )]
    UnsupportedHash { cid: String, offset: u64, code: u64 },
    #[error("root {0} is not among the blocks")]
    MissingRoot(String),
    #[error("cannot read the CAR: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads a CAR v1 stream, verifying each block.
pub struct CarReader<R> {
    input: R,
    offset: u64,
    roots: Vec<Cid>,
}

/// A verified block and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarBlock {
    pub cid: Cid,
    pub data: Vec<u8>,
    /// Offset of the block bytes (after the CID) in the CAR.
    pub offset: u64,
}

impl<R: Read> CarReader<R> {
    pub fn new(mut input: R) -> Result<Self, CarError> {
        let mut offset = 0;
        let len = read_varint(&mut input, &mut offset, "the header length")?.ok_or(
            CarError::Truncated {
                what: "the header length",
                offset: 0,
            },
        )?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_HEADER && *l > 0)
            .ok_or_else(|| CarError::BadHeader(format!("header length {len} is out of range")))?;
        let mut cbor = vec![0u8; len];
        read_exact(&mut input, &mut cbor, &mut offset, "the header")?;
        let roots = parse_header(&cbor)?;
        Ok(Self {
            input,
            offset,
            roots,
        })
    }

    pub fn roots(&self) -> &[Cid] {
        &self.roots
    }

    /// The next verified block, or None at the end.
    pub fn next_block(&mut self) -> Result<Option<CarBlock>, CarError> {
        let start = self.offset;
        let Some(len) = read_varint(&mut self.input, &mut self.offset, "a section length")? else {
            return Ok(None);
        };
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= MAX_BLOCK + 128)
            .ok_or_else(|| CarError::BadSection {
                offset: start,
                reason: format!("section length {len} is over the {MAX_BLOCK}-byte limit"),
            })?;
        let mut section = vec![0u8; len];
        read_exact(&mut self.input, &mut section, &mut self.offset, "a section")?;
        let cid_len = cid_length(&section).map_err(|reason| CarError::BadSection {
            offset: start,
            reason,
        })?;
        let cid = Cid::try_from(&section[..cid_len]).map_err(|e| CarError::BadSection {
            offset: start,
            reason: format!("invalid CID: {e}"),
        })?;
        let data = section.split_off(cid_len);
        let block_offset = self.offset - data.len() as u64;
        verify_block(&cid, &data, block_offset)?;
        Ok(Some(CarBlock {
            cid,
            data,
            offset: block_offset,
        }))
    }

    /// Reads to the end, checking every block and that every root is present.
    pub fn verify_all(mut self) -> Result<CarSummary, CarError> {
        let mut missing: Vec<Cid> = self.roots.clone();
        let mut blocks = 0u64;
        let mut bytes = 0u64;
        while let Some(block) = self.next_block()? {
            missing.retain(|r| *r != block.cid);
            blocks += 1;
            bytes += block.data.len() as u64;
        }
        if let Some(root) = missing.first() {
            return Err(CarError::MissingRoot(root.to_string()));
        }
        Ok(CarSummary {
            roots: self.roots,
            blocks,
            block_bytes: bytes,
            car_bytes: self.offset,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarSummary {
    pub roots: Vec<Cid>,
    pub blocks: u64,
    pub block_bytes: u64,
    pub car_bytes: u64,
}

/// Checks a block against its CID's multihash.
pub fn verify_block(cid: &Cid, data: &[u8], offset: u64) -> Result<(), CarError> {
    let mh = cid.hash();
    let ok = match mh.code() {
        SHA2_256 => <[u8; 32]>::from(Sha256::digest(data)) == mh.digest(),
        IDENTITY => data == mh.digest(),
        code => {
            return Err(CarError::UnsupportedHash {
                cid: cid.to_string(),
                offset,
                code,
            });
        }
    };
    if ok {
        Ok(())
    } else {
        Err(CarError::HashMismatch {
            cid: cid.to_string(),
            offset,
        })
    }
}

/// Bytes the CID at the start of a section takes.
fn cid_length(section: &[u8]) -> Result<usize, String> {
    if section.len() >= 2 && section[0] == 0x12 && section[1] == 0x20 {
        return if section.len() >= 34 {
            Ok(34)
        } else {
            Err("truncated CIDv0".into())
        };
    }
    let mut pos = 0;
    let mut field = |name: &str| -> Result<u64, String> {
        let (v, n) =
            varint::decode(&section[pos..]).map_err(|_| format!("truncated CID {name}"))?;
        pos += n;
        Ok(v)
    };
    let version = field("version")?;
    if version != 1 {
        return Err(format!("unsupported CID version {version}"));
    }
    field("codec")?;
    field("hash code")?;
    let digest_len = field("digest length")?;
    let end = usize::try_from(digest_len)
        .ok()
        .and_then(|l| pos.checked_add(l))
        .filter(|end| *end <= section.len())
        .ok_or_else(|| "CID digest runs past the section".to_string())?;
    Ok(end)
}

fn read_varint<R: Read>(
    input: &mut R,
    offset: &mut u64,
    what: &'static str,
) -> Result<Option<u64>, CarError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let mut byte = [0u8; 1];
        let n = loop {
            match input.read(&mut byte) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            }
        };
        if n == 0 {
            return if i == 0 {
                Ok(None)
            } else {
                Err(CarError::Truncated {
                    what,
                    offset: *offset,
                })
            };
        }
        *offset += 1;
        if i == 9 && byte[0] > 1 {
            break;
        }
        value |= u64::from(byte[0] & 0x7f) << (7 * i);
        if byte[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(CarError::BadSection {
        offset: *offset,
        reason: format!("{what} is not a valid varint"),
    })
}

fn read_exact<R: Read>(
    input: &mut R,
    buf: &mut [u8],
    offset: &mut u64,
    what: &'static str,
) -> Result<(), CarError> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => {
                return Err(CarError::Truncated {
                    what,
                    offset: *offset + filled as u64,
                });
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    *offset += buf.len() as u64;
    Ok(())
}

/// Parses the dag-cbor header map, accepting its keys in any order.
fn parse_header(cbor: &[u8]) -> Result<Vec<Cid>, CarError> {
    let bad = |m: &str| CarError::BadHeader(m.to_string());
    let mut c = Cbor { buf: cbor, pos: 0 };
    let (major, entries) = c.head().ok_or_else(|| bad("not a CBOR map"))?;
    if major != 5 {
        return Err(bad("not a CBOR map"));
    }
    let mut roots = None;
    let mut version = None;
    for _ in 0..entries.min(16) {
        let key = c.text().ok_or_else(|| bad("map key is not a string"))?;
        match key {
            b"roots" => {
                let (major, n) = c.head().ok_or_else(|| bad("roots is not an array"))?;
                if major != 4 || n > 1024 {
                    return Err(bad("roots is not an array"));
                }
                let mut list = Vec::new();
                for _ in 0..n {
                    let (major, tag) = c.head().ok_or_else(|| bad("root is not a CID"))?;
                    if major != 6 || tag != 42 {
                        return Err(bad("root is not a tag-42 CID"));
                    }
                    let bytes = c
                        .bytes()
                        .ok_or_else(|| bad("root CID is not a byte string"))?;
                    if bytes.first() != Some(&0) {
                        return Err(bad("root CID lacks the identity multibase prefix"));
                    }
                    let cid = Cid::try_from(&bytes[1..])
                        .map_err(|e| CarError::BadHeader(format!("root CID: {e}")))?;
                    list.push(cid);
                }
                roots = Some(list);
            }
            b"version" => {
                let (major, v) = c.head().ok_or_else(|| bad("version is not an integer"))?;
                if major != 0 {
                    return Err(bad("version is not an integer"));
                }
                version = Some(v);
            }
            _ => return Err(bad("unexpected header key")),
        }
    }
    match version {
        Some(1) => {}
        Some(v) => return Err(CarError::BadHeader(format!("unsupported CAR version {v}"))),
        None => return Err(bad("version missing")),
    }
    roots.ok_or_else(|| bad("roots missing"))
}

struct Cbor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cbor<'a> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.buf.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }
    fn head(&mut self) -> Option<(u8, u64)> {
        let first = self.byte()?;
        let major = first >> 5;
        let info = first & 0x1f;
        let value = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let n = 1usize << (info - 24);
                let mut v = 0u64;
                for _ in 0..n {
                    v = (v << 8) | u64::from(self.byte()?);
                }
                v
            }
            _ => return None,
        };
        Some((major, value))
    }
    fn take(&mut self, n: u64) -> Option<&'a [u8]> {
        let n = usize::try_from(n).ok()?;
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    fn text(&mut self) -> Option<&'a [u8]> {
        match self.head()? {
            (3, n) => self.take(n),
            _ => None,
        }
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        match self.head()? {
            (2, n) => self.take(n),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cids::{RAW, v1_sha256};

    fn car_of(blocks: &[&[u8]]) -> (Vec<u8>, Vec<Cid>) {
        let cids: Vec<Cid> = blocks.iter().map(|b| v1_sha256(RAW, b)).collect();
        let mut car = header(&cids[..1]);
        for (cid, block) in cids.iter().zip(blocks) {
            append_section(cid, block, &mut car);
        }
        (car, cids)
    }

    #[test]
    fn a_single_root_header_is_58_bytes() {
        let h = header(&[v1_sha256(RAW, b"x")]);
        assert_eq!(h[0], 0x3a);
        assert_eq!(h.len(), 59);
        assert_eq!(&h[1..9], &[0xa2, 0x65, b'r', b'o', b'o', b't', b's', 0x81]);
    }

    #[test]
    fn round_trip_verifies() {
        let (car, cids) = car_of(&[b"one", b"two", b""]);
        let summary = CarReader::new(&car[..]).unwrap().verify_all().unwrap();
        assert_eq!(summary.roots, vec![cids[0]]);
        assert_eq!(summary.blocks, 3);
        assert_eq!(summary.car_bytes, car.len() as u64);
    }

    #[test]
    fn every_truncation_is_a_clear_error() {
        let (car, cids) = car_of(&[b"one", b"two"]);
        // Cutting right after the first section leaves a shorter, valid CAR.
        let boundary = header(&cids[..1]).len() as u64 + section_len(&cids[0], 3);
        for cut in 0..car.len() {
            let result = CarReader::new(&car[..cut]).and_then(|r| r.verify_all());
            match result {
                Ok(summary) if cut as u64 == boundary => assert_eq!(summary.blocks, 1),
                Err(CarError::Truncated { .. }) | Err(CarError::MissingRoot(_)) => {}
                Err(CarError::BadHeader(_)) if cut < 60 => {}
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_flipped_byte_is_a_hash_mismatch_naming_the_block() {
        let (mut car, cids) = car_of(&[b"one", b"two"]);
        let last = car.len() - 1;
        car[last] ^= 1;
        match CarReader::new(&car[..]).unwrap().verify_all() {
            Err(CarError::HashMismatch { cid, .. }) => assert_eq!(cid, cids[1].to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_root_that_is_not_a_block_is_reported() {
        let extra = v1_sha256(RAW, b"absent");
        let mut car = header(&[extra]);
        append_section(&v1_sha256(RAW, b"one"), b"one", &mut car);
        assert!(matches!(
            CarReader::new(&car[..]).unwrap().verify_all(),
            Err(CarError::MissingRoot(_))
        ));
    }
}
