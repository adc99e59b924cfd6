//! Kernel modules: the index the image carries ([`index`], pure) and loading what the
//! hardware, the root and the kernel ask for ([`load`]).

pub mod ahead;
pub mod error;
pub mod index;
pub mod load;
