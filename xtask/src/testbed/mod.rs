//! The QEMU test bed (being written)
