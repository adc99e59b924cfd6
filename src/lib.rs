//! diskless: the whole initramfs of a stateless, network-booted node.
//!
//! [`boot`] is PID 1's list of steps. Each concern has its folder: [`cmdline`] (the kernel's
//! tokenizer, typed configuration, `ip=`, NFS specs), [`kmod`] (the module index and loading),
//! [`net`] (links, DHCP, applying and handing over the configuration), [`image`] (sources,
//! HTTP(S) transport, TLS and trust, hashing, squashfs checks), [`root`] (assembling the new
//! root, node storage, identity files, paths inside it, switch_root). [`plan`] holds the
//! boot's decisions as pure data. [`clock`] sets the time before TLS (floor and SNTP). Beside them: [`identity`] (MAC-derived names), [`retry`],
//! [`hex`] and [`ipv4`] (small shared helpers), [`error`], [`record`], [`kmsg`],
//! [`emergency`], and [`sys`], the one module that makes syscalls; it imports nothing of the
//! rest.

pub mod archive;
pub mod boot;
pub mod clock;
pub mod cmdline;
pub mod emergency;
pub mod error;
pub mod hex;
pub mod identity;
pub mod image;
pub mod ipv4;
pub mod kmod;
pub mod kmsg;
pub mod net;
pub mod plan;
pub mod record;
pub mod retry;
pub mod root;
pub mod rundir;
pub mod sha256;
pub mod sys;
pub mod worker;
