//! Just enough of the ELF format to tell the machine and whether a loader is needed.

/// What matters about an executable here: its machine and whether it needs a loader.
#[derive(Debug, PartialEq)]
pub struct Elf {
    pub machine: u16,
    pub has_interpreter: bool,
}

pub const EM_AARCH64: u16 = 183;
const PT_INTERP: u32 = 3;

/// Reads a little-endian ELF64 header and its program headers.
pub fn parse_elf(bytes: &[u8]) -> Result<Elf, String> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
    };
    if bytes.get(..4) != Some(b"\x7fELF".as_slice())
        || bytes.get(4) != Some(&2)
        || bytes.get(5) != Some(&1)
    {
        return Err("not a little-endian ELF64 file".into());
    }
    let short = || "truncated ELF header".to_string();
    let machine = u16_at(18).ok_or_else(short)?;
    let phoff = u64_at(32).ok_or_else(short)? as usize;
    let phentsize = u16_at(54).ok_or_else(short)? as usize;
    let phnum = u16_at(56).ok_or_else(short)? as usize;
    let mut has_interpreter = false;
    for i in 0..phnum {
        let kind = u32_at(phoff + i * phentsize).ok_or("truncated program header table")?;
        has_interpreter |= kind == PT_INTERP;
    }
    Ok(Elf {
        machine,
        has_interpreter,
    })
}

/// Pins the parser on the x86_64 binary of this run (machine 62) before trusting it on arm64.
#[test]
fn elf_parser_reads_the_native_binary() {
    let elf = parse_elf(&std::fs::read(super::NATIVE).unwrap()).unwrap();
    assert_eq!(elf.machine, 62, "x86_64 is EM_X86_64 (62)");
    assert!(parse_elf(b"#!/bin/sh\n").is_err());
}
