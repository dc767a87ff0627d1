//! Who and what the traffic is about: user and service populations, and the
//! keyed permutation that spreads events evenly over them.
//!
//! Every per-user and per-service rule of the bundled packs counts events in a
//! window. Picking users uniformly at random would now and then give one user
//! a cluster of events that trips a burst rule. Instead each category of event
//! walks its population in cycles: within one cycle every member is picked
//! exactly once, in an order that a keyed permutation shuffles anew for each
//! cycle. A member therefore receives at most `ceil(n / size) + 1` events of a
//! category among any `n` consecutive events of it, which is what lets the
//! generator size its populations so that no window ever reaches a threshold.

const FIRST: [&str; 40] = [
    "alice", "bruno", "carmen", "deepak", "elena", "farid", "grace", "hiro", "ines", "jonas",
    "kofi", "lena", "mateo", "nadia", "oliver", "priya", "quentin", "rosa", "samir", "tara",
    "umar", "vera", "wei", "ximena", "yusuf", "zoe", "amara", "bjorn", "chloe", "dmitri", "emeka",
    "fatima", "gustav", "hana", "ivan", "julia", "kenji", "layla", "marek", "noor",
];

const LAST: [&str; 40] = [
    "smith",
    "garcia",
    "muller",
    "rossi",
    "tanaka",
    "kowalski",
    "silva",
    "novak",
    "okafor",
    "jensen",
    "dubois",
    "ivanova",
    "khan",
    "lee",
    "martin",
    "nguyen",
    "olsen",
    "patel",
    "quinn",
    "reyes",
    "schmidt",
    "torres",
    "ueda",
    "varga",
    "walsh",
    "xu",
    "yilmaz",
    "zhang",
    "andersen",
    "bakker",
    "costa",
    "diaz",
    "evans",
    "fischer",
    "gomez",
    "horvat",
    "ito",
    "johansson",
    "kim",
    "lopez",
];

/// Service families; large populations add numbered shards of each.
pub(crate) const SERVICES: [&str; 12] = [
    "auth",
    "payments",
    "orders",
    "search",
    "gateway",
    "inventory",
    "notifications",
    "users",
    "catalog",
    "billing",
    "shipping",
    "reporting",
];

/// Name of normal user `i`: `first.last`, then `first.last2`, ... once the
/// 1,600 combinations are used up. Incident users never have this shape.
pub(crate) fn user_name(i: u64) -> String {
    let f = FIRST[(i % 40) as usize];
    let l = LAST[((i / 40) % 40) as usize];
    let round = i / 1600;
    if round == 0 {
        format!("{f}.{l}")
    } else {
        format!("{f}.{l}{}", round + 1)
    }
}

/// Name of normal service `i` out of `count` (a multiple of 12).
pub(crate) fn service_name(i: u64, count: u64) -> String {
    let base = SERVICES[(i % 12) as usize];
    if count <= 12 {
        base.to_string()
    } else {
        format!("{base}-{:02}", i / 12 + 1)
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A bijection of `0..n` chosen by `key`: a four-round Feistel network on
/// the smallest even bit width covering `n`, with cycle walking.
pub(crate) fn permute(x: u64, n: u64, key: u64) -> u64 {
    debug_assert!(x < n);
    if n <= 1 {
        return 0;
    }
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut v = x;
    loop {
        let mut l = v >> half;
        let mut r = v & mask;
        for round in 0..4u64 {
            let f = mix(r ^ key.rotate_left(17 * round as u32) ^ round) & mask;
            let next_r = l ^ f;
            l = r;
            r = next_r;
        }
        v = (l << half) | r;
        if v < n {
            return v;
        }
    }
}

/// Derives a sub-key, e.g. one per category and cycle.
pub(crate) fn subkey(key: u64, a: u64, b: u64) -> u64 {
    mix(key ^ mix(a.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ mix(b)))
}

/// A population walked in shuffled cycles.
#[derive(Debug, Clone)]
pub(crate) struct Cycle {
    size: u64,
    key: u64,
    counter: u64,
}

impl Cycle {
    pub(crate) fn new(size: u64, key: u64) -> Self {
        Cycle {
            size: size.max(1),
            key,
            counter: 0,
        }
    }

    pub(crate) fn next(&mut self) -> u64 {
        let c = self.counter;
        self.counter += 1;
        let round = c / self.size;
        permute(c % self.size, self.size, subkey(self.key, round, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 5, 12, 100, 257, 1000, 4097] {
            for key in [0u64, 1, 0xdead_beef] {
                let seen: HashSet<u64> = (0..n).map(|x| permute(x, n, key)).collect();
                assert_eq!(seen.len() as u64, n);
                assert!(seen.iter().all(|&v| v < n));
            }
        }
    }

    #[test]
    fn cycle_picks_everyone_once_per_round() {
        let mut c = Cycle::new(50, 7);
        for _ in 0..3 {
            let round: HashSet<u64> = (0..50).map(|_| c.next()).collect();
            assert_eq!(round.len(), 50);
        }
    }

    #[test]
    fn names_are_distinct() {
        let names: HashSet<String> = (0..10_000).map(user_name).collect();
        assert_eq!(names.len(), 10_000);
        assert_eq!(service_name(13, 24), "payments-02");
        assert_eq!(service_name(3, 12), "search");
    }
}
