//! diskless: the whole initramfs of a stateless, network-booted node.
//!
//! The library holds the pure core (parsing and planning over strings and structs) and the
//! thin edges the init binary (`src/main.rs`) drives. Syscalls live in [`sys`] only.

pub mod cmdline;
pub mod config;
pub mod identity;
pub mod ip;
pub mod modules;
pub mod etcfiles;
pub mod squashfs;
pub mod record;
