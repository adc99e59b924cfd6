//! The client's protocol logic without IO: what to send when, which replies to take, and the
//! lease an ACK gives. Time is a `Duration` since the start, so tests drive it by hand.

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::identity::Mac;
use crate::retry::mix;

use super::lease::{Lease, check_address};
use super::packet::{ClientKind, ClientMessage, MessageType, Reply};

/// Retransmissions: the first after ~0.5 s, because the link may have come up just after the
/// first DISCOVER left (the loss klibc's ipconfig suffers); then doubling to 8 s.
/// RFC 2131 4.1 suggests 4 s to 64 s, which is for busy shared networks, not a booting node
/// waiting on one server. The jitter (at most a quarter of the delay, and 0.5 s) keeps many
/// nodes booted together from retransmitting in lockstep, while the first resend stays
/// well under 1 s.
pub fn retransmit_delay(attempt: u32, seed: u64) -> Duration {
    let base_ms: u64 = 500 << attempt.min(4);
    let spread_ms = (base_ms / 4).min(500);
    let roll = mix(seed ^ u64::from(attempt).wrapping_mul(0xa076_1d64_78bd_642f));
    let offset = roll % (2 * spread_ms + 1);
    Duration::from_millis(base_ms - spread_ms + offset)
}

/// The transaction id of discovery round `round` (a new one after each restart).
pub fn xid_for(seed: u64, round: u32) -> u32 {
    // The high half of a well-mixed word.
    (mix(seed.wrapping_add(u64::from(round))) >> 32) as u32
}

/// How soon to try again after a send failed locally.
const LOCAL_RETRY: Duration = Duration::from_millis(100);

/// REQUESTs sent for one offer before starting over with a DISCOVER (0.5+1+2+4 s).
const REQUESTS_PER_OFFER: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Selecting,
    Requesting {
        address: Ipv4Addr,
        server_id: Ipv4Addr,
    },
}

/// What a received reply did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not for us, or not useful now; the reason is for the debug log.
    Ignored(String),
    /// An OFFER was taken: a REQUEST is due now.
    Offered {
        address: Ipv4Addr,
        server_id: Ipv4Addr,
    },
    /// The server refused our REQUEST: discovery starts over with a new xid.
    Refused {
        server_id: Ipv4Addr,
        message: Option<String>,
    },
    Bound(Box<Lease>),
}

/// Counters for the log and the timeout error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub discovers: u32,
    pub requests: u32,
    pub offers: u32,
    pub naks: u32,
}

/// One acquisition, from the first DISCOVER to the ACK.
#[derive(Debug)]
pub struct Acquisition {
    /// For log lines only.
    iface: String,
    mac: Mac,
    hostname: String,
    seed: u64,
    state: State,
    round: u32,
    xid: u32,
    /// Sends in the current state, for the backoff.
    attempt: u32,
    next_send: Duration,
    first_send: Option<Duration>,
    counts: Counts,
    /// The last reason a reply for us was not taken, or a send failed: the timeout error
    /// shows it, since "no answer" is misleading when answers came but were unusable.
    last_problem: Option<String>,
}

impl Acquisition {
    pub fn new(iface: &str, mac: Mac, hostname: &str, seed: u64) -> Acquisition {
        Acquisition {
            iface: iface.to_owned(),
            mac,
            hostname: hostname.to_owned(),
            seed,
            state: State::Selecting,
            round: 0,
            xid: xid_for(seed, 0),
            attempt: 0,
            next_send: Duration::ZERO,
            first_send: None,
            counts: Counts::default(),
            last_problem: None,
        }
    }

    pub fn xid(&self) -> u32 {
        self.xid
    }

    pub fn counts(&self) -> Counts {
        self.counts
    }

    pub fn last_problem(&self) -> Option<&str> {
        self.last_problem.as_deref()
    }

    /// When the next transmission is due.
    pub fn next_send(&self) -> Duration {
        self.next_send
    }

    /// Remembers why something went wrong (a send that failed, a reply that did not decode).
    pub fn note_problem(&mut self, problem: String) {
        self.last_problem = Some(problem);
    }

    /// The message to send now, if one is due, and schedules the one after. A REQUEST that
    /// went unanswered [`REQUESTS_PER_OFFER`] times gives way to a new DISCOVER.
    pub fn transmit(&mut self, now: Duration) -> Option<ClientMessage<'_>> {
        if now < self.next_send {
            return None;
        }
        if matches!(self.state, State::Requesting { .. }) && self.attempt >= REQUESTS_PER_OFFER {
            log::info!(
                "dhcp: {}: no ACK after {REQUESTS_PER_OFFER} REQUESTs: discovering again",
                self.iface
            );
            self.restart();
        }
        let first = *self.first_send.get_or_insert(now);
        self.next_send = now + retransmit_delay(self.attempt, self.seed ^ u64::from(self.xid));
        self.attempt += 1;
        let kind = match self.state {
            State::Selecting => {
                self.counts.discovers += 1;
                ClientKind::Discover
            }
            State::Requesting { address, server_id } => {
                self.counts.requests += 1;
                ClientKind::Request {
                    requested: address,
                    server_id,
                }
            }
        };
        let secs = u16::try_from(now.saturating_sub(first).as_secs()).unwrap_or(u16::MAX);
        Some(ClientMessage {
            kind,
            xid: self.xid,
            secs,
            mac: self.mac,
            hostname: &self.hostname,
        })
    }

    /// The message from the last [`Acquisition::transmit`] never left the host (the link is down,
    /// say). Nothing was lost on the wire, so it does not count, and the next try comes soon
    /// rather than after a backoff step: the lease follows the link coming up closely.
    pub fn send_failed(&mut self, now: Duration) {
        self.attempt = self.attempt.saturating_sub(1);
        let count = match self.state {
            State::Selecting => &mut self.counts.discovers,
            State::Requesting { .. } => &mut self.counts.requests,
        };
        *count = count.saturating_sub(1);
        self.next_send = now + LOCAL_RETRY;
    }

    fn restart(&mut self) {
        self.state = State::Selecting;
        self.round += 1;
        self.xid = xid_for(self.seed, self.round);
        self.attempt = 0;
    }

    /// Takes a decoded reply. Replies for other transactions or other clients are ignored,
    /// as are late OFFERs once one was taken and ACK/NAKs from servers we did not ask.
    pub fn receive(&mut self, reply: &Reply, now: Duration) -> Outcome {
        if reply.xid != self.xid {
            return Outcome::Ignored(format!(
                "xid {:#010x} is not ours ({:#010x})",
                reply.xid, self.xid
            ));
        }
        if reply.chaddr != self.mac {
            return Outcome::Ignored(format!("for {}, not us", reply.chaddr));
        }
        let outcome = match (self.state, reply.message_type) {
            (State::Selecting, MessageType::Offer) => self.take_offer(reply, now),
            (State::Requesting { address, server_id }, MessageType::Ack) => {
                match reply.options.server_id {
                    Some(from) if from != server_id => {
                        return Outcome::Ignored(format!(
                            "ACK from {from}, not the server we asked ({server_id})"
                        ));
                    }
                    _ => {}
                }
                if reply.yiaddr != address {
                    Outcome::Ignored(format!(
                        "ACK of {} while we asked for {address}",
                        reply.yiaddr
                    ))
                } else {
                    match Lease::from_ack(reply, server_id) {
                        Ok(lease) => Outcome::Bound(Box::new(lease)),
                        Err(err) => {
                            Outcome::Ignored(format!("ACK from {server_id} unusable: {err}"))
                        }
                    }
                }
            }
            (State::Requesting { server_id, .. }, MessageType::Nak) => {
                match reply.options.server_id {
                    Some(from) if from != server_id => Outcome::Ignored(format!(
                        "NAK from {from}, not the server we asked ({server_id})"
                    )),
                    _ => {
                        self.counts.naks += 1;
                        self.restart();
                        // Not at once: a server that refuses everything must not make us spin.
                        self.next_send = now + retransmit_delay(0, self.seed ^ u64::from(self.xid));
                        Outcome::Refused {
                            server_id,
                            message: reply.options.message.clone(),
                        }
                    }
                }
            }
            // A late OFFER from a second server, say: normal, and not worth reporting.
            (_, other) => return Outcome::Ignored(format!("{other} not expected now")),
        };
        if let Outcome::Ignored(why) = &outcome {
            self.last_problem = Some(why.clone());
        }
        outcome
    }

    fn take_offer(&mut self, reply: &Reply, now: Duration) -> Outcome {
        self.counts.offers += 1;
        if let Err(err) = check_address(reply.yiaddr) {
            return Outcome::Ignored(format!("OFFER unusable: {err}"));
        }
        // Required in OFFERs (RFC 2131 table 3), and our REQUEST must name it.
        let Some(server_id) = reply.options.server_id else {
            return Outcome::Ignored(format!(
                "OFFER of {} without option 54 (server identifier)",
                reply.yiaddr
            ));
        };
        self.state = State::Requesting {
            address: reply.yiaddr,
            server_id,
        };
        self.attempt = 0;
        self.next_send = now;
        Outcome::Offered {
            address: reply.yiaddr,
            server_id,
        }
    }
}

#[cfg(test)]
mod tests;
