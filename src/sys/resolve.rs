//! Host names to IPv4 addresses, through musl's resolver.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;

/// Looks `host` up for IPv4 only (the boot configures IPv4). Asking for A records alone
/// matters: with AF_UNSPEC, musl also asks for AAAA and fails the whole lookup when a server
/// refuses that half, as a dnsmasq without upstream servers does.
pub fn resolve_ipv4(host: &str) -> io::Result<Vec<Ipv4Addr>> {
    let c_host = CString::new(host)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in host name"))?;
    // SAFETY: an all-zero `addrinfo` is a valid "no hints" value; only the fields set below
    // are read by getaddrinfo.
    let mut hints: nix::libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = nix::libc::AF_INET;
    hints.ai_socktype = nix::libc::SOCK_STREAM;
    let mut list: *mut nix::libc::addrinfo = std::ptr::null_mut();
    // SAFETY: `c_host` is NUL-terminated and outlives the call, `hints` is initialised, and
    // `list` receives a list we free below exactly once.
    let ret =
        unsafe { nix::libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut list) };
    if ret != 0 {
        // SAFETY: gai_strerror returns a pointer to a static NUL-terminated message.
        let message = unsafe { std::ffi::CStr::from_ptr(nix::libc::gai_strerror(ret)) };
        return Err(io::Error::other(format!(
            "{host}: {}",
            message.to_string_lossy()
        )));
    }
    let mut addrs = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` is an element of the list getaddrinfo returned, not yet freed.
        let info = unsafe { &*node };
        if info.ai_family == nix::libc::AF_INET && !info.ai_addr.is_null() {
            // SAFETY: for AF_INET entries `ai_addr` points at a `sockaddr_in`.
            let sin = unsafe { &*info.ai_addr.cast::<nix::libc::sockaddr_in>() };
            let addr = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        node = info.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { nix::libc::freeaddrinfo(list) };
    if addrs.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{host}: no IPv4 address"),
        ));
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_lookups_answer_for_numeric_hosts_and_fail_plainly() {
        assert_eq!(
            resolve_ipv4("127.0.0.1").expect("numeric"),
            [Ipv4Addr::LOCALHOST]
        );
        let err = resolve_ipv4("no-such-host.invalid").expect_err("invalid TLD");
        assert!(err.to_string().contains("no-such-host.invalid"), "{err}");
    }
}
