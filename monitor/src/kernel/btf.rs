//! A small reader of the kernel's BTF (BPF Type Format), enough to answer
//! "at which byte offset does `struct S` keep member `a.b.c`" and "how big is
//! `struct S`" for the running kernel.
//!
//! The format is documented in the kernel's `Documentation/bpf/btf.rst`: a
//! header, a type section (a sequence of `struct btf_type` records, each
//! followed by kind-specific data) and a string section. Type ids start at 1
//! (0 is `void`), in the order the records appear. Only little-endian BTF is
//! read (the byte order of every kernel this monitor runs on); split BTF (kernel
//! modules) is not needed and not supported.
//!
//! Parsing never panics: every read is bounds-checked and malformed input
//! becomes a [`BtfError::Malformed`].
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the running kernel exposes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const BTF_MAGIC: u16 = 0xeb9f;
const HEADER_LEN: usize = 24;
/// Bound on typedef/modifier chains and on nesting of anonymous members, so a
/// cyclic (malformed) blob cannot make a lookup loop forever.
const MAX_DEPTH: usize = 64;

/// BTF kinds (`BTF_KIND_*`).
mod kind {
    pub const INT: u8 = 1;
    pub const PTR: u8 = 2;
    pub const ARRAY: u8 = 3;
    pub const STRUCT: u8 = 4;
    pub const UNION: u8 = 5;
    pub const ENUM: u8 = 6;
    pub const FWD: u8 = 7;
    pub const TYPEDEF: u8 = 8;
    pub const VOLATILE: u8 = 9;
    pub const CONST: u8 = 10;
    pub const RESTRICT: u8 = 11;
    pub const FUNC: u8 = 12;
    pub const FUNC_PROTO: u8 = 13;
    pub const VAR: u8 = 14;
    pub const DATASEC: u8 = 15;
    pub const FLOAT: u8 = 16;
    pub const DECL_TAG: u8 = 17;
    pub const TYPE_TAG: u8 = 18;
    pub const ENUM64: u8 = 19;
}

/// Why a BTF blob could not be read or a lookup failed.
#[derive(Debug)]
pub enum BtfError {
    /// The file could not be read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The blob is not valid BTF.
    Malformed(String),
    /// No struct (or union) of that name.
    NoSuchStruct(String),
    /// `missing` is not a member of the struct reached by the path so far.
    NoSuchMember {
        strukt: String,
        path: String,
        missing: String,
    },
    /// A component of the path other than the last is not a struct or union.
    NotAComposite {
        strukt: String,
        path: String,
        component: String,
    },
    /// The member is a bitfield, which has no byte offset.
    Bitfield { strukt: String, path: String },
}

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BtfError::Io { path, source } => {
                write!(f, "cannot read BTF from {}: {source}", path.display())
            }
            BtfError::Malformed(why) => write!(f, "malformed BTF: {why}"),
            BtfError::NoSuchStruct(s) => write!(f, "BTF has no struct or union named `{s}`"),
            BtfError::NoSuchMember {
                strukt,
                path,
                missing,
            } => {
                if path == missing {
                    write!(
                        f,
                        "struct {strukt} has no member `{missing}` in this kernel's BTF"
                    )
                } else {
                    write!(
                        f,
                        "struct {strukt}: member `{missing}` (of `{path}`) not found in this kernel's BTF"
                    )
                }
            }
            BtfError::NotAComposite {
                strukt,
                path,
                component,
            } => write!(
                f,
                "struct {strukt}: `{component}` (of `{path}`) is not a struct or union"
            ),
            BtfError::Bitfield { strukt, path } => {
                write!(
                    f,
                    "struct {strukt}: member `{path}` is a bitfield and has no byte offset"
                )
            }
        }
    }
}

impl std::error::Error for BtfError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BtfError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

pub type Result<T, E = BtfError> = std::result::Result<T, E>;

fn malformed<T>(why: impl Into<String>) -> Result<T> {
    Err(BtfError::Malformed(why.into()))
}

/// One type record. Kind-specific data (members, params, ...) stays in the
/// blob at `data`, already bounds-checked at parse time.
#[derive(Clone, Copy, Debug)]
struct TypeRec {
    name_off: u32,
    kind: u8,
    kind_flag: bool,
    vlen: u16,
    /// `size` for sized kinds, `type` for the referencing kinds.
    size_or_type: u32,
    /// Offset in `Btf::data` of the kind-specific data after the record.
    data: usize,
}

/// The byte offset and size of a member found by [`Btf::member`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Offset in bytes from the start of the outermost struct.
    pub offset: u32,
    /// Size in bytes of the member's type, when BTF can tell (not for
    /// functions, forward declarations or `void`).
    pub size: Option<u32>,
}

/// A parsed BTF blob.
pub struct Btf {
    data: Vec<u8>,
    /// Start and length of the string section in `data`.
    strings: (usize, usize),
    /// Index `i` holds type id `i + 1`.
    types: Vec<TypeRec>,
    /// Struct and union ids by name.
    composites: HashMap<Vec<u8>, Vec<u32>>,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("bytes", &self.data.len())
            .field("types", &self.types.len())
            .finish()
    }
}

fn read_u16(data: &[u8], at: usize) -> Option<u16> {
    let b = data.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    let b = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

impl Btf {
    /// Reads the running kernel's BTF from [`VMLINUX_BTF`].
    pub fn from_sys_fs() -> Result<Btf> {
        Btf::from_file(VMLINUX_BTF)
    }

    /// Reads and parses a raw BTF file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Btf> {
        let path = path.as_ref();
        let data = std::fs::read(path).map_err(|source| BtfError::Io {
            path: path.to_owned(),
            source,
        })?;
        Btf::parse_owned(data)
    }

    /// Parses a raw BTF blob (as found in `/sys/kernel/btf/vmlinux`).
    #[cfg(test)]
    pub fn parse(data: &[u8]) -> Result<Btf> {
        Btf::parse_owned(data.to_vec())
    }

    /// Like [`Btf::parse`], taking ownership of the bytes.
    pub fn parse_owned(data: Vec<u8>) -> Result<Btf> {
        if data.len() < HEADER_LEN {
            return malformed(format!(
                "{} bytes is shorter than the BTF header",
                data.len()
            ));
        }
        let magic = read_u16(&data, 0).unwrap_or(0);
        if magic != BTF_MAGIC {
            if magic == BTF_MAGIC.swap_bytes() {
                return malformed("big-endian BTF is not supported");
            }
            return malformed(format!("bad magic {magic:#06x}, expected {BTF_MAGIC:#06x}"));
        }
        let version = data[2];
        if version != 1 {
            return malformed(format!("unsupported BTF version {version}"));
        }
        let field = |at| read_u32(&data, at).map(|v| v as usize).unwrap_or(0);
        let hdr_len = field(4);
        let (type_off, type_len) = (field(8), field(12));
        let (str_off, str_len) = (field(16), field(20));
        if hdr_len < HEADER_LEN || hdr_len > data.len() {
            return malformed(format!("header length {hdr_len} out of range"));
        }
        let section = |name: &str, off: usize, len: usize| -> Result<(usize, usize)> {
            let start = hdr_len.checked_add(off);
            let end = start.and_then(|s| s.checked_add(len));
            match (start, end) {
                (Some(s), Some(e)) if e <= data.len() => Ok((s, len)),
                _ => malformed(format!(
                    "{name} section (offset {off}, length {len}) runs past the end ({} bytes)",
                    data.len()
                )),
            }
        };
        let (types_start, types_len) = section("type", type_off, type_len)?;
        let strings = section("string", str_off, str_len)?;
        if strings.1 > 0 && data[strings.0] != 0 {
            return malformed("string section does not start with an empty string");
        }
        if strings.1 > 0 && data[strings.0 + strings.1 - 1] != 0 {
            return malformed("string section is not NUL-terminated");
        }

        let mut btf = Btf {
            data: Vec::new(),
            strings,
            types: Vec::new(),
            composites: HashMap::new(),
        };
        let types_end = types_start + types_len;
        let mut at = types_start;
        while at < types_end {
            let id = btf.types.len() + 1;
            let rec = |off: usize| {
                read_u32(&data[..types_end], at + off).ok_or_else(|| {
                    BtfError::Malformed(format!("type {id} at byte {at} is truncated"))
                })
            };
            let name_off = rec(0)?;
            let info = rec(4)?;
            let size_or_type = rec(8)?;
            let vlen = (info & 0xffff) as u16;
            let kind = ((info >> 24) & 0x1f) as u8;
            let kind_flag = info >> 31 == 1;
            let n = vlen as usize;
            let extra = match kind {
                kind::INT => 4,
                kind::PTR
                | kind::FWD
                | kind::TYPEDEF
                | kind::VOLATILE
                | kind::CONST
                | kind::RESTRICT
                | kind::FUNC
                | kind::FLOAT
                | kind::TYPE_TAG => 0,
                kind::ARRAY => 12,
                kind::STRUCT | kind::UNION => n * 12,
                kind::ENUM => n * 8,
                kind::FUNC_PROTO => n * 8,
                kind::VAR => 4,
                kind::DATASEC => n * 12,
                kind::DECL_TAG => 4,
                kind::ENUM64 => n * 12,
                other => {
                    return malformed(format!(
                        "type {id} at byte {at} has unknown kind {other}; cannot skip it"
                    ));
                }
            };
            let data_at = at + 12;
            let next = data_at + extra;
            if next > types_end {
                return malformed(format!(
                    "type {id} (kind {kind}) at byte {at} runs past the end of the type section"
                ));
            }
            if name_off as usize >= strings.1.max(1) && name_off != 0 {
                return malformed(format!(
                    "type {id} has name offset {name_off} outside the string section"
                ));
            }
            btf.types.push(TypeRec {
                name_off,
                kind,
                kind_flag,
                vlen,
                size_or_type,
                data: data_at,
            });
            at = next;
        }
        btf.data = data;

        for (i, t) in btf.types.iter().enumerate() {
            if matches!(t.kind, kind::STRUCT | kind::UNION) && t.name_off != 0 {
                let name = btf.str_at(t.name_off)?.to_vec();
                btf.composites.entry(name).or_default().push(i as u32 + 1);
            }
        }
        Ok(btf)
    }

    fn str_at(&self, off: u32) -> Result<&[u8]> {
        let (start, len) = self.strings;
        let off = off as usize;
        if off >= len {
            if off == 0 {
                return Ok(b"");
            }
            return malformed(format!("string offset {off} outside the string section"));
        }
        let s = &self.data[start + off..start + len];
        // The section ends with a NUL (checked at parse), so one is always found.
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        Ok(&s[..end])
    }

    fn ty(&self, id: u32) -> Result<&TypeRec> {
        if id == 0 {
            return malformed("reference to void where a type was expected");
        }
        self.types.get(id as usize - 1).ok_or_else(|| {
            BtfError::Malformed(format!("reference to type {id}, beyond the last type"))
        })
    }

    fn u32_at(&self, at: usize) -> Result<u32> {
        read_u32(&self.data, at)
            .ok_or_else(|| BtfError::Malformed(format!("read at {at} out of range")))
    }

    /// Follows typedef/const/volatile/restrict/type-tag to the underlying type.
    fn resolve(&self, mut id: u32) -> Result<(u32, &TypeRec)> {
        for _ in 0..MAX_DEPTH {
            let t = self.ty(id)?;
            match t.kind {
                kind::TYPEDEF | kind::VOLATILE | kind::CONST | kind::RESTRICT | kind::TYPE_TAG => {
                    id = t.size_or_type;
                }
                _ => return Ok((id, t)),
            }
        }
        malformed(format!("type chain through {id} is too long (a cycle?)"))
    }

    /// Size in bytes of a type, if it has one.
    fn type_size(&self, id: u32, depth: usize) -> Result<Option<u32>> {
        if id == 0 {
            return Ok(None);
        }
        if depth > MAX_DEPTH {
            return malformed(format!("type {id} nests too deeply (a cycle?)"));
        }
        let (_, t) = self.resolve(id)?;
        Ok(match t.kind {
            kind::INT
            | kind::STRUCT
            | kind::UNION
            | kind::ENUM
            | kind::ENUM64
            | kind::FLOAT
            | kind::DATASEC => Some(t.size_or_type),
            // BTF does not record the pointer width; the kernel's is ours.
            kind::PTR => Some(std::mem::size_of::<usize>() as u32),
            kind::ARRAY => {
                let elem = self.u32_at(t.data)?;
                let nelems = self.u32_at(t.data + 8)?;
                self.type_size(elem, depth + 1)?
                    .and_then(|s| s.checked_mul(nelems))
            }
            _ => None,
        })
    }

    /// Finds a struct (preferred) or union by name. When several share a
    /// name, the first complete one wins.
    fn find_composite(&self, name: &str) -> Result<u32> {
        let ids = self
            .composites
            .get(name.as_bytes())
            .ok_or_else(|| BtfError::NoSuchStruct(name.to_owned()))?;
        let pick = |want: u8| {
            ids.iter().copied().find(|&id| {
                self.ty(id)
                    .map(|t| t.kind == want && (t.vlen > 0 || t.size_or_type > 0))
                    .unwrap_or(false)
            })
        };
        pick(kind::STRUCT)
            .or_else(|| pick(kind::UNION))
            .or_else(|| ids.first().copied())
            .ok_or_else(|| BtfError::NoSuchStruct(name.to_owned()))
    }

    /// Whether some enum of this kernel has a constant called `name`
    /// (`BPF_FUNC_loop`: the kernel knows that helper).
    pub fn has_enum_value(&self, name: &str) -> bool {
        self.types.iter().any(|t| {
            let entry = match t.kind {
                kind::ENUM => 8,
                kind::ENUM64 => 12,
                _ => return false,
            };
            (0..t.vlen as usize).any(|i| {
                self.u32_at(t.data + i * entry)
                    .and_then(|off| self.str_at(off))
                    .is_ok_and(|s| s == name.as_bytes())
            })
        })
    }

    /// Size in bytes of `struct name` (or `union name`).
    pub fn struct_size(&self, name: &str) -> Result<u32> {
        let id = self.find_composite(name)?;
        Ok(self.ty(id)?.size_or_type)
    }

    /// Offset in bytes of member `path` (`a`, or `a.b.c` through nested
    /// structs/unions) of `struct strukt`. Members of anonymous structs and
    /// unions are found as if they were direct members, as in C.
    #[cfg(test)]
    pub fn member_offset(&self, strukt: &str, path: &str) -> Result<u32> {
        Ok(self.member(strukt, path)?.offset)
    }

    /// Offset and size of member `path` of `struct strukt`; see [`Btf::member_offset`].
    pub fn member(&self, strukt: &str, path: &str) -> Result<MemberInfo> {
        let mut cur = self.find_composite(strukt)?;
        let mut bits: u64 = 0;
        let mut member_type = cur;
        let mut components = path.split('.').peekable();
        if path.is_empty() {
            return Err(BtfError::NoSuchMember {
                strukt: strukt.to_owned(),
                path: path.to_owned(),
                missing: String::new(),
            });
        }
        while let Some(component) = components.next() {
            let (_, t) = self.resolve(cur)?;
            if !matches!(t.kind, kind::STRUCT | kind::UNION) {
                return Err(BtfError::NotAComposite {
                    strukt: strukt.to_owned(),
                    path: path.to_owned(),
                    component: component.to_owned(),
                });
            }
            let found = self.find_member(cur, component.as_bytes(), 0)?;
            let Some(found) = found else {
                return Err(BtfError::NoSuchMember {
                    strukt: strukt.to_owned(),
                    path: path.to_owned(),
                    missing: component.to_owned(),
                });
            };
            if found.bitfield || found.bit_offset % 8 != 0 || self.is_int_bitfield(found.type_id)? {
                return Err(BtfError::Bitfield {
                    strukt: strukt.to_owned(),
                    path: path.to_owned(),
                });
            }
            bits += found.bit_offset;
            member_type = found.type_id;
            if components.peek().is_some() {
                cur = found.type_id;
            }
        }
        let offset = u32::try_from(bits / 8).map_err(|_| {
            BtfError::Malformed(format!("offset of {strukt}.{path} does not fit in 32 bits"))
        })?;
        Ok(MemberInfo {
            offset,
            size: self.type_size(member_type, 0)?,
        })
    }

    /// Old-style bitfields (struct without `kind_flag`) put the bit width in
    /// the member's INT type.
    fn is_int_bitfield(&self, id: u32) -> Result<bool> {
        if id == 0 {
            return Ok(false);
        }
        let (_, t) = self.resolve(id)?;
        if t.kind != kind::INT {
            return Ok(false);
        }
        let enc = self.u32_at(t.data)?;
        let int_offset = (enc >> 16) & 0xff;
        let nr_bits = enc & 0xff;
        Ok(int_offset != 0 || nr_bits as u64 != u64::from(t.size_or_type) * 8)
    }

    /// Looks for member `name` in composite `id`, descending into anonymous
    /// struct/union members. Returns the bit offset relative to `id`.
    fn find_member(&self, id: u32, name: &[u8], depth: usize) -> Result<Option<Found>> {
        if depth > MAX_DEPTH {
            return malformed("anonymous members nest too deeply (a cycle?)");
        }
        let (_, t) = self.resolve(id)?;
        if !matches!(t.kind, kind::STRUCT | kind::UNION) {
            return Ok(None);
        }
        let t = *t;
        // Named members first, at this level, then anonymous ones in order.
        let mut anonymous = Vec::new();
        for i in 0..t.vlen as usize {
            let at = t.data + i * 12;
            let m_name = self.u32_at(at)?;
            let m_type = self.u32_at(at + 4)?;
            let m_off = self.u32_at(at + 8)?;
            let (bit_offset, bitfield_size) = if t.kind_flag {
                (m_off & 0x00ff_ffff, m_off >> 24)
            } else {
                (m_off, 0)
            };
            if m_name == 0 {
                anonymous.push((m_type, bit_offset));
                continue;
            }
            if self.str_at(m_name)? == name {
                return Ok(Some(Found {
                    bit_offset: u64::from(bit_offset),
                    type_id: m_type,
                    bitfield: bitfield_size != 0,
                }));
            }
        }
        for (m_type, base) in anonymous {
            if m_type == 0 {
                continue;
            }
            if let Some(mut f) = self.find_member(m_type, name, depth + 1)? {
                f.bit_offset += u64::from(base);
                return Ok(Some(f));
            }
        }
        Ok(None)
    }
}

#[derive(Clone, Copy, Debug)]
struct Found {
    bit_offset: u64,
    type_id: u32,
    bitfield: bool,
}

/// Builds BTF blobs for tests.
#[cfg(test)]
pub(crate) mod builder {
    use super::kind;

    #[derive(Default)]
    pub struct Builder {
        types: Vec<u8>,
        strings: Vec<u8>,
        next_id: u32,
    }

    impl Builder {
        pub fn new() -> Self {
            Builder {
                types: Vec::new(),
                strings: vec![0],
                next_id: 1,
            }
        }

        pub fn str(&mut self, s: &str) -> u32 {
            if s.is_empty() {
                return 0;
            }
            let off = self.strings.len() as u32;
            self.strings.extend_from_slice(s.as_bytes());
            self.strings.push(0);
            off
        }

        fn rec(
            &mut self,
            name: &str,
            kind: u8,
            kind_flag: bool,
            vlen: u16,
            size_or_type: u32,
        ) -> u32 {
            let name_off = self.str(name);
            let info = (u32::from(kind_flag) << 31) | (u32::from(kind) << 24) | u32::from(vlen);
            for v in [name_off, info, size_or_type] {
                self.types.extend_from_slice(&v.to_le_bytes());
            }
            let id = self.next_id;
            self.next_id += 1;
            id
        }

        fn u32s(&mut self, vs: &[u32]) {
            for v in vs {
                self.types.extend_from_slice(&v.to_le_bytes());
            }
        }

        pub fn int(&mut self, name: &str, size: u32, bits_offset: u32, nr_bits: u32) -> u32 {
            let id = self.rec(name, kind::INT, false, 0, size);
            self.u32s(&[(bits_offset << 16) | nr_bits]);
            id
        }

        pub fn ptr(&mut self, to: u32) -> u32 {
            self.rec("", kind::PTR, false, 0, to)
        }

        pub fn typedef(&mut self, name: &str, to: u32) -> u32 {
            self.rec(name, kind::TYPEDEF, false, 0, to)
        }

        pub fn modifier(&mut self, kind: u8, to: u32) -> u32 {
            self.rec("", kind, false, 0, to)
        }

        pub fn array(&mut self, elem: u32, index: u32, n: u32) -> u32 {
            let id = self.rec("", kind::ARRAY, false, 0, 0);
            self.u32s(&[elem, index, n]);
            id
        }

        /// Members are (name, type, bit offset, bitfield size); `kind_flag`
        /// selects the bitfield encoding of the offset.
        pub fn composite(
            &mut self,
            k: u8,
            name: &str,
            size: u32,
            kind_flag: bool,
            members: &[(&str, u32, u32, u32)],
        ) -> u32 {
            let id = self.rec(name, k, kind_flag, members.len() as u16, size);
            for &(m, ty, off, bits) in members {
                let name_off = self.str(m);
                let off = if kind_flag { (bits << 24) | off } else { off };
                self.u32s(&[name_off, ty, off]);
            }
            id
        }

        pub fn raw(
            &mut self,
            name: &str,
            kind: u8,
            kind_flag: bool,
            vlen: u16,
            size_or_type: u32,
            extra: &[u32],
        ) -> u32 {
            let id = self.rec(name, kind, kind_flag, vlen, size_or_type);
            self.u32s(extra);
            id
        }

        pub fn build(&self) -> Vec<u8> {
            let mut out = Vec::new();
            out.extend_from_slice(&super::BTF_MAGIC.to_le_bytes());
            out.push(1);
            out.push(0);
            let type_len = self.types.len() as u32;
            for v in [24u32, 0, type_len, type_len, self.strings.len() as u32] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&self.types);
            out.extend_from_slice(&self.strings);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::builder::Builder;
    use super::*;

    /// A miniature of the kernel's shapes: a struct with an anonymous struct
    /// inside an anonymous union, typedef'd/const members, a nested named
    /// struct, kind_flag bitfields, and records of every other kind around it.
    fn sample() -> Vec<u8> {
        let mut b = Builder::new();
        let int = b.int("int", 4, 0, 32);
        let ulong = b.int("unsigned long", 8, 0, 64);
        let pid_t = b.typedef("pid_t", int);
        let cpid = b.modifier(kind::CONST, pid_t);
        let vol = b.modifier(kind::VOLATILE, ulong);
        let tag = b.raw("user", kind::TYPE_TAG, false, 0, vol, &[]);
        // Kinds that must merely be skipped correctly.
        b.raw("", kind::FUNC_PROTO, false, 2, int, &[0, int, 0, ulong]);
        b.raw("f", kind::FUNC, false, 0, 7, &[]);
        b.raw("v", kind::VAR, false, 0, int, &[1]);
        b.raw(".data", kind::DATASEC, false, 1, 8, &[9, 0, 4]);
        b.raw("double", kind::FLOAT, false, 0, 8, &[]);
        b.raw("tag", kind::DECL_TAG, false, 0, int, &[u32::MAX]);
        b.raw("e64", kind::ENUM64, false, 2, 8, &[0, 1, 2, 0, 3, 4]);
        b.raw("e", kind::ENUM, false, 1, 4, &[0, 5]);
        b.raw("fwd", kind::FWD, false, 0, 0, &[]);
        let arr = b.array(int, int, 4);
        let inner = b.composite(
            kind::STRUCT,
            "inner",
            16,
            false,
            &[("x", int, 0, 0), ("y", ulong, 64, 0)],
        );
        let anon_s = b.composite(
            kind::STRUCT,
            "",
            16,
            false,
            &[("arg_start", tag, 0, 0), ("arg_end", ulong, 64, 0)],
        );
        let anon_u = b.composite(
            kind::UNION,
            "",
            16,
            false,
            &[("", anon_s, 0, 0), ("whole", arr, 0, 0)],
        );
        let rstrict = b.modifier(kind::RESTRICT, inner);
        let int_ptr = b.ptr(int);
        b.composite(
            kind::STRUCT,
            "task",
            64,
            true,
            &[
                ("flags", int, 0, 3),
                ("more", int, 3, 5),
                ("tgid", cpid, 32, 0),
                ("", anon_u, 64, 0),
                ("nested", rstrict, 192, 0),
                ("parent", int_ptr, 320, 0),
            ],
        );
        // Old-style (no kind_flag) bitfield via an INT with nr_bits.
        let int3 = b.int("int", 4, 0, 3);
        b.composite(
            kind::STRUCT,
            "old",
            8,
            false,
            &[("a", int3, 0, 0), ("b", int, 32, 0)],
        );
        // A forward declaration sharing a name with a complete struct.
        b.composite(kind::STRUCT, "dup", 0, false, &[]);
        b.composite(kind::STRUCT, "dup", 8, false, &[("z", ulong, 0, 0)]);
        b.build()
    }

    #[test]
    fn finds_members_through_anonymous_and_nested_types() {
        let btf = Btf::parse(&sample()).unwrap();
        assert_eq!(btf.member_offset("task", "tgid").unwrap(), 4);
        assert_eq!(btf.member("task", "tgid").unwrap().size, Some(4));
        assert_eq!(btf.member_offset("task", "arg_start").unwrap(), 8);
        assert_eq!(btf.member("task", "arg_start").unwrap().size, Some(8));
        assert_eq!(btf.member_offset("task", "arg_end").unwrap(), 16);
        assert_eq!(btf.member("task", "whole").unwrap().size, Some(16));
        assert_eq!(btf.member_offset("task", "nested").unwrap(), 24);
        assert_eq!(btf.member_offset("task", "nested.y").unwrap(), 32);
        assert_eq!(btf.member_offset("task", "parent").unwrap(), 40);
        assert_eq!(btf.member("task", "parent").unwrap().size, Some(8));
        assert_eq!(btf.struct_size("task").unwrap(), 64);
        assert_eq!(btf.struct_size("inner").unwrap(), 16);
        assert_eq!(btf.struct_size("dup").unwrap(), 8);
        assert_eq!(btf.member_offset("dup", "z").unwrap(), 0);
    }

    #[test]
    fn reports_what_is_missing() {
        let btf = Btf::parse(&sample()).unwrap();
        let e = btf.member_offset("task", "nope").unwrap_err();
        assert!(
            matches!(&e, BtfError::NoSuchMember { missing, .. } if missing == "nope"),
            "{e}"
        );
        assert!(
            e.to_string().contains("task") && e.to_string().contains("nope"),
            "{e}"
        );
        let e = btf.member_offset("task", "nested.q").unwrap_err();
        assert!(
            matches!(&e, BtfError::NoSuchMember { missing, .. } if missing == "q"),
            "{e}"
        );
        let e = btf.member_offset("task", "tgid.x").unwrap_err();
        assert!(matches!(e, BtfError::NotAComposite { .. }), "{e}");
        let e = btf.member_offset("no_such_struct", "x").unwrap_err();
        assert!(e.to_string().contains("no_such_struct"), "{e}");
        assert!(btf.member_offset("task", "").is_err());
    }

    #[test]
    fn bitfields_are_errors() {
        let btf = Btf::parse(&sample()).unwrap();
        for m in ["flags", "more"] {
            let e = btf.member_offset("task", m).unwrap_err();
            assert!(matches!(e, BtfError::Bitfield { .. }), "{m}: {e}");
        }
        let e = btf.member_offset("old", "a").unwrap_err();
        assert!(matches!(e, BtfError::Bitfield { .. }), "{e}");
        assert_eq!(btf.member_offset("old", "b").unwrap(), 4);
    }

    #[test]
    fn unknown_kind_and_bad_header_are_errors() {
        let mut b = Builder::new();
        b.raw("x", 25, false, 0, 0, &[]);
        assert!(matches!(
            Btf::parse(&b.build()),
            Err(BtfError::Malformed(_))
        ));
        let mut blob = sample();
        blob.swap(0, 1);
        let e = Btf::parse(&blob).unwrap_err();
        assert!(e.to_string().contains("big-endian"), "{e}");
    }

    /// Cheap deterministic generator so the fuzz test needs no crate.
    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn exercise(btf: &Btf) {
        for (s, m) in [
            ("task", "tgid"),
            ("task", "arg_end"),
            ("task", "nested.y"),
            ("inner", "x"),
            ("dup", "z"),
            ("old", "b"),
        ] {
            let _ = btf.member(s, m);
            let _ = btf.struct_size(s);
        }
    }

    #[test]
    fn truncated_and_garbage_input_never_panics() {
        let blob = sample();
        for len in 0..blob.len() {
            if let Ok(btf) = Btf::parse(&blob[..len]) {
                exercise(&btf);
            }
        }
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut b = blob.clone();
            let flips = 1 + rng.next() % 8;
            for _ in 0..flips {
                let i = (rng.next() as usize) % b.len();
                b[i] = rng.next() as u8;
            }
            if let Ok(btf) = Btf::parse(&b) {
                exercise(&btf);
            }
        }
        for len in [0usize, 1, 23, 24, 25, 100, 4096] {
            let garbage: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let _ = Btf::parse(&garbage);
            let mut with_magic = garbage.clone();
            if with_magic.len() >= 3 {
                with_magic[..3].copy_from_slice(&[0x9f, 0xeb, 1]);
                if let Ok(btf) = Btf::parse(&with_magic) {
                    exercise(&btf);
                }
            }
        }
    }

    /// A self-referencing typedef and a struct containing itself anonymously
    /// must end in errors, not loops.
    #[test]
    fn cycles_are_errors() {
        let mut b = Builder::new();
        let int = b.int("int", 4, 0, 32);
        let _ = int;
        b.typedef("loop", 2); // id 2 points at itself
        b.composite(kind::STRUCT, "s", 4, false, &[("", 3, 0, 0)]); // id 3 contains itself
        b.composite(kind::STRUCT, "t", 4, false, &[("a", 2, 0, 0)]);
        let btf = Btf::parse(&b.build()).unwrap();
        assert!(btf.member_offset("s", "x").is_err());
        assert!(btf.member("t", "a").is_err());
    }

    fn real() -> Option<Btf> {
        match Btf::from_sys_fs() {
            Ok(b) => Some(b),
            Err(e) => {
                eprintln!("skipping: {e}");
                None
            }
        }
    }

    #[test]
    fn real_vmlinux_offsets_are_plausible() {
        let Some(btf) = real() else { return };
        let task = btf.struct_size("task_struct").unwrap();
        let mm = btf.struct_size("mm_struct").unwrap();
        assert!(
            task > 1000 && mm > 100,
            "task_struct {task}, mm_struct {mm}"
        );
        for (m, size) in [("tgid", 4), ("real_parent", 8), ("mm", 8), ("exit_code", 4)] {
            let info = btf.member("task_struct", m).unwrap();
            assert!(
                info.offset > 0 && info.offset < task,
                "task_struct.{m} at {}",
                info.offset
            );
            assert_eq!(info.size, Some(size), "task_struct.{m}");
            eprintln!("task_struct.{m} = {}", info.offset);
        }
        let start = btf.member_offset("mm_struct", "arg_start").unwrap();
        let end = btf.member_offset("mm_struct", "arg_end").unwrap();
        eprintln!("mm_struct.arg_start = {start}, arg_end = {end}");
        assert!(start > 0 && end < mm);
        assert_eq!(end, start + 8);
        // tgid follows pid directly in every kernel since 2.6.
        let pid = btf.member_offset("task_struct", "pid").unwrap();
        assert_eq!(btf.member_offset("task_struct", "tgid").unwrap(), pid + 4);
        // A nested path through a named member.
        let se = btf.member_offset("task_struct", "se").unwrap();
        let vr = btf.member_offset("sched_entity", "vruntime").unwrap();
        assert_eq!(
            btf.member_offset("task_struct", "se.vruntime").unwrap(),
            se + vr
        );
    }
}
