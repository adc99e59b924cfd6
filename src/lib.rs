//! diskless: the whole initramfs of a stateless, network-booted node.
//!
//! The pure core parses and plans over strings and structs ([`cmdline`], [`config`], [`ip`],
//! [`identity`], [`modules`], [`etcfiles`], [`squashfs`], [`record`]); the edges do the work
//! ([`fetch`], [`net`], [`modload`], [`rootfs`], [`newroot`], [`switchroot`], [`emergency`]),
//! with every syscall behind [`sys`]. [`boot`] is PID 1's short orchestration.

pub mod cmdline;
pub mod config;
pub mod dhcp;
pub mod etcfiles;
pub mod identity;
pub mod ip;
pub mod modules;
pub mod nfs;
pub mod record;
pub mod squashfs;
pub mod trust;

pub mod boot;
pub mod emergency;
pub mod error;
pub mod fetch;
pub mod kmsg;
pub mod modload;
pub mod net;
pub mod newroot;
pub mod rootfs;
pub mod rootpath;
pub mod shares;
pub mod switchroot;
pub mod sys;
pub mod tls;
