//! DHCPv4 messages (RFC 2131, options RFC 2132) and the IPv4+UDP frame around them, as a pure
//! codec: bytes in, typed values or a typed error out. Nothing here does IO, and decoding never
//! panics, whatever the bytes (the fuzz target and the property tests hold it to that).
//!
//! Encoding covers what a client sends in the SELECTING state (DISCOVER, REQUEST); decoding
//! covers what servers send back (OFFER, ACK, NAK), with RFC 3396 long options, option 52
//! overload of `sname`/`file`, RFC 3397 search lists and RFC 3442 classless routes.

use std::fmt;
use std::net::Ipv4Addr;

use crate::identity::Mac;

pub const CLIENT_PORT: u16 = 68;
pub const SERVER_PORT: u16 = 67;

/// RFC 2131 section 3: the first four bytes of the options field.
const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// op .. file: the fixed BOOTP header.
const FIXED_LEN: usize = 236;
const OPTIONS_START: usize = FIXED_LEN + MAGIC_COOKIE.len();
/// RFC 1542: relays and old servers drop BOOTP messages shorter than this.
const BOOTP_MIN_LEN: usize = 300;
/// Option 57: an Ethernet MTU of 1500 less the IPv4 and UDP headers.
const MAX_MESSAGE_SIZE: u16 = 1500 - 20 - 8;
const FLAG_BROADCAST: u16 = 0x8000;
const OP_REQUEST: u8 = 1;
const OP_REPLY: u8 = 2;
const HTYPE_ETHERNET: u8 = 1;
const HLEN_ETHERNET: u8 = 6;
const SNAME: std::ops::Range<usize> = 44..108;
const FILE: std::ops::Range<usize> = 108..236;

/// Option codes (RFC 2132 unless noted).
pub mod code {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTERS: u8 = 3;
    pub const DNS_SERVERS: u8 = 6;
    pub const HOST_NAME: u8 = 12;
    pub const DOMAIN_NAME: u8 = 15;
    pub const ROOT_PATH: u8 = 17;
    pub const MTU: u8 = 26;
    pub const BROADCAST: u8 = 28;
    pub const NTP_SERVERS: u8 = 42;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAMETER_LIST: u8 = 55;
    pub const MESSAGE: u8 = 56;
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    pub const RENEWAL_TIME: u8 = 58;
    pub const REBINDING_TIME: u8 = 59;
    pub const VENDOR_CLASS: u8 = 60;
    pub const CLIENT_ID: u8 = 61;
    pub const TFTP_SERVER_NAME: u8 = 66;
    pub const BOOT_FILE: u8 = 67;
    /// RFC 3397.
    pub const DOMAIN_SEARCH: u8 = 119;
    /// RFC 3442.
    pub const CLASSLESS_ROUTES: u8 = 121;
    pub const END: u8 = 255;
}

/// What we ask servers for (option 55), in the order listed in the brief of this client.
pub const PARAMETER_REQUEST_LIST: [u8; 17] = [
    code::SUBNET_MASK,
    code::ROUTERS,
    code::DNS_SERVERS,
    code::HOST_NAME,
    code::DOMAIN_NAME,
    code::ROOT_PATH,
    code::MTU,
    code::BROADCAST,
    code::NTP_SERVERS,
    code::LEASE_TIME,
    code::SERVER_ID,
    code::RENEWAL_TIME,
    code::REBINDING_TIME,
    code::TFTP_SERVER_NAME,
    code::BOOT_FILE,
    code::DOMAIN_SEARCH,
    code::CLASSLESS_ROUTES,
];

/// Option 60, so server configurations can match our requests.
pub const VENDOR_CLASS: &str = "diskless";

/// The name of an option for error messages.
pub fn option_name(code: u8) -> &'static str {
    match code {
        code::SUBNET_MASK => "subnet mask",
        code::ROUTERS => "routers",
        code::DNS_SERVERS => "DNS servers",
        code::HOST_NAME => "host name",
        code::DOMAIN_NAME => "domain name",
        code::ROOT_PATH => "root path",
        code::MTU => "interface MTU",
        code::BROADCAST => "broadcast address",
        code::NTP_SERVERS => "NTP servers",
        code::REQUESTED_IP => "requested address",
        code::LEASE_TIME => "lease time",
        code::OVERLOAD => "option overload",
        code::MESSAGE_TYPE => "message type",
        code::SERVER_ID => "server identifier",
        code::PARAMETER_LIST => "parameter request list",
        code::MESSAGE => "message",
        code::MAX_MESSAGE_SIZE => "maximum message size",
        code::RENEWAL_TIME => "renewal (T1) time",
        code::REBINDING_TIME => "rebinding (T2) time",
        code::VENDOR_CLASS => "vendor class",
        code::CLIENT_ID => "client identifier",
        code::TFTP_SERVER_NAME => "TFTP server name",
        code::BOOT_FILE => "boot file name",
        code::DOMAIN_SEARCH => "domain search list",
        code::CLASSLESS_ROUTES => "classless static routes",
        _ => "unknown",
    }
}

/// Option 53.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover,
    Offer,
    Request,
    Decline,
    Ack,
    Nak,
    Release,
    Inform,
}

impl MessageType {
    pub fn from_code(value: u8) -> Option<MessageType> {
        Some(match value {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }
}

/// As logs and RFC 2131 spell them: `DISCOVER`, `OFFER`, ...
impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessageType::Discover => "DISCOVER",
            MessageType::Offer => "OFFER",
            MessageType::Request => "REQUEST",
            MessageType::Decline => "DECLINE",
            MessageType::Ack => "ACK",
            MessageType::Nak => "NAK",
            MessageType::Release => "RELEASE",
            MessageType::Inform => "INFORM",
        })
    }
}

// ---- encoding ------------------------------------------------------------------------------

/// Which client message to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    Discover,
    /// A REQUEST in the SELECTING state: `ciaddr` stays 0, the offer goes in options 50 and 54.
    Request {
        requested: Ipv4Addr,
        server_id: Ipv4Addr,
    },
}

/// A DISCOVER or REQUEST from this client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage<'a> {
    pub kind: ClientKind,
    pub xid: u32,
    /// Seconds since the client began acquiring (some servers and relays act on it).
    pub secs: u16,
    pub mac: Mac,
    /// Sent as option 12 so dnsmasq registers the name in DNS; left out when empty, cut to
    /// 255 bytes (an option's limit; [`super::acquire`] rejects such names first).
    pub hostname: &'a str,
}

impl ClientMessage<'_> {
    pub fn message_type(&self) -> MessageType {
        match self.kind {
            ClientKind::Discover => MessageType::Discover,
            ClientKind::Request { .. } => MessageType::Request,
        }
    }

    /// The BOOTP message (the UDP payload), at least 300 bytes long.
    pub fn encode(&self) -> Vec<u8> {
        let mut header = [0u8; OPTIONS_START];
        header[0] = OP_REQUEST;
        header[1] = HTYPE_ETHERNET;
        header[2] = HLEN_ETHERNET;
        header[4..8].copy_from_slice(&self.xid.to_be_bytes());
        header[8..10].copy_from_slice(&self.secs.to_be_bytes());
        // We have no address yet: a unicast reply to yiaddr would not reach us (RFC 2131 4.1).
        header[10..12].copy_from_slice(&FLAG_BROADCAST.to_be_bytes());
        header[28..34].copy_from_slice(&self.mac.0);
        header[FIXED_LEN..OPTIONS_START].copy_from_slice(&MAGIC_COOKIE);
        let mut out = header.to_vec();

        push_option(&mut out, code::MESSAGE_TYPE, &[self.message_type().code()]);
        // Type 1 (Ethernet) + MAC: the identifier dnsmasq and ISC dhcpd key leases on.
        let mut client_id = [HTYPE_ETHERNET; 7];
        client_id[1..].copy_from_slice(&self.mac.0);
        push_option(&mut out, code::CLIENT_ID, &client_id);
        if let ClientKind::Request {
            requested,
            server_id,
        } = self.kind
        {
            push_option(&mut out, code::REQUESTED_IP, &requested.octets());
            push_option(&mut out, code::SERVER_ID, &server_id.octets());
        }
        push_option(
            &mut out,
            code::MAX_MESSAGE_SIZE,
            &MAX_MESSAGE_SIZE.to_be_bytes(),
        );
        push_option(&mut out, code::PARAMETER_LIST, &PARAMETER_REQUEST_LIST);
        let name = self.hostname.as_bytes();
        if !name.is_empty() {
            push_option(&mut out, code::HOST_NAME, name);
        }
        push_option(&mut out, code::VENDOR_CLASS, VENDOR_CLASS.as_bytes());
        out.push(code::END);
        if out.len() < BOOTP_MIN_LEN {
            out.resize(BOOTP_MIN_LEN, code::PAD);
        }
        out
    }
}

/// Appends one option; data beyond an option's 255 bytes is cut (callers pass bounded values).
fn push_option(out: &mut Vec<u8>, code: u8, data: &[u8]) {
    let data = data.get(..255).unwrap_or(data);
    out.push(code);
    out.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
    out.extend_from_slice(data);
}

// ---- decoding ------------------------------------------------------------------------------

/// The three places options can live (RFC 2131 section 4.1, option 52).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    Options,
    File,
    Sname,
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Area::Options => "options field",
            Area::File => "file field",
            Area::Sname => "sname field",
        })
    }
}

/// What a decoding error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Option(u8),
    Sname,
    File,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Field::Option(code) => write!(f, "option {code} ({})", option_name(code)),
            Field::Sname => f.write_str("the sname field"),
            Field::File => f.write_str("the file field"),
        }
    }
}

/// Why a BOOTP/DHCP message was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{len} bytes is too short for a DHCP message (at least {OPTIONS_START})")]
    TooShort { len: usize },
    #[error("op {op} is not a BOOTREPLY (2)")]
    NotReply { op: u8 },
    #[error("hardware type {htype} / length {hlen} is not Ethernet (1 / 6)")]
    NotEthernet { htype: u8, hlen: u8 },
    #[error("magic cookie {cookie:02x?} is not 63 82 53 63 (a BOOTP-only message?)")]
    BadCookie { cookie: [u8; 4] },
    #[error("option {code} ({}) runs past the end of the {area}", option_name(*code))]
    OptionOverrun { code: u8, area: Area },
    #[error("option 52 (option overload) found in the {area}, where it is not allowed")]
    OverloadOutsideOptions { area: Area },
    #[error("{field}: length {len}, expected {expected}")]
    BadLength {
        field: Field,
        len: usize,
        expected: &'static str,
    },
    #[error("{field}: {reason}")]
    BadValue { field: Field, reason: String },
    #[error("{field}: {reason}")]
    BadText { field: Field, reason: &'static str },
    #[error("no option 53 (message type): a BOOTP reply, not DHCP")]
    NoMessageType,
    #[error("option 53 (message type): unknown type {0}")]
    UnknownMessageType(u8),
    #[error("option 119 (domain search list): {reason} at byte {at}")]
    BadSearchList { at: usize, reason: &'static str },
    #[error("option 121 (classless static routes): {reason} at byte {at}")]
    BadRoute { at: usize, reason: &'static str },
}

/// A static route from option 121 (RFC 3442). `gateway` 0.0.0.0 means on-link (the
/// destination is reached directly on the interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
}

/// The options of a reply that this client understands, decoded and checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyOptions {
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub root_path: Option<String>,
    pub mtu: Option<u16>,
    pub broadcast: Option<Ipv4Addr>,
    pub ntp: Vec<Ipv4Addr>,
    pub lease_secs: Option<u32>,
    pub server_id: Option<Ipv4Addr>,
    pub message: Option<String>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
    /// Option 66, else the `sname` field when it is not overloaded.
    pub tftp_server_name: Option<String>,
    /// Option 67, else the `file` field when it is not overloaded.
    pub boot_file: Option<String>,
    pub search: Vec<String>,
    /// `None` when option 121 is absent; `Some` (possibly empty) when present, since its mere
    /// presence tells the client to ignore option 3 (RFC 3442).
    pub classless_routes: Option<Vec<Route>>,
}

/// A decoded server reply (OFFER, ACK, NAK, or any other type a server sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub message_type: MessageType,
    pub xid: u32,
    /// The client hardware address the server answers (the first 6 bytes of `chaddr`).
    pub chaddr: Mac,
    pub yiaddr: Ipv4Addr,
    /// The next server (`siaddr`), as the server filled it in (0.0.0.0 when none).
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub options: ReplyOptions,
}

fn ipv4_at(bytes: &[u8], at: usize) -> Ipv4Addr {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => Ipv4Addr::new(a, b, c, d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

/// Every option of a message with its data, in first-seen order; an option that appears
/// more than once has its pieces concatenated (RFC 3396), taking the options field first,
/// then `file`, then `sname` when option 52 says they hold options. PAD and END are not
/// listed. A message must start with the magic cookie; any `op` is accepted here.
pub fn raw_options(message: &[u8]) -> Result<Vec<(u8, Vec<u8>)>, DecodeError> {
    let (header, rest) = fixed_header(message)?;
    let cookie = [header[236], header[237], header[238], header[239]];
    if cookie != MAGIC_COOKIE {
        return Err(DecodeError::BadCookie { cookie });
    }
    let mut options = Vec::new();
    walk_area(rest, Area::Options, &mut options)?;
    let overload = match options.iter().find(|(code, _)| *code == code::OVERLOAD) {
        None => 0,
        Some((_, data)) => match data.as_slice() {
            [value @ 1..=3] => *value,
            [other] => {
                return Err(DecodeError::BadValue {
                    field: Field::Option(code::OVERLOAD),
                    reason: format!("value {other}, expected 1 (file), 2 (sname) or 3 (both)"),
                });
            }
            _ => return Err(bad_length(code::OVERLOAD, data.len(), "1")),
        },
    };
    if overload & 1 != 0 {
        walk_area(&header[FILE], Area::File, &mut options)?;
    }
    if overload & 2 != 0 {
        walk_area(&header[SNAME], Area::Sname, &mut options)?;
    }
    Ok(options)
}

/// The fixed BOOTP fields and the cookie, as an array (so every field access is checked when
/// compiling), and the options after them.
fn fixed_header(message: &[u8]) -> Result<(&[u8; OPTIONS_START], &[u8]), DecodeError> {
    message
        .split_first_chunk::<OPTIONS_START>()
        .ok_or(DecodeError::TooShort { len: message.len() })
}

/// Reads the options of one area. A missing END is tolerated (the area simply runs out); an
/// option whose length runs past the area is not.
fn walk_area(
    area: &[u8],
    which: Area,
    options: &mut Vec<(u8, Vec<u8>)>,
) -> Result<(), DecodeError> {
    let mut at = 0;
    while let Some(&code) = area.get(at) {
        match code {
            code::PAD => at += 1,
            code::END => return Ok(()),
            _ => {
                let overrun = DecodeError::OptionOverrun { code, area: which };
                let len = usize::from(*area.get(at + 1).ok_or(overrun.clone())?);
                let data = area.get(at + 2..at + 2 + len).ok_or(overrun)?;
                if code == code::OVERLOAD && which != Area::Options {
                    return Err(DecodeError::OverloadOutsideOptions { area: which });
                }
                match options.iter_mut().find(|(seen, _)| *seen == code) {
                    Some((_, existing)) => existing.extend_from_slice(data),
                    None => options.push((code, data.to_vec())),
                }
                at += 2 + len;
            }
        }
    }
    Ok(())
}

fn bad_length(code: u8, len: usize, expected: &'static str) -> DecodeError {
    DecodeError::BadLength {
        field: Field::Option(code),
        len,
        expected,
    }
}

fn one_ipv4(code: u8, data: &[u8]) -> Result<Ipv4Addr, DecodeError> {
    match *data {
        [a, b, c, d] => Ok(Ipv4Addr::new(a, b, c, d)),
        _ => Err(bad_length(code, data.len(), "4")),
    }
}

fn ipv4_list(code: u8, data: &[u8]) -> Result<Vec<Ipv4Addr>, DecodeError> {
    if data.is_empty() || data.len() % 4 != 0 {
        return Err(bad_length(code, data.len(), "a non-zero multiple of 4"));
    }
    Ok(data
        .chunks_exact(4)
        .filter_map(|c| <[u8; 4]>::try_from(c).ok())
        .map(Ipv4Addr::from)
        .collect())
}

fn one_u32(code: u8, data: &[u8]) -> Result<u32, DecodeError> {
    match *data {
        [a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d])),
        _ => Err(bad_length(code, data.len(), "4")),
    }
}

/// An NVT ASCII / UTF-8 string. Some servers count a terminating NUL in the length: trailing
/// NULs are dropped, and a string that is then empty counts as absent. Control characters
/// are refused: these values end up in files other programs parse (`/run/net-*.conf`).
fn text(field: Field, data: &[u8]) -> Result<Option<String>, DecodeError> {
    let end = data
        .iter()
        .rposition(|&b| b != 0)
        .map_or(0, |last| last + 1);
    let data = data.get(..end).unwrap_or_default();
    if data.is_empty() {
        return Ok(None);
    }
    if data.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(DecodeError::BadText {
            field,
            reason: "contains a control character or NUL",
        });
    }
    match std::str::from_utf8(data) {
        Ok(s) => Ok(Some(s.to_owned())),
        Err(_) => Err(DecodeError::BadText {
            field,
            reason: "is not UTF-8 text",
        }),
    }
}

/// A NUL-terminated string in a fixed field (`sname`, `file`).
fn c_string(field: Field, bytes: &[u8]) -> Result<Option<String>, DecodeError> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    text(field, bytes.get(..end).unwrap_or_default())
}

impl Reply {
    /// Decodes a server's reply (the UDP payload). Any `op` other than BOOTREPLY, a missing
    /// message type, and any malformed option the client understands is an error; options it
    /// does not understand are skipped.
    pub fn decode(message: &[u8]) -> Result<Reply, DecodeError> {
        let options = raw_options(message)?;
        let (header, _) = fixed_header(message)?;
        if header[0] != OP_REPLY {
            return Err(DecodeError::NotReply { op: header[0] });
        }
        if header[1] != HTYPE_ETHERNET || header[2] != HLEN_ETHERNET {
            return Err(DecodeError::NotEthernet {
                htype: header[1],
                hlen: header[2],
            });
        }
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&header[28..34]);
        let mut message_type = None;
        let mut overload = 0;
        let mut parsed = ReplyOptions::default();
        for (code, data) in &options {
            let (code, data) = (*code, data.as_slice());
            let field = Field::Option(code);
            match code {
                code::MESSAGE_TYPE => match *data {
                    [value] => {
                        let kind = MessageType::from_code(value);
                        message_type = Some(kind.ok_or(DecodeError::UnknownMessageType(value))?);
                    }
                    _ => return Err(bad_length(code, data.len(), "1")),
                },
                // Checked by raw_options; remembered to know whether sname/file are text.
                code::OVERLOAD => overload = data.first().copied().unwrap_or(0),
                code::SUBNET_MASK => parsed.subnet_mask = Some(one_ipv4(code, data)?),
                code::ROUTERS => parsed.routers = ipv4_list(code, data)?,
                code::DNS_SERVERS => parsed.dns = ipv4_list(code, data)?,
                code::HOST_NAME => parsed.hostname = text(field, data)?,
                code::DOMAIN_NAME => parsed.domain = text(field, data)?,
                code::ROOT_PATH => parsed.root_path = text(field, data)?,
                code::MTU => {
                    let mtu = match *data {
                        [hi, lo] => u16::from_be_bytes([hi, lo]),
                        _ => return Err(bad_length(code, data.len(), "2")),
                    };
                    if mtu < 68 {
                        let reason = format!("MTU {mtu} is below the IPv4 minimum of 68");
                        return Err(DecodeError::BadValue { field, reason });
                    }
                    parsed.mtu = Some(mtu);
                }
                code::BROADCAST => parsed.broadcast = Some(one_ipv4(code, data)?),
                code::NTP_SERVERS => parsed.ntp = ipv4_list(code, data)?,
                code::LEASE_TIME => parsed.lease_secs = Some(one_u32(code, data)?),
                code::SERVER_ID => parsed.server_id = Some(one_ipv4(code, data)?),
                code::MESSAGE => parsed.message = text(field, data)?,
                code::RENEWAL_TIME => parsed.t1 = Some(one_u32(code, data)?),
                code::REBINDING_TIME => parsed.t2 = Some(one_u32(code, data)?),
                code::TFTP_SERVER_NAME => parsed.tftp_server_name = text(field, data)?,
                code::BOOT_FILE => parsed.boot_file = text(field, data)?,
                code::DOMAIN_SEARCH => parsed.search = domain_search(data)?,
                code::CLASSLESS_ROUTES => parsed.classless_routes = Some(classless_routes(data)?),
                _ => {}
            }
        }
        // The options win over the fixed fields (they exist for names too long for them).
        if parsed.boot_file.is_none() && overload & 1 == 0 {
            parsed.boot_file = c_string(Field::File, &header[FILE])?;
        }
        if parsed.tftp_server_name.is_none() && overload & 2 == 0 {
            parsed.tftp_server_name = c_string(Field::Sname, &header[SNAME])?;
        }
        Ok(Reply {
            message_type: message_type.ok_or(DecodeError::NoMessageType)?,
            xid: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
            chaddr: Mac(mac),
            yiaddr: ipv4_at(message, 16),
            siaddr: ipv4_at(message, 20),
            giaddr: ipv4_at(message, 24),
            options: parsed,
        })
    }
}

/// Option 119 (RFC 3397): a sequence of domain names in DNS wire format (RFC 1035 3.1), with
/// compression pointers (RFC 1035 4.1.4) into the option's own (concatenated) data.
pub fn domain_search(data: &[u8]) -> Result<Vec<String>, DecodeError> {
    let mut names = Vec::new();
    let mut at = 0;
    while at < data.len() {
        let (name, next) = read_name(data, at)?;
        names.push(name);
        at = next;
    }
    Ok(names)
}

/// One name starting at `start`; returns it and the offset after it. Every pointer must point
/// before the previous one (or before the name's start): real compression only refers back
/// to earlier names, and this rule makes loops impossible.
fn read_name(data: &[u8], start: usize) -> Result<(String, usize), DecodeError> {
    let err = |at, reason| DecodeError::BadSearchList { at, reason };
    let mut name = String::new();
    let mut at = start;
    let mut limit = start;
    let mut resume = None;
    loop {
        let len = *data.get(at).ok_or(err(at, "name runs past the end"))?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                if name.is_empty() {
                    return Err(err(at, "empty name"));
                }
                return Ok((name, resume.unwrap_or(at + 1)));
            }
            0x00 => {
                let len = usize::from(len);
                let label = data
                    .get(at + 1..at + 1 + len)
                    .ok_or(err(at, "label runs past the end"))?;
                if !label
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                {
                    return Err(err(at, "label is not letters, digits, '-' or '_'"));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                // Checked ASCII just above.
                name.extend(label.iter().map(|&b| char::from(b)));
                if name.len() > 253 {
                    return Err(err(at, "name longer than 253 characters"));
                }
                at += 1 + len;
            }
            0xc0 => {
                let low = *data
                    .get(at + 1)
                    .ok_or(err(at, "pointer runs past the end"))?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(low);
                if target >= limit {
                    return Err(err(at, "compression pointer does not point backwards"));
                }
                resume.get_or_insert(at + 2);
                limit = target;
                at = target;
            }
            _ => return Err(err(at, "unknown label type")),
        }
    }
}

/// Option 121 (RFC 3442): `width, significant octets of the destination, router` repeated.
/// Destination bits beyond the prefix are cleared, as the RFC defines the route by its prefix.
pub fn classless_routes(data: &[u8]) -> Result<Vec<Route>, DecodeError> {
    let mut routes = Vec::new();
    let mut at = 0;
    while let Some(&width) = data.get(at) {
        if width > 32 {
            return Err(DecodeError::BadRoute {
                at,
                reason: "prefix length over 32",
            });
        }
        let octets = usize::from(width).div_ceil(8);
        let end = at + 1 + octets + 4;
        let entry = data.get(at + 1..end).ok_or(DecodeError::BadRoute {
            at,
            reason: "route runs past the end",
        })?;
        let mut dest = [0u8; 4];
        for (byte, significant) in dest.iter_mut().zip(entry.iter().take(octets)) {
            *byte = *significant;
        }
        let mask = u32::MAX.checked_shl(32 - u32::from(width)).unwrap_or(0);
        routes.push(Route {
            dest: Ipv4Addr::from(u32::from_be_bytes(dest) & mask),
            prefix_len: width,
            gateway: ipv4_at(entry, octets),
        });
        at = end;
    }
    Ok(routes)
}

// IPv4 + UDP framing, for the raw socket before the interface has an address: frame.rs.
mod frame;
pub use frame::*;

#[cfg(test)]
mod tests;
