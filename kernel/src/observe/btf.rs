//! Just enough of a BTF reader to find where fields sit in the running kernel's structs.
//!
//! The eBPF programs are written in Rust, which gets no CO-RE relocations, so the loader reads
//! the offsets the programs need from the kernel's own type information
//! (`/sys/kernel/btf/vmlinux`) and passes them in as globals. aya parses BTF too, but keeps
//! struct members private; this reader walks the type section once (format: the kernel's
//! `Documentation/bpf/btf.rst`) and answers two questions: "at which byte is `struct s`'s
//! member `m`, and of what kind is it?" and "of what kinds are this tracepoint's arguments?".
//! It only reads.

use std::{fs, io, path::Path};

/// Where the running kernel publishes its BTF.
pub(crate) const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

const BTF_MAGIC: u16 = 0xeb9f;
/// Fixed part of `struct btf_header`: magic, version, flags, hdr_len, then four u32s.
const HEADER_LEN: usize = 24;
/// Fixed part of `struct btf_type`: name_off, info, size/type.
const TYPE_LEN: usize = 12;

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_FWD: u32 = 7;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_FLOAT: u32 = 16;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// What a member's type is, after typedefs and qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// An integer of this many bytes.
    Int {
        bytes: u32,
    },
    Pointer,
    Other,
}

/// A member found by [`KernelBtf::member`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// Byte offset from the start of the outer struct.
    pub(crate) offset: u32,
    pub(crate) shape: Shape,
}

/// One `struct btf_type` and where its trailing data starts.
#[derive(Clone, Copy, Debug)]
struct Type {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    /// Offset of the kind-specific data that follows the fixed part, in the type section.
    extra: usize,
}

impl Type {
    fn kind(self) -> u32 {
        (self.info >> 24) & 0x1f
    }

    fn vlen(self) -> usize {
        (self.info & 0xffff) as usize
    }

    fn kind_flag(self) -> bool {
        self.info >> 31 == 1
    }
}

/// A parsed BTF blob: the type index plus the raw type and string sections.
#[derive(Debug)]
pub(crate) struct KernelBtf {
    /// Indexed by type id; id 0 is `void` and has no entry, so `types[id - 1]`.
    types: Vec<Type>,
    type_section: Vec<u8>,
    strings: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error("failed to read {path}")]
    Read {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("malformed BTF: {0}")]
    Malformed(&'static str),
    #[error("BTF type kind {kind} is unknown to this reader")]
    UnknownKind { kind: u32 },
}

impl KernelBtf {
    /// Reads and indexes the running kernel's BTF.
    pub(crate) fn from_sys_fs() -> Result<Self, BtfError> {
        Self::from_file(Path::new(VMLINUX_BTF))
    }

    pub(crate) fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = fs::read(path).map_err(|source| BtfError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&data)
    }

    /// Parses a BTF blob in this machine's byte order (as the kernel writes it).
    pub(crate) fn parse(data: &[u8]) -> Result<Self, BtfError> {
        if data.len() < HEADER_LEN {
            return Err(BtfError::Malformed("shorter than its header"));
        }
        if u16::from_ne_bytes([data[0], data[1]]) != BTF_MAGIC {
            return Err(BtfError::Malformed("bad magic (or foreign byte order)"));
        }
        let hdr_len = u32_at(data, 4)? as usize;
        let section = |off: usize| -> Result<&[u8], BtfError> {
            let start = hdr_len
                .checked_add(u32_at(data, off)? as usize)
                .ok_or(BtfError::Malformed("section offset overflows"))?;
            let end = start
                .checked_add(u32_at(data, off + 4)? as usize)
                .ok_or(BtfError::Malformed("section length overflows"))?;
            data.get(start..end)
                .ok_or(BtfError::Malformed("section past the end"))
        };
        let type_section = section(8)?.to_vec();
        let strings = section(16)?.to_vec();

        let mut types = Vec::new();
        let mut pos = 0;
        while pos < type_section.len() {
            let ty = Type {
                name_off: u32_at(&type_section, pos)?,
                info: u32_at(&type_section, pos + 4)?,
                size_or_type: u32_at(&type_section, pos + 8)?,
                extra: pos + TYPE_LEN,
            };
            pos = ty.extra + extra_len(ty)?;
            types.push(ty);
        }
        if pos != type_section.len() {
            return Err(BtfError::Malformed("last type runs past the type section"));
        }
        Ok(Self {
            types,
            type_section,
            strings,
        })
    }

    /// The member `member` of `struct struct_name`, looking through anonymous struct and
    /// union members as C does.
    pub(crate) fn member(&self, struct_name: &str, member: &str) -> Option<Member> {
        let id = self.find(|ty| ty.kind() == KIND_STRUCT && self.name(ty) == Some(struct_name))?;
        self.member_in(id, member, 0)
    }

    /// The arguments a BTF-enabled tracepoint passes to its programs, after the `void *`
    /// context that its `btf_trace_<name>` prototype starts with.
    pub(crate) fn tracepoint_args(&self, tracepoint: &str) -> Option<Vec<Shape>> {
        let typedef = format!("btf_trace_{tracepoint}");
        let id = self.find(|ty| ty.kind() == KIND_TYPEDEF && self.name(ty) == Some(&typedef))?;
        let ptr = self.get(self.get(id)?.size_or_type)?;
        if ptr.kind() != KIND_PTR {
            return None;
        }
        let proto = self.get(ptr.size_or_type)?;
        if proto.kind() != KIND_FUNC_PROTO {
            return None;
        }
        (1..proto.vlen())
            .map(|i| {
                let param_type = u32_at(&self.type_section, proto.extra + i * 8 + 4).ok()?;
                Some(self.shape(param_type))
            })
            .collect()
    }

    fn member_in(&self, struct_id: u32, wanted: &str, base_bits: u32) -> Option<Member> {
        let ty = self.get(struct_id)?;
        for i in 0..ty.vlen() {
            let at = ty.extra + i * 12;
            let name_off = u32_at(&self.type_section, at).ok()?;
            let member_type = u32_at(&self.type_section, at + 4).ok()?;
            let raw_offset = u32_at(&self.type_section, at + 8).ok()?;
            // With kind_flag set, the top 8 bits are a bitfield size.
            let bits = base_bits
                + if ty.kind_flag() {
                    raw_offset & 0x00ff_ffff
                } else {
                    raw_offset
                };
            let resolved = self.resolve(member_type)?;
            if name_off == 0 {
                let inner = self.get(resolved)?;
                if matches!(inner.kind(), KIND_STRUCT | KIND_UNION)
                    && let Some(found) = self.member_in(resolved, wanted, bits)
                {
                    return Some(found);
                }
                continue;
            }
            if self.string(name_off) != Some(wanted) {
                continue;
            }
            if !bits.is_multiple_of(8) {
                return None; // A bitfield: no byte offset to read at.
            }
            return Some(Member {
                offset: bits / 8,
                shape: self.shape(resolved),
            });
        }
        None
    }

    /// What type `id` is, after typedefs and qualifiers.
    fn shape(&self, id: u32) -> Shape {
        match self.resolve(id).and_then(|id| self.get(id)) {
            Some(ty) if ty.kind() == KIND_INT => Shape::Int {
                bytes: ty.size_or_type,
            },
            Some(ty) if ty.kind() == KIND_PTR => Shape::Pointer,
            _ => Shape::Other,
        }
    }

    /// Follows typedefs and qualifiers to the underlying type id.
    fn resolve(&self, mut id: u32) -> Option<u32> {
        // Chains are short; the bound only guards against a malformed loop.
        for _ in 0..32 {
            let ty = self.get(id)?;
            match ty.kind() {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = ty.size_or_type;
                }
                _ => return Some(id),
            }
        }
        None
    }

    fn find(&self, pred: impl Fn(Type) -> bool) -> Option<u32> {
        let index = self.types.iter().position(|ty| pred(*ty))?;
        u32::try_from(index + 1).ok()
    }

    fn get(&self, id: u32) -> Option<Type> {
        let index = usize::try_from(id).ok()?.checked_sub(1)?;
        self.types.get(index).copied()
    }

    fn name(&self, ty: Type) -> Option<&str> {
        self.string(ty.name_off)
    }

    fn string(&self, off: u32) -> Option<&str> {
        let tail = self.strings.get(off as usize..)?;
        let end = tail.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&tail[..end]).ok()
    }
}

/// Bytes of kind-specific data after a type's fixed part.
fn extra_len(ty: Type) -> Result<usize, BtfError> {
    let vlen = ty.vlen();
    Ok(match ty.kind() {
        KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
        KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
        KIND_PTR | KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT
        | KIND_FUNC | KIND_FLOAT | KIND_TYPE_TAG => 0,
        kind => return Err(BtfError::UnknownKind { kind }),
    })
}

fn u32_at(data: &[u8], at: usize) -> Result<u32, BtfError> {
    data.get(at..at + 4)
        .and_then(|bytes| bytes.try_into().ok())
        .map(u32::from_ne_bytes)
        .ok_or(BtfError::Malformed("truncated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a BTF blob: `int` (id 1), `int *` (2), `typedef int pid_t` (3),
    /// `struct task { int a; struct { pid_t tgid; }; int *p; }` (5, with the anonymous struct
    /// as 4), and a `btf_trace_demo` typedef (8) → pointer (7) → prototype (6) of two args.
    fn sample() -> Vec<u8> {
        let mut strings = b"\0int\0pid_t\0task\0a\0tgid\0p\0btf_trace_demo\0".to_vec();
        let name = |s: &str, strings: &[u8]| -> u32 {
            let needle = [s.as_bytes(), b"\0"].concat();
            strings
                .windows(needle.len())
                .position(|w| w == needle)
                .unwrap() as u32
        };
        let mut types = Vec::new();
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_ne_bytes());
            }
        };
        let info = |kind: u32, vlen: u32| (kind << 24) | vlen;
        // 1: int, 4 bytes, 32 bits signed.
        push(&[name("int", &strings), info(KIND_INT, 0), 4, (1 << 24) | 32]);
        // 2: int *
        push(&[0, info(KIND_PTR, 0), 1]);
        // 3: typedef int pid_t
        push(&[name("pid_t", &strings), info(KIND_TYPEDEF, 0), 1]);
        // 4: struct { pid_t tgid; } (anonymous)
        push(&[0, info(KIND_STRUCT, 1), 4, name("tgid", &strings), 3, 0]);
        // 5: struct task { int a; <anon 4> at byte 8; int *p at byte 16 }
        push(&[name("task", &strings), info(KIND_STRUCT, 3), 24]);
        push(&[
            name("a", &strings),
            1,
            0,
            0,
            4,
            64,
            name("p", &strings),
            2,
            128,
        ]);
        // 6: void (*)(void *, struct task *) prototype; params are (name, type) pairs.
        push(&[0, info(KIND_FUNC_PROTO, 2), 0, 0, 2, 0, 2]);
        // 7: pointer to 6; 8: typedef btf_trace_demo
        push(&[0, info(KIND_PTR, 0), 6]);
        push(&[name("btf_trace_demo", &strings), info(KIND_TYPEDEF, 0), 7]);
        strings.push(0);

        let mut blob = Vec::new();
        blob.extend_from_slice(&BTF_MAGIC.to_ne_bytes());
        blob.extend_from_slice(&[1, 0]);
        for w in [
            HEADER_LEN as u32,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            blob.extend_from_slice(&w.to_ne_bytes());
        }
        blob.extend_from_slice(&types);
        blob.extend_from_slice(&strings);
        blob
    }

    #[test]
    fn finds_direct_anonymous_and_pointer_members() {
        let btf = KernelBtf::parse(&sample()).expect("sample parses");
        assert_eq!(
            btf.member("task", "a"),
            Some(Member {
                offset: 0,
                shape: Shape::Int { bytes: 4 }
            })
        );
        assert_eq!(
            btf.member("task", "tgid"),
            Some(Member {
                offset: 8,
                shape: Shape::Int { bytes: 4 }
            })
        );
        assert_eq!(
            btf.member("task", "p"),
            Some(Member {
                offset: 16,
                shape: Shape::Pointer
            })
        );
        assert_eq!(btf.member("task", "missing"), None);
        assert_eq!(btf.member("nope", "a"), None);
    }

    #[test]
    fn lists_tracepoint_arguments_without_the_context() {
        let btf = KernelBtf::parse(&sample()).expect("sample parses");
        assert_eq!(btf.tracepoint_args("demo"), Some(vec![Shape::Pointer]));
        assert_eq!(btf.tracepoint_args("absent"), None);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            KernelBtf::parse(&[0; 8]),
            Err(BtfError::Malformed(_))
        ));
        let mut blob = sample();
        blob[0] ^= 0xff;
        assert!(matches!(
            KernelBtf::parse(&blob),
            Err(BtfError::Malformed(_))
        ));
    }

    /// On a kernel with BTF, the fields the exit program reads are where bpftool says.
    #[test]
    fn reads_the_running_kernels_task_struct() {
        if !Path::new(VMLINUX_BTF).exists() {
            crate::testing::skip(
                "reads_the_running_kernels_task_struct",
                &format!("{VMLINUX_BTF} does not exist on this host"),
            );
            return;
        }
        let btf = KernelBtf::from_sys_fs().expect("kernel BTF parses");
        let exit_code = btf
            .member("task_struct", "exit_code")
            .expect("task_struct.exit_code");
        assert_eq!(exit_code.shape, Shape::Int { bytes: 4 });
        let parent = btf
            .member("task_struct", "real_parent")
            .expect("task_struct.real_parent");
        assert_eq!(parent.shape, Shape::Pointer);
        let tgid = btf.member("task_struct", "tgid").expect("task_struct.tgid");
        assert_eq!(tgid.shape, Shape::Int { bytes: 4 });
        let args = btf
            .tracepoint_args("sched_process_exit")
            .expect("sched_process_exit");
        assert_eq!(
            args.first(),
            Some(&Shape::Pointer),
            "sched_process_exit(p, ...)"
        );
    }
}
