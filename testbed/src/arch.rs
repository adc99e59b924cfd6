//! The CPU architectures diskless nodes run on: the names each tool knows them by (Rust's
//! target, Debian's architecture, QEMU's binary, the ELF machine), in one place.

use anyhow::{Result, bail};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arch {
    #[default]
    X86_64,
    Arm64,
}

impl Arch {
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// `x86_64`/`amd64`, `arm64`/`aarch64`, as users write them.
    pub fn parse(name: &str) -> Result<Arch> {
        match name {
            "x86_64" | "amd64" | "x86-64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            other => {
                bail!("unknown architecture {other:?}: give x86_64 (amd64) or arm64 (aarch64)")
            }
        }
    }

    /// The name in messages and options (`--arch`).
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// Debian's architecture (`dpkg --print-architecture`, package names).
    pub fn debian(self) -> &'static str {
        match self {
            Arch::X86_64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The Rust target the init is built for: static musl.
    pub fn rust_target(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-linux-musl",
            Arch::Arm64 => "aarch64-unknown-linux-musl",
        }
    }

    /// `e_machine` of its ELF files (modules and executables).
    pub fn elf_machine(self) -> u16 {
        match self {
            Arch::X86_64 => 62,
            Arch::Arm64 => 183,
        }
    }

    /// The architecture of an ELF file, from its header; `None` for anything else.
    pub fn of_elf(bytes: &[u8]) -> Option<Arch> {
        if bytes.get(..4) != Some(b"\x7fELF") || bytes.get(5) != Some(&1) {
            return None; // not ELF, or not little-endian
        }
        let machine = u16::from_le_bytes([*bytes.get(18)?, *bytes.get(19)?]);
        Arch::ALL.into_iter().find(|a| a.elf_machine() == machine)
    }

    pub fn qemu_binary(self) -> &'static str {
        match self {
            Arch::X86_64 => "qemu-system-x86_64",
            Arch::Arm64 => "qemu-system-aarch64",
        }
    }

    /// The serial console the kernel writes to under QEMU.
    pub fn console(self) -> &'static str {
        match self {
            Arch::X86_64 => "ttyS0",
            Arch::Arm64 => "ttyAMA0",
        }
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_elf_machines() {
        assert_eq!(Arch::parse("aarch64").unwrap(), Arch::Arm64);
        assert_eq!(Arch::parse("amd64").unwrap(), Arch::X86_64);
        assert!(Arch::parse("riscv64").is_err());
        let mut header = b"\x7fELF\x02\x01\x01".to_vec();
        header.resize(20, 0);
        header[18] = 183;
        assert_eq!(Arch::of_elf(&header), Some(Arch::Arm64));
        header[18] = 62;
        assert_eq!(Arch::of_elf(&header), Some(Arch::X86_64));
        header[18] = 243; // RISC-V
        assert_eq!(Arch::of_elf(&header), None);
        assert_eq!(Arch::of_elf(b"#!/bin/sh"), None);
    }
}
