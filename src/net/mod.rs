//! The node's network: which NIC boots it ([`nic`], pure), and its IPv4 configuration
//! however it came ([`configured`], from a static `ip=` or a DHCP lease). [`link`] reads
//! sysfs, names NICs ([`naming`]) and brings links up, [`dhcp`] asks the network, [`apply`]
//! applies the result and hands it to the real system ([`netconf`]; [`handover`], what keeps
//! the boot NIC configured for a root on the network).

pub mod apply;
pub mod configured;
pub mod dhcp;
pub mod error;
pub mod handover;
pub mod link;
pub mod naming;
pub mod netconf;
pub mod nic;

pub use configured::{Configured, ExtraRoute};
pub use nic::{Nic, pick};
