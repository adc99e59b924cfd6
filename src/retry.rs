//! Trying again without a herd: a deadline, backoff that doubles to a cap, and per-node
//! jitter, so hundreds of nodes powered on together do not retry in lockstep against a server
//! that is just coming back. Image fetches and NFS mounts use [`RetryPolicy`]; DHCP uses
//! [`mix`] for its transaction ids and its own retransmission schedule.

use std::time::Duration;

/// SplitMix64's finaliser: a cheap bijective mixer, enough for ids and jitter (not secrets).
/// The one small PRNG of the init.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A jitter seed from something that differs between nodes (the MAC) and something that
/// differs between boots (the clock, or the node's address).
pub fn jitter_seed(node: &[u8], salt: u64) -> u64 {
    node.iter().fold(mix(salt), |h, b| mix(h ^ u64::from(*b)))
}

/// When to give up and how long to wait between tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Everything retried under this policy ends by then (`rd.retry=`).
    pub deadline: Duration,
    /// The first backoff; it doubles up to `max_delay`.
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// Spreads the waits of different nodes ([`jitter_seed`]).
    pub seed: u64,
}

impl RetryPolicy {
    /// Backoff from 0.5 s doubling to 8 s; jitter seed 0 until [`RetryPolicy::seeded`].
    pub fn with_deadline(deadline: Duration) -> RetryPolicy {
        RetryPolicy {
            deadline,
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            seed: 0,
        }
    }

    /// The same policy with this node's jitter ([`jitter_seed`]).
    pub fn seeded(self, seed: u64) -> RetryPolicy {
        RetryPolicy { seed, ..self }
    }

    /// The backoff ceiling before the `wait`-th pause (1-based): doubling, capped.
    pub fn ceiling(&self, wait: u32) -> Duration {
        let factor = 1u32
            .checked_shl(wait.saturating_sub(1).min(16))
            .unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The `wait`-th pause: between half the ceiling and the ceiling ("equal jitter"), at a
    /// point fixed by the seed, so each node has its own rhythm yet still backs off.
    pub fn delay(&self, wait: u32) -> Duration {
        let ceiling = self.ceiling(wait);
        let half = u64::try_from(ceiling.as_nanos() / 2).unwrap_or(u64::MAX / 2);
        let r = mix(self.seed ^ u64::from(wait).wrapping_mul(0x2545_f491_4f6c_dd1d));
        Duration::from_nanos(half + r % (half + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let policy = RetryPolicy::with_deadline(Duration::from_secs(60)).seeded(7);
        let ceilings: Vec<u128> = (1..=7).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [500, 1000, 2000, 4000, 8000, 8000, 8000]);
        for wait in 1..=10 {
            let (d, c) = (policy.delay(wait), policy.ceiling(wait));
            assert!(
                d >= c / 2 && d <= c,
                "wait {wait}: {d:?} outside [{:?}, {c:?}]",
                c / 2
            );
        }
    }

    #[test]
    fn jitter_differs_between_nodes_and_repeats_for_one() {
        let macs: Vec<[u8; 6]> = (0..50u8).map(|i| [0x52, 0x54, 0, 0x12, 0x34, i]).collect();
        let first: Vec<Duration> = macs
            .iter()
            .map(|m| RetryPolicy::with_deadline(Duration::from_secs(60)).seeded(jitter_seed(m, 0)))
            .map(|p| p.delay(3))
            .collect();
        let mut distinct = first.clone();
        distinct.sort();
        distinct.dedup();
        assert!(distinct.len() >= 45, "{distinct:?}");
        let spread = distinct.last().copied().unwrap_or_default() - distinct[0];
        assert!(spread > Duration::from_millis(700), "{spread:?}");
        let again =
            RetryPolicy::with_deadline(Duration::from_secs(60)).seeded(jitter_seed(&macs[0], 0));
        assert_eq!(again.delay(3), first[0]);
        assert_ne!(jitter_seed(&macs[0], 0), jitter_seed(&macs[0], 1));
    }
}
