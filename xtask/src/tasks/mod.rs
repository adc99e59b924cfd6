pub mod bench;
pub mod boot;
pub mod fuzz;
pub mod hostname;
pub mod initrd;
pub mod kernel;
pub mod prereqs;
pub mod test;
