//! A DHCP lease: what an ACK gave, checked (an address a host can use, a contiguous mask).

use std::net::Ipv4Addr;

use super::packet::{MessageType, Reply, Route};
use crate::ipv4;

/// What an ACK gave us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    /// From option 1; the classful default when the server sent none (as the kernel does).
    pub prefix_len: u8,
    /// Option 3. Empty when option 121 is present: RFC 3442 says to ignore option 3 then.
    pub routers: Vec<Ipv4Addr>,
    /// Option 121.
    pub classless_routes: Vec<Route>,
    pub dns: Vec<Ipv4Addr>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub hostname: Option<String>,
    pub server_id: Ipv4Addr,
    /// `siaddr`; `None` when 0.0.0.0.
    pub next_server: Option<Ipv4Addr>,
    /// Option 66, else the `sname` field.
    pub tftp_server_name: Option<String>,
    /// Option 67, else the `file` field.
    pub boot_file: Option<String>,
    pub root_path: Option<String>,
    pub mtu: Option<u16>,
    pub broadcast: Option<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    /// Option 51; `u32::MAX` means infinite.
    pub lease_secs: Option<u32>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

/// Why an ACK cannot become a lease.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("a {0} is not an ACK")]
    NotAck(MessageType),
    #[error("address {0} cannot be a host's own")]
    UnusableAddress(Ipv4Addr),
    #[error("subnet mask {0} is not contiguous")]
    NonContiguousMask(Ipv4Addr),
}

impl Lease {
    /// The lease in an ACK from `server_id` (the server we asked; used when the ACK leaves out
    /// option 54).
    pub fn from_ack(reply: &Reply, server_id: Ipv4Addr) -> Result<Lease, LeaseError> {
        if reply.message_type != MessageType::Ack {
            return Err(LeaseError::NotAck(reply.message_type));
        }
        check_address(reply.yiaddr)?;
        let options = &reply.options;
        let prefix_len = match options.subnet_mask {
            Some(mask) => {
                ipv4::netmask_to_prefix(mask).ok_or(LeaseError::NonContiguousMask(mask))?
            }
            None => ipv4::classful_prefix(reply.yiaddr),
        };
        let (routers, classless_routes) = match &options.classless_routes {
            Some(routes) => (Vec::new(), routes.clone()),
            None => (options.routers.clone(), Vec::new()),
        };
        Ok(Lease {
            address: reply.yiaddr,
            prefix_len,
            routers,
            classless_routes,
            dns: options.dns.clone(),
            domain: options.domain.clone(),
            search: options.search.clone(),
            hostname: options.hostname.clone(),
            server_id: options.server_id.unwrap_or(server_id),
            next_server: Some(reply.siaddr).filter(|a| !a.is_unspecified()),
            tftp_server_name: options.tftp_server_name.clone(),
            boot_file: options.boot_file.clone(),
            root_path: options.root_path.clone(),
            mtu: options.mtu,
            broadcast: options.broadcast,
            ntp: options.ntp.clone(),
            lease_secs: options.lease_secs,
            t1: options.t1,
            t2: options.t2,
        })
    }

    /// The default route's gateway: a classless 0.0.0.0/0 route wins, else the first router.
    /// `None` also for an on-link default route (gateway 0.0.0.0 in option 121).
    pub fn default_gateway(&self) -> Option<Ipv4Addr> {
        match self
            .classless_routes
            .iter()
            .find(|route| route.prefix_len == 0)
        {
            Some(route) => Some(route.gateway).filter(|gw| !gw.is_unspecified()),
            None => self.routers.first().copied(),
        }
    }

    pub fn netmask(&self) -> Ipv4Addr {
        ipv4::prefix_to_netmask(self.prefix_len)
    }
}

/// An address a host can use as its own.
pub fn check_address(address: Ipv4Addr) -> Result<(), LeaseError> {
    let first = address.octets()[0];
    if address.is_unspecified()
        || address.is_broadcast()
        || address.is_multicast()
        || address.is_loopback()
        || first == 0
        || first >= 240
    {
        return Err(LeaseError::UnusableAddress(address));
    }
    Ok(())
}
