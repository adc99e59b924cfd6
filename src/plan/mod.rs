//! The boot's decisions as data, made from the command line before any hardware is touched
//! and settled once the network has answered: how the network is configured and on which
//! NIC ([`network`]), and the whole layout of the new root ([`root`]): where it comes from,
//! how it takes writes, where the identity files go, which modules it needs that nothing
//! would ask for, whether the boot NIC's configuration is kept for it. Pure; the table tests
//! are the specification.

pub mod error;
pub mod network;
pub mod root;

pub use error::{PlanError, ROOT_KINDS};
pub use network::{NetworkPlan, NicChoice, StaticPlan};
pub use root::{
    IdentityFiles, ModulesAhead, REQUIRED_ROOT_MODULES, Root, RootLayout, RootPlan, Writes,
};
