//! Ids and seeded randomness: job ids, run ids, and the one seeded generator concur uses.

use std::time::{SystemTime, UNIX_EPOCH};

/// SplitMix64 (Steele, Lea and Flood, 2014), spelled out rather than taken from a crate: a seeded
/// schedule is a promise that `--seed 7` shows the same interleaving in every workshop, and a
/// crate's generator may change its stream between releases.
#[derive(Clone, Debug)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
}

/// SplitMix64's output function: a good 64-bit hash of one word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A 24-hex-digit job id, like Sidekiq's `SecureRandom.hex(12)`: unique, not secret. `seed`
/// names the batch (a pid and a clock, [`batch_seed`]), `i` the job in it.
pub fn jid(seed: &str, i: u64) -> String {
    let seed = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let a = mix((seed ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15));
    let b = mix((a ^ i.rotate_left(32)).wrapping_add(0x9E37_79B9_7F4A_7C15));
    format!("{a:016x}{:08x}", b as u32)
}

/// `<pid>-<hex nanos>`: a seed for [`jid`] that differs between processes and runs.
pub fn batch_seed() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    format!("{}-{:x}", std::process::id(), nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_stream_is_fixed() {
        // The published first outputs of SplitMix64 seeded with 0.
        let mut r = SplitMix64(0);
        assert_eq!(r.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(r.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    }

    #[test]
    fn jids_are_24_hex_digits_and_distinct() {
        let a = jid("1-abc", 0);
        assert_eq!(a.len(), 24);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, jid("1-abc", 1));
        assert_ne!(a, jid("2-abc", 0));
        assert_eq!(a, jid("1-abc", 0));
    }
}
