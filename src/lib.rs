//! diskless: the whole initramfs of a stateless, network-booted node.
//!
//! The modules stand in layers; a module uses its own layer or lower ones, never a higher
//! one, and no two modules of one folder use each other (the tidy tests check both; the
//! rule and the map are in docs/architecture.md):
//!
//! 0. leaves: [`sys`] (the one module that makes syscalls; it imports nothing of the rest),
//!    [`hex`], [`ipv4`], [`sha256`], [`kmsg`], [`rundir`] (the initramfs's files under /run),
//!    [`worker`] (threads whose panics go to whoever waits), [`retry`], [`identity`]
//!    (MAC-derived names);
//! 1. [`cmdline`]: the kernel's tokenizer and the typed configuration (pure);
//! 2. [`plan`]: the boot's decisions as data, the root's layout among them (pure);
//! 3. mechanisms, each with its own error type: [`clock`], [`kmod`], [`net`], [`archive`]
//!    (the tar extractor), [`image`] (fetching, pulling and checking root images);
//! 4. [`root`]: assembling the new root from the plan's layout, then switch_root;
//! 5. [`error`] (each module's error converted once), [`record`] (boot.json),
//!    [`emergency`] (the failure path);
//! 6. [`boot`]: PID 1's list of steps.

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
