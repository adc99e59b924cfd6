//! The kernel command line, from bytes to typed configuration: [`tokenize`] splits it as the
//! kernel does, [`config`] reads the keys we honour into a [`config::BootConfig`], with
//! [`ip`] (`ip=` in the kernel's, klibc's and dracut's forms) and [`nfs`] (NFS share specs and
//! the mount options they become), [`oci`] (registry image references and mirrors), [`nbd`] (NBD exports). All pure: strings in, values or errors naming the key out.

pub mod config;
pub mod config_archives;
pub mod ifname;
pub mod ip;
pub mod modules;
pub mod nbd;
pub mod nfs;
pub mod ntp;
pub mod oci;
pub mod tokenize;

pub use tokenize::{Param, parse, parse_bytes};
