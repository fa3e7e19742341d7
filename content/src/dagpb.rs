//! dag-pb (PBNode / PBLink) and UnixFS Data encoding, with the exact field order and the
//! explicit empty link names that kubo's CIDs depend on, and a decoder for walking DAGs.
use cid::Cid;

use crate::varint;

/// A link of a dag-pb node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    pub cid: Cid,
    pub name: String,
    pub tsize: u64,
}

/// UnixFS node types we produce and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixfsType {
    Raw = 0,
    Directory = 1,
    File = 2,
    Metadata = 3,
    Symlink = 4,
    HamtShard = 5,
}

/// The UnixFS `Data` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnixfsData {
    pub kind: UnixfsType,
    pub data: Option<Vec<u8>>,
    pub filesize: Option<u64>,
    pub blocksizes: Vec<u64>,
}

fn put_key(field: u32, wire: u8, out: &mut Vec<u8>) {
    varint::encode(u64::from(field << 3 | u32::from(wire)), out);
}

fn put_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    put_key(field, 2, out);
    varint::encode(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn put_varint(field: u32, value: u64, out: &mut Vec<u8>) {
    put_key(field, 0, out);
    varint::encode(value, out);
}

impl UnixfsData {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.blocksizes.len() * 4);
        put_varint(1, self.kind as u64, &mut out);
        if let Some(data) = &self.data {
            put_bytes(2, data, &mut out);
        }
        if let Some(size) = self.filesize {
            put_varint(3, size, &mut out);
        }
        // Unpacked: one key per entry. Packed encoding gives other CIDs.
        for size in &self.blocksizes {
            put_varint(4, *size, &mut out);
        }
        out
    }
}

/// Encodes a PBNode: Links (field 2) before Data (field 1), each link Hash, Name (written
/// even when empty), Tsize.
pub fn encode_node(links: &[PbLink], data: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(links.len() * 48 + data.map_or(0, <[u8]>::len) + 8);
    let mut link_buf = Vec::with_capacity(64);
    for link in links {
        link_buf.clear();
        put_bytes(1, &link.cid.to_bytes(), &mut link_buf);
        put_bytes(2, link.name.as_bytes(), &mut link_buf);
        put_varint(3, link.tsize, &mut link_buf);
        put_bytes(2, &link_buf, &mut out);
    }
    if let Some(data) = data {
        put_bytes(1, data, &mut out);
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("protobuf is truncated or malformed")]
    Malformed,
    #[error("a link holds an invalid CID")]
    BadCid,
    #[error("unknown UnixFS type {0}")]
    UnknownType(u64),
}

/// A decoded PBNode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbNode {
    pub links: Vec<PbLink>,
    pub data: Option<Vec<u8>>,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }
    fn varint(&mut self) -> Result<u64, DecodeError> {
        let (v, n) = varint::decode(&self.buf[self.pos..]).map_err(|_| DecodeError::Malformed)?;
        self.pos += n;
        Ok(v)
    }
    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Malformed)?;
        let end = self.pos.checked_add(len).ok_or(DecodeError::Malformed)?;
        let slice = self.buf.get(self.pos..end).ok_or(DecodeError::Malformed)?;
        self.pos = end;
        Ok(slice)
    }
    fn skip(&mut self, wire: u64) -> Result<(), DecodeError> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            _ => Err(DecodeError::Malformed),
        }
    }
    fn advance(&mut self, n: usize) -> Result<(), DecodeError> {
        if self.pos + n > self.buf.len() {
            return Err(DecodeError::Malformed);
        }
        self.pos += n;
        Ok(())
    }
}

pub fn decode_node(block: &[u8]) -> Result<PbNode, DecodeError> {
    let mut r = Reader { buf: block, pos: 0 };
    let mut node = PbNode {
        links: Vec::new(),
        data: None,
    };
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, key & 7) {
            (1, 2) => node.data = Some(r.bytes()?.to_vec()),
            (2, 2) => node.links.push(decode_link(r.bytes()?)?),
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(node)
}

fn decode_link(bytes: &[u8]) -> Result<PbLink, DecodeError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let mut cid = None;
    let mut name = String::new();
    let mut tsize = 0;
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, key & 7) {
            (1, 2) => cid = Some(Cid::try_from(r.bytes()?).map_err(|_| DecodeError::BadCid)?),
            (2, 2) => name = String::from_utf8_lossy(r.bytes()?).into_owned(),
            (3, 0) => tsize = r.varint()?,
            (_, wire) => r.skip(wire)?,
        }
    }
    Ok(PbLink {
        cid: cid.ok_or(DecodeError::BadCid)?,
        name,
        tsize,
    })
}

pub fn decode_unixfs(data: &[u8]) -> Result<UnixfsData, DecodeError> {
    let mut r = Reader { buf: data, pos: 0 };
    let mut out = UnixfsData {
        kind: UnixfsType::Raw,
        data: None,
        filesize: None,
        blocksizes: Vec::new(),
    };
    let mut seen_type = false;
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, key & 7) {
            (1, 0) => {
                seen_type = true;
                out.kind = match r.varint()? {
                    0 => UnixfsType::Raw,
                    1 => UnixfsType::Directory,
                    2 => UnixfsType::File,
                    3 => UnixfsType::Metadata,
                    4 => UnixfsType::Symlink,
                    5 => UnixfsType::HamtShard,
                    other => return Err(DecodeError::UnknownType(other)),
                }
            }
            (2, 2) => out.data = Some(r.bytes()?.to_vec()),
            (3, 0) => out.filesize = Some(r.varint()?),
            (4, 0) => out.blocksizes.push(r.varint()?),
            (4, 2) => {
                // Packed blocksizes: not what we write, but valid protobuf.
                let packed = r.bytes()?;
                let mut p = Reader {
                    buf: packed,
                    pos: 0,
                };
                while !p.done() {
                    out.blocksizes.push(p.varint()?);
                }
            }
            (_, wire) => r.skip(wire)?,
        }
    }
    if !seen_type {
        return Err(DecodeError::Malformed);
    }
    Ok(out)
}
