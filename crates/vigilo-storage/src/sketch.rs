//! A mergeable quantile sketch for the numeric rollups: DDSketch
//! (Masson, Rim, Lee, "DDSketch: a fast and fully-mergeable quantile sketch
//! with relative-error guarantees", VLDB 2019).
//!
//! Values fall into logarithmic buckets: bucket `i` holds the values in
//! `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)`, so any value read back
//! from a bucket is within a relative error `α` ([`RELATIVE_ACCURACY`], 1%)
//! of every value it holds. Negative values go to a mirror store, values
//! near zero to a zero count. Two sketches merge by adding bucket counts,
//! which is exact: a quantile of merged minutes is as accurate as one over
//! the raw values. A store keeps at most [`MAX_BINS`] buckets; past that the
//! lowest ones are folded together (as DDSketch's collapsing store does),
//! which only affects quantiles among the smallest magnitudes, and only
//! for data spanning more than about 18 orders of magnitude.
//!
//! Stored form (a SQLite BLOB): a version byte, the zero count, then each
//! store as its number of non-empty buckets and (index delta, count) pairs,
//! all LEB128 varints (indexes zigzag-encoded). A minute of one service's
//! latencies takes a few hundred bytes.

use std::fmt;

/// The relative error of every quantile a sketch answers.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Most buckets one store (positive or negative values) keeps.
pub const MAX_BINS: usize = 2048;

/// Magnitudes below this count as zero.
const MIN_INDEXABLE: f64 = 1e-9;

const VERSION: u8 = 1;

/// `ln γ` for [`RELATIVE_ACCURACY`].
fn ln_gamma() -> f64 {
    ((1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)).ln()
}

/// Why a stored sketch could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantile sketch: {0}")]
pub struct SketchError(&'static str);

/// Bucket counts of one sign: `counts[k]` is bucket `offset + k`.
#[derive(Clone, Default)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

/// Stores are equal when they hold the same counts, whatever room each
/// keeps around them.
impl PartialEq for Store {
    fn eq(&self, other: &Store) -> bool {
        self.bins().eq(other.bins())
    }
}

impl Eq for Store {}

impl Store {
    fn add(&mut self, index: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = index;
            self.counts.push(n);
            return;
        }
        if index < self.offset {
            let grow = (self.offset - index) as usize;
            if self.counts.len() + grow > MAX_BINS {
                // Fold into the lowest bucket kept.
                let lowest = self.top().saturating_sub(MAX_BINS as i32 - 1);
                if index < lowest {
                    self.shift_to(lowest);
                    self.counts[0] += n;
                    return;
                }
            }
            // Room below as well, so values arriving in falling order do
            // not move the counts at every step.
            let room = (self.counts.len() / 2)
                .min(64)
                .min(MAX_BINS.saturating_sub(self.counts.len() + grow));
            let mut counts = vec![0; grow + room];
            counts.append(&mut self.counts);
            self.counts = counts;
            self.offset = index - room as i32;
        }
        let k = (index - self.offset) as usize;
        if k >= self.counts.len() {
            self.counts.resize(k + 1, 0);
        }
        self.counts[k] += n;
        if self.counts.len() > MAX_BINS {
            let lowest = self.top() - (MAX_BINS as i32 - 1);
            self.shift_to(lowest);
        }
    }

    /// Highest bucket index held.
    fn top(&self) -> i32 {
        self.offset + self.counts.len() as i32 - 1
    }

    /// Make `lowest` the lowest bucket, folding every count below it into it.
    fn shift_to(&mut self, lowest: i32) {
        if lowest <= self.offset {
            let grow = (self.offset - lowest) as usize;
            let mut counts = vec![0; grow];
            counts.append(&mut self.counts);
            self.counts = counts;
        } else {
            let cut = ((lowest - self.offset) as usize).min(self.counts.len());
            let folded: u64 = self.counts.drain(..cut).sum();
            if self.counts.is_empty() {
                self.counts.push(0);
            }
            self.counts[0] += folded;
        }
        self.offset = lowest;
    }

    fn merge(&mut self, other: &Store) {
        for (k, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                self.add(other.offset + k as i32, n);
            }
        }
    }

    fn bins(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(k, &n)| (self.offset + k as i32, n))
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A DDSketch with 1% relative accuracy.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    positive: Store,
    negative: Store,
    zero: u64,
}

impl fmt::Debug for Sketch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sketch")
            .field("count", &self.count())
            .field("positive_bins", &self.positive.bins().count())
            .field("negative_bins", &self.negative.bins().count())
            .field("zero", &self.zero)
            .finish()
    }
}

fn index_of(magnitude: f64) -> i32 {
    // ceil(log_γ(x)); magnitudes are at least MIN_INDEXABLE and finite, so
    // the index is within ±40,000.
    (magnitude.ln() / ln_gamma()).ceil() as i32
}

/// The value a bucket stands for: within the relative accuracy of every
/// value in `(γ^(i-1), γ^i]`.
fn value_of(index: i32) -> f64 {
    let gamma = ln_gamma().exp();
    2.0 * (f64::from(index) * ln_gamma()).exp() / (1.0 + gamma)
}

impl Sketch {
    pub fn new() -> Self {
        Sketch::default()
    }

    /// Add a value; NaN and infinities are ignored.
    pub fn add(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v > MIN_INDEXABLE {
            self.positive.add(index_of(v), 1);
        } else if v < -MIN_INDEXABLE {
            self.negative.add(index_of(-v), 1);
        } else {
            self.zero += 1;
        }
    }

    /// Values added (to this sketch and every one merged into it).
    pub fn count(&self) -> u64 {
        self.positive.total() + self.negative.total() + self.zero
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
        self.zero += other.zero;
    }

    /// The `q`-quantile (0 ≤ q ≤ 1), within the relative accuracy of the
    /// true one; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let count = self.count();
        if count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The rank of the quantile among the sorted values (0-based).
        let rank = (q * (count - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Negative values, most negative (largest magnitude) first.
        for (i, n) in self.negative.bins().rev() {
            seen += n;
            if seen > rank {
                return Some(-value_of(i));
            }
        }
        seen += self.zero;
        if seen > rank {
            return Some(0.0);
        }
        for (i, n) in self.positive.bins() {
            seen += n;
            if seen > rank {
                return Some(value_of(i));
            }
        }
        // Unreachable with consistent counts; the largest value then.
        self.positive.bins().last().map(|(i, _)| value_of(i))
    }

    /// The stored form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(8 + 3 * (self.positive.counts.len() + self.negative.counts.len()));
        out.push(VERSION);
        put_varint(&mut out, self.zero);
        for store in [&self.positive, &self.negative] {
            put_varint(&mut out, store.bins().count() as u64);
            let mut prev = 0i64;
            for (i, n) in store.bins() {
                let delta = i64::from(i) - prev;
                put_varint(&mut out, ((delta << 1) ^ (delta >> 63)) as u64);
                put_varint(&mut out, n);
                prev = i64::from(i);
            }
        }
        out
    }

    /// Read a stored sketch.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sketch, SketchError> {
        let mut r = Reader { bytes, at: 0 };
        if r.byte()? != VERSION {
            return Err(SketchError("unknown version"));
        }
        let mut s = Sketch {
            zero: r.varint()?,
            ..Sketch::default()
        };
        for positive in [true, false] {
            let bins = r.varint()?;
            if bins > 1 << 20 {
                return Err(SketchError("too many buckets"));
            }
            let mut prev = 0i64;
            for _ in 0..bins {
                let delta = zigzag(r.varint()?);
                let index = prev
                    .checked_add(delta)
                    .and_then(|i| i32::try_from(i).ok())
                    .ok_or(SketchError("bucket index out of range"))?;
                let n = r.varint()?;
                let store = if positive {
                    &mut s.positive
                } else {
                    &mut s.negative
                };
                store.add(index, n);
                prev = i64::from(index);
            }
        }
        if r.at != bytes.len() {
            return Err(SketchError("trailing bytes"));
        }
        Ok(s)
    }
}

/// The `q`-quantile of a stored sketch, read straight from its stored form:
/// the answer of `Sketch::from_bytes(bytes)?.quantile(q)` without building
/// the sketch's dense stores (a series of a day by minute reads one stored
/// sketch per point and merges none).
pub fn quantile_of_bytes(bytes: &[u8], q: f64) -> Result<Option<f64>, SketchError> {
    let mut r = Reader { bytes, at: 0 };
    if r.byte()? != VERSION {
        return Err(SketchError("unknown version"));
    }
    let zero = r.varint()?;
    // First pass: the counts of each store, where the positive bins start,
    // and whether the bins are as `to_bytes` writes them (strictly rising,
    // within MAX_BINS of each other); anything else is read the long way.
    let positive_at = r.at;
    let mut totals = [0u64; 2];
    let mut canonical = true;
    for total in &mut totals {
        let bins = r.varint()?;
        if bins > 1 << 20 {
            return Err(SketchError("too many buckets"));
        }
        let mut prev = 0i64;
        let mut first = None;
        for k in 0..bins {
            let delta = zigzag(r.varint()?);
            let index = prev
                .checked_add(delta)
                .filter(|i| i32::try_from(*i).is_ok())
                .ok_or(SketchError("bucket index out of range"))?;
            if k > 0 && delta <= 0 {
                canonical = false;
            }
            let low = *first.get_or_insert(index);
            if index - low >= MAX_BINS as i64 {
                canonical = false;
            }
            *total = total.saturating_add(r.varint()?);
            prev = index;
        }
    }
    if r.at != bytes.len() {
        return Err(SketchError("trailing bytes"));
    }
    if !canonical {
        return Ok(Sketch::from_bytes(bytes)?.quantile(q));
    }
    let [positive, negative] = totals;
    let count = positive.saturating_add(negative).saturating_add(zero);
    if count == 0 || !(0.0..=1.0).contains(&q) {
        return Ok(None);
    }
    let rank = (q * (count - 1) as f64).floor() as u64;
    if rank < negative {
        // Most negative first: the negative bins from the highest index
        // down (a store of values below zero is rare, so it is collected).
        let mut r = Reader {
            bytes,
            at: positive_at,
        };
        skip_store(&mut r)?;
        let bins = read_store(&mut r)?;
        let mut seen = 0u64;
        for (i, n) in bins.into_iter().rev() {
            seen += n;
            if seen > rank {
                return Ok(Some(-value_of(i)));
            }
        }
    }
    if rank < negative + zero {
        return Ok(Some(0.0));
    }
    let mut seen = negative + zero;
    let mut r = Reader {
        bytes,
        at: positive_at,
    };
    let bins = r.varint()?;
    let mut prev = 0i64;
    let mut last = None;
    for _ in 0..bins {
        prev += zigzag(r.varint()?);
        let n = r.varint()?;
        if n == 0 {
            continue;
        }
        last = Some(prev as i32);
        seen += n;
        if seen > rank {
            return Ok(Some(value_of(prev as i32)));
        }
    }
    Ok(last.map(value_of))
}

fn zigzag(z: u64) -> i64 {
    ((z >> 1) as i64) ^ -((z & 1) as i64)
}

fn skip_store(r: &mut Reader<'_>) -> Result<(), SketchError> {
    for _ in 0..r.varint()? {
        r.varint()?;
        r.varint()?;
    }
    Ok(())
}

/// One store's non-empty (index, count) pairs, in stored order.
fn read_store(r: &mut Reader<'_>) -> Result<Vec<(i32, u64)>, SketchError> {
    let bins = r.varint()?;
    let mut out = Vec::with_capacity(bins.min(MAX_BINS as u64) as usize);
    let mut prev = 0i64;
    for _ in 0..bins {
        prev += zigzag(r.varint()?);
        let n = r.varint()?;
        if n > 0 {
            out.push((prev as i32, n));
        }
    }
    Ok(out)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, SketchError> {
        let b = *self.bytes.get(self.at).ok_or(SketchError("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, SketchError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(SketchError("varint too long"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn within(got: f64, want: f64) -> bool {
        (got - want).abs() <= RELATIVE_ACCURACY * want.abs() + 1e-12
    }

    #[test]
    fn quantiles_are_within_the_relative_accuracy() {
        // Latencies 1..=10,000, a negative tail and zeros.
        let mut values: Vec<f64> = (1..=10_000).map(f64::from).collect();
        values.extend((1..=500).map(|i| -f64::from(i) * 0.37));
        values.extend([0.0; 50]);
        let mut s = Sketch::new();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        assert_eq!(s.count(), values.len() as u64);
        for q in [0.0, 0.01, 0.05, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let got = s.quantile(q).unwrap();
            let want = exact(&values, q);
            assert!(within(got, want), "q{q}: {got} vs {want}");
        }
        assert_eq!(Sketch::new().quantile(0.5), None);
        assert_eq!(s.quantile(1.5), None);
    }

    #[test]
    fn merging_equals_adding_everything_to_one() {
        let mut a = Sketch::new();
        let mut b = Sketch::new();
        let mut all = Sketch::new();
        for i in 0..5000 {
            let v = (f64::from(i) * 0.731).sin() * 1000.0;
            if i % 3 == 0 { &mut a } else { &mut b }.add(v);
            all.add(v);
        }
        a.merge(&b);
        assert_eq!(a, all);
        let round = Sketch::from_bytes(&a.to_bytes()).unwrap();
        assert_eq!(round, all);
    }

    #[test]
    fn stored_form_is_compact_and_checked() {
        let mut s = Sketch::new();
        for i in 0..1000 {
            s.add(20.0 + f64::from(i % 580));
        }
        let bytes = s.to_bytes();
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
        assert_eq!(Sketch::from_bytes(&bytes).unwrap(), s);
        assert!(Sketch::from_bytes(&bytes[..bytes.len() - 1]).is_err());
        assert!(Sketch::from_bytes(&[9]).is_err());
        assert!(Sketch::from_bytes(&[]).is_err());
        let mut long = bytes.clone();
        long.push(0);
        assert!(Sketch::from_bytes(&long).is_err());
        assert_eq!(
            Sketch::from_bytes(&Sketch::new().to_bytes()).unwrap(),
            Sketch::new()
        );
    }

    #[test]
    fn quantiles_read_from_the_stored_form_equal_the_decoded_ones() {
        // Sketches of every shape: positive, negative, zeros, mixed, one
        // value, empty, and a span wide enough to fold.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut sketches = vec![Sketch::new()];
        for shape in 0..60u64 {
            let mut s = Sketch::new();
            let n = 1 + next() % 400;
            for _ in 0..n {
                let u = (next() % 1_000_000) as f64 / 1_000_000.0;
                let v = match shape % 5 {
                    0 => 20.0 + u * 70.0,
                    1 => -(1.0 + u * 500.0),
                    2 => {
                        if next() % 4 == 0 {
                            0.0
                        } else {
                            u * 10.0 - 3.0
                        }
                    }
                    3 => 10f64.powf(u * 40.0 - 9.0),
                    _ => 42.0,
                };
                s.add(v);
            }
            sketches.push(s);
        }
        for s in &sketches {
            let bytes = s.to_bytes();
            let decoded = Sketch::from_bytes(&bytes).unwrap();
            for k in 0..=100 {
                let q = f64::from(k) / 100.0;
                assert_eq!(
                    quantile_of_bytes(&bytes, q).unwrap(),
                    decoded.quantile(q),
                    "{s:?} q{q}"
                );
            }
            assert_eq!(quantile_of_bytes(&bytes, 1.5).unwrap(), None);
        }
        assert!(quantile_of_bytes(&[], 0.5).is_err());
        assert!(quantile_of_bytes(&[9], 0.5).is_err());
        let bytes = sketches[1].to_bytes();
        assert!(quantile_of_bytes(&bytes[..bytes.len() - 1], 0.5).is_err());
    }

    #[test]
    fn wide_ranges_stay_bounded_and_keep_the_high_quantiles() {
        let mut s = Sketch::new();
        for e in -9..300 {
            s.add(10f64.powi(e));
            s.add(10f64.powi(e) * 3.0);
        }
        assert!(s.positive.counts.len() <= MAX_BINS);
        assert_eq!(s.count(), 2 * 309);
        let top = s.quantile(1.0).unwrap();
        assert!(within(top, 3e299), "{top}");
        s.add(f64::NAN);
        s.add(f64::INFINITY);
        assert_eq!(s.count(), 2 * 309, "non-finite values are ignored");
    }
}
