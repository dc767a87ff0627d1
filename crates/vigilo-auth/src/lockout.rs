//! Failed sign-ins: each failure makes the next answer wait longer, and
//! repeated failures lock the account (or the client address) for a while,
//! the lock doubling each time. Pure: the caller passes the time.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct LockoutPolicy {
    /// Failures in a row that lock.
    pub threshold: u32,
    /// The first lock; each further lock doubles, up to `max_lock`.
    pub first_lock: Duration,
    pub max_lock: Duration,
    /// Quiet time after which failures are forgotten.
    pub forget_after: Duration,
    /// Delay added to each failed answer: `base_delay * 2^(failures-1)`,
    /// at most `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Most tracked keys; the oldest quiet ones are dropped beyond it.
    pub capacity: usize,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            threshold: 5,
            first_lock: Duration::from_secs(60),
            max_lock: Duration::from_secs(3600),
            forget_after: Duration::from_secs(3600),
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(3),
            capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    failures: u32,
    locks: u32,
    last: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// Tracks failures per key (a username or a client address).
#[derive(Debug, Default)]
pub struct Lockout {
    policy: LockoutPolicy,
    entries: HashMap<String, Entry>,
}

impl Lockout {
    pub fn new(policy: LockoutPolicy) -> Lockout {
        Lockout {
            policy,
            entries: HashMap::new(),
        }
    }

    /// `Err(wait)` while `key` is locked.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), Duration> {
        match self.entries.get(key).and_then(|e| e.locked_until) {
            Some(until) if until > now => Err((until - now).to_std().unwrap_or_default()),
            _ => Ok(()),
        }
    }

    /// Record a failure; returns how long to delay the answer.
    pub fn fail(&mut self, key: &str, now: DateTime<Utc>) -> Duration {
        if self.entries.len() >= self.policy.capacity && !self.entries.contains_key(key) {
            self.prune(now);
        }
        let p = &self.policy;
        let forget = chrono::Duration::from_std(p.forget_after).unwrap_or_default();
        let e = self.entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            locks: 0,
            last: now,
            locked_until: None,
        });
        if now - e.last > forget {
            e.failures = 0;
            e.locks = 0;
        }
        e.failures += 1;
        e.last = now;
        if e.failures >= p.threshold {
            let factor = 2u32.saturating_pow(e.locks.min(16));
            let lock = p.first_lock.saturating_mul(factor).min(p.max_lock);
            e.locked_until = Some(now + chrono::Duration::from_std(lock).unwrap_or_default());
            e.locks += 1;
            e.failures = 0;
        }
        let exp = e.failures.saturating_sub(1).min(16);
        p.base_delay.saturating_mul(2u32.pow(exp)).min(p.max_delay)
    }

    /// A success clears the key's failures (not a lock in force).
    pub fn succeed(&mut self, key: &str) {
        if let Some(e) = self.entries.get_mut(key) {
            e.failures = 0;
            e.locks = 0;
        }
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let forget = chrono::Duration::from_std(self.policy.forget_after).unwrap_or_default();
        self.entries
            .retain(|_, e| now - e.last <= forget || e.locked_until.is_some_and(|u| u > now));
        if self.entries.len() >= self.policy.capacity {
            // Still full of recent keys (an attack from many addresses):
            // drop the unlocked ones, keeping every lock in force.
            self.entries
                .retain(|_, e| e.locked_until.is_some_and(|u| u > now));
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_then_lock_doubles() {
        let mut l = Lockout::new(LockoutPolicy::default());
        let t0 = Utc::now();
        let d: Vec<u128> = (0..4).map(|_| l.fail("ana", t0).as_millis()).collect();
        assert_eq!(d, vec![200, 400, 800, 1600]);
        assert!(l.check("ana", t0).is_ok());
        l.fail("ana", t0);
        let wait = l.check("ana", t0).expect_err("locked");
        assert_eq!(wait.as_secs(), 60);
        let later = t0 + chrono::Duration::seconds(61);
        assert!(l.check("ana", later).is_ok());
        for _ in 0..5 {
            l.fail("ana", later);
        }
        assert_eq!(l.check("ana", later).expect_err("locked").as_secs(), 120);
        assert!(l.check("bob", later).is_ok());
    }

    #[test]
    fn success_resets_and_capacity_is_bounded() {
        let mut l = Lockout::new(LockoutPolicy {
            capacity: 10,
            ..LockoutPolicy::default()
        });
        let t0 = Utc::now();
        l.fail("a", t0);
        l.succeed("a");
        assert_eq!(l.fail("a", t0).as_millis(), 200);
        for i in 0..1000 {
            l.fail(&format!("addr{i}"), t0);
        }
        assert!(l.len() <= 11, "{}", l.len());
    }
}
