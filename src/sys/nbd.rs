//! Handing a negotiated NBD connection to the kernel through the nbd driver's generic netlink
//! family (`NBD_CMD_CONNECT`, Linux 4.12). With the older ioctls `NBD_DO_IT` blocks a thread
//! for as long as the device lives, and PID 1's threads end when it execs the real init at
//! switch_root; over netlink the kernel keeps the socket and the device itself.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::net::netlink::{GENERIC, SocketAddrNetlink};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
/// The generic netlink controller, which names families by their ids.
const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;

/// <linux/nbd-netlink.h>.
const NBD_GENL_VERSION: u8 = 1;
const NBD_CMD_CONNECT: u8 = 1;
const NBD_ATTR_INDEX: u16 = 1;
const NBD_ATTR_SIZE_BYTES: u16 = 2;
const NBD_ATTR_BLOCK_SIZE_BYTES: u16 = 3;
const NBD_ATTR_SERVER_FLAGS: u16 = 5;
const NBD_ATTR_SOCKETS: u16 = 7;
const NBD_SOCK_ITEM: u16 = 1;
const NBD_SOCK_FD: u16 = 1;

/// What the kernel needs besides the socket: the export's size and transmission flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NbdDevice {
    pub size: u64,
    /// The device's logical block size.
    pub block_size: u64,
    pub flags: u64,
}

/// A netlink message under construction: the header's length is filled in by [`finish`].
struct Message(Vec<u8>);

impl Message {
    fn new(kind: u16, flags: u16, cmd: u8, version: u8) -> Message {
        let mut bytes = Vec::with_capacity(128);
        bytes.extend_from_slice(&0u32.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&flags.to_ne_bytes());
        bytes.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
        bytes.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it in
        bytes.extend_from_slice(&[cmd, version, 0, 0]);
        Message(bytes)
    }

    fn attr(&mut self, kind: u16, payload: &[u8]) {
        let len = u16::try_from(4 + payload.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&kind.to_ne_bytes());
        self.0.extend_from_slice(payload);
        self.pad();
    }

    fn pad(&mut self) {
        while self.0.len() % 4 != 0 {
            self.0.push(0);
        }
    }

    /// Opens a nested attribute; [`Message::end_nest`] writes its length.
    fn nest(&mut self, kind: u16) -> usize {
        let at = self.0.len();
        self.0.extend_from_slice(&0u16.to_ne_bytes());
        self.0
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
        at
    }

    fn end_nest(&mut self, at: usize) {
        let len = u16::try_from(self.0.len() - at).unwrap_or(u16::MAX);
        if let Some(slot) = self.0.get_mut(at..at + 2) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
    }

    fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.0.len()).unwrap_or(u32::MAX);
        if let Some(slot) = self.0.get_mut(..4) {
            slot.copy_from_slice(&len.to_ne_bytes());
        }
        self.0
    }
}

/// `NBD_CMD_CONNECT` for one socket.
fn connect_message(family: u16, socket_fd: u32, device: NbdDevice) -> Vec<u8> {
    let mut msg = Message::new(
        family,
        NLM_F_REQUEST | NLM_F_ACK,
        NBD_CMD_CONNECT,
        NBD_GENL_VERSION,
    );
    msg.attr(NBD_ATTR_SIZE_BYTES, &device.size.to_ne_bytes());
    msg.attr(NBD_ATTR_BLOCK_SIZE_BYTES, &device.block_size.to_ne_bytes());
    msg.attr(NBD_ATTR_SERVER_FLAGS, &device.flags.to_ne_bytes());
    let sockets = msg.nest(NBD_ATTR_SOCKETS);
    let item = msg.nest(NBD_SOCK_ITEM);
    msg.attr(NBD_SOCK_FD, &socket_fd.to_ne_bytes());
    msg.end_nest(item);
    msg.end_nest(sockets);
    msg.finish()
}

fn family_message(name: &str) -> Vec<u8> {
    let mut msg = Message::new(GENL_ID_CTRL, NLM_F_REQUEST, CTRL_CMD_GETFAMILY, 1);
    let mut name = name.as_bytes().to_vec();
    name.push(0);
    msg.attr(CTRL_ATTR_FAMILY_NAME, &name);
    msg.finish()
}

fn ne_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let mut b = [0u8; 2];
    b.copy_from_slice(bytes.get(at..at + 2)?);
    Some(u16::from_ne_bytes(b))
}

fn ne_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let mut b = [0u8; 4];
    b.copy_from_slice(bytes.get(at..at + 4)?);
    Some(u32::from_ne_bytes(b))
}

/// What one message of the kernel's answer says.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    /// `NLMSG_ERROR` with 0: done.
    Ack,
    /// A generic netlink message of `family`: the attribute `wanted`, if it is there.
    Attr(Option<u32>),
}

/// Splits the kernel's answer into messages; an `NLMSG_ERROR` other than 0 is the error.
fn answers(buf: &[u8], family: u16, wanted: u16) -> io::Result<Vec<Answer>> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "a malformed netlink answer");
    let mut out = Vec::new();
    let mut at = 0;
    while at + 16 <= buf.len() {
        let len = ne_u32(buf, at).ok_or_else(malformed)? as usize;
        let kind = ne_u16(buf, at + 4).ok_or_else(malformed)?;
        let msg = buf
            .get(at..at + len)
            .filter(|_| len >= 16)
            .ok_or_else(malformed)?;
        if kind == NLMSG_ERROR {
            let code = ne_u32(msg, 16).ok_or_else(malformed)? as i32;
            if code != 0 {
                return Err(io::Error::from_raw_os_error(-code));
            }
            out.push(Answer::Ack);
        } else if kind == family {
            // The attributes follow the 16-byte header and the 4-byte generic header.
            let mut attr = 20;
            let mut value = None;
            while attr + 4 <= msg.len() {
                let attr_len = usize::from(ne_u16(msg, attr).ok_or_else(malformed)?);
                let attr_kind = ne_u16(msg, attr + 2).ok_or_else(malformed)? & !NLA_F_NESTED;
                if attr_len < 4 {
                    return Err(malformed());
                }
                if attr_kind == wanted {
                    value = match attr_len {
                        6 => ne_u16(msg, attr + 4).map(u32::from),
                        _ => ne_u32(msg, attr + 4),
                    };
                }
                attr += attr_len.next_multiple_of(4);
            }
            out.push(Answer::Attr(value));
        }
        at += len.next_multiple_of(4);
    }
    Ok(out)
}

/// Sends `request` and reads answers until an acknowledgement (or, without `NLM_F_ACK`, the
/// first message of `family`), returning the attribute `wanted`.
fn ask(fd: &OwnedFd, request: &[u8], family: u16, wanted: u16) -> io::Result<Option<u32>> {
    rustix::net::sendto(
        fd,
        request,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;
    let acked = ne_u16(request, 6).is_some_and(|flags| flags & NLM_F_ACK != 0);
    let mut value = None;
    let mut buf = vec![0u8; 8192];
    // Two messages at most (the reply, then the ack); more is not the kernel we know.
    for _ in 0..4 {
        let (len, _) = rustix::net::recv(fd, &mut buf[..], RecvFlags::empty())?;
        for answer in answers(buf.get(..len).unwrap_or_default(), family, wanted)? {
            match answer {
                Answer::Ack => return Ok(value),
                Answer::Attr(found) => {
                    value = value.or(found);
                    if !acked {
                        return Ok(value);
                    }
                }
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "the kernel's netlink answer did not end",
    ))
}

/// Gives the connected, negotiated `socket` to the kernel's nbd driver as a new device; its
/// index (`/dev/nbd<index>`). The kernel holds its own reference to the socket.
pub fn nbd_connect(socket: impl AsFd, device: NbdDevice) -> io::Result<u32> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(GENERIC),
    )?;
    // The kernel answers at once; never wait on it for ever.
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(10)),
    )?;
    let family = ask(
        &fd,
        &family_message("nbd"),
        GENL_ID_CTRL,
        CTRL_ATTR_FAMILY_ID,
    )?
    .and_then(|id| u16::try_from(id).ok())
    .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no nbd netlink family"))?;
    let socket_fd = u32::try_from(socket.as_fd().as_raw_fd())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    ask(
        &fd,
        &connect_message(family, socket_fd, device),
        family,
        NBD_ATTR_INDEX,
    )?
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the nbd driver answered without the device's index",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The message the kernel parses: nlmsghdr, genlmsghdr, then each attribute padded to 4
    /// bytes, the socket's fd two nests deep.
    #[test]
    fn connect_message_layout() {
        let device = NbdDevice {
            size: 1 << 20,
            block_size: 512,
            flags: 3,
        };
        let msg = connect_message(0x1d, 7, device);
        let u16_at = |at: usize| ne_u16(&msg, at).expect("u16");
        let u32_at = |at: usize| ne_u32(&msg, at).expect("u32");
        assert_eq!(u32_at(0) as usize, msg.len());
        assert_eq!(u16_at(4), 0x1d);
        assert_eq!(u16_at(6), NLM_F_REQUEST | NLM_F_ACK);
        assert_eq!(&msg[16..20], &[NBD_CMD_CONNECT, 1, 0, 0]);
        // Three u64 attributes of 12 bytes each.
        for (n, (kind, value)) in [(2u16, 1u64 << 20), (3, 512), (5, 3)].iter().enumerate() {
            let at = 20 + n * 12;
            assert_eq!((u16_at(at), u16_at(at + 2)), (12, *kind));
            assert_eq!(&msg[at + 4..at + 12], &value.to_ne_bytes());
        }
        // NBD_ATTR_SOCKETS { NBD_SOCK_ITEM { NBD_SOCK_FD = 7 } }.
        assert_eq!(
            (u16_at(56), u16_at(58)),
            (16, NBD_ATTR_SOCKETS | NLA_F_NESTED)
        );
        assert_eq!((u16_at(60), u16_at(62)), (12, NBD_SOCK_ITEM | NLA_F_NESTED));
        assert_eq!((u16_at(64), u16_at(66)), (8, NBD_SOCK_FD));
        assert_eq!(u32_at(68), 7);
        assert_eq!(msg.len(), 72);
    }

    #[test]
    fn family_lookup_names_nbd_with_its_nul() {
        let msg = family_message("nbd");
        assert_eq!(ne_u16(&msg, 4), Some(GENL_ID_CTRL));
        assert_eq!(&msg[16..18], &[CTRL_CMD_GETFAMILY, 1]);
        assert_eq!(ne_u16(&msg, 20), Some(8));
        assert_eq!(ne_u16(&msg, 22), Some(CTRL_ATTR_FAMILY_NAME));
        assert_eq!(&msg[24..28], b"nbd\0");
    }

    /// The kernel's answers: the reply with the index, the ack, an error.
    #[test]
    fn answers_are_read() {
        let mut reply = Message::new(0x1d, 0, NBD_CMD_CONNECT, 1);
        reply.attr(NBD_ATTR_INDEX, &3u32.to_ne_bytes());
        let mut both = reply.finish();
        let ack = |code: i32| {
            let mut m = Vec::new();
            m.extend_from_slice(&36u32.to_ne_bytes());
            m.extend_from_slice(&NLMSG_ERROR.to_ne_bytes());
            m.extend_from_slice(&[0; 10]);
            m.extend_from_slice(&code.to_ne_bytes());
            m.extend_from_slice(&[0; 16]);
            m
        };
        both.extend(ack(0));
        assert_eq!(
            answers(&both, 0x1d, NBD_ATTR_INDEX).expect("answers"),
            [Answer::Attr(Some(3)), Answer::Ack]
        );
        let err = answers(&ack(-22), 0x1d, NBD_ATTR_INDEX).expect_err("EINVAL");
        assert_eq!(err.raw_os_error(), Some(22));
        let mut family = Message::new(GENL_ID_CTRL, 0, 1, 2);
        family.attr(CTRL_ATTR_FAMILY_ID, &0x1du16.to_ne_bytes());
        family.attr(CTRL_ATTR_FAMILY_NAME, b"nbd\0");
        assert_eq!(
            answers(&family.finish(), GENL_ID_CTRL, CTRL_ATTR_FAMILY_ID).expect("family"),
            [Answer::Attr(Some(0x1d))]
        );
        // A length that runs past the buffer, or an attribute of length 0, is malformed.
        let mut bad = ack(0);
        bad[0] = 200;
        assert!(answers(&bad, 0x1d, 1).is_err());
        let mut zero = Message::new(0x1d, 0, 1, 1);
        zero.0.extend_from_slice(&[0, 0, 1, 0]);
        assert!(answers(&zero.finish(), 0x1d, 1).is_err());
    }
}
