//! Counters in fixed calendar windows (a UTC minute, day or month), each kept in a store every
//! worker of one proxy shares and updated with compare-and-swap, so concurrent workers never
//! lose a charge.
//!
//! A counter is stored as 16 bytes: the start of its window (unix seconds) and the count, both
//! little-endian `u64`. A counter whose window has passed reads as zero, so a window resets
//! without anything deleting it (proxy-wasm's shared data has no delete and no expiry).

/// A fixed window, aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    Minute,
    Day,
    Month,
}

/// Where a window stands at an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The window's start, unix seconds.
    pub start: u64,
    /// Seconds until the next window starts (at least 1).
    pub resets_in: u64,
}

const DAY: u64 = 86_400;

impl Window {
    /// The window that holds `now` (unix seconds).
    pub fn span(self, now: u64) -> Span {
        let (start, end) = match self {
            Window::Minute => {
                let start = now - now % 60;
                (start, start + 60)
            }
            Window::Day => {
                let start = now - now % DAY;
                (start, start + DAY)
            }
            Window::Month => {
                let (y, m, _) = civil_from_days(now / DAY);
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                (
                    days_from_civil(y, m, 1) * DAY,
                    days_from_civil(ny, nm, 1) * DAY,
                )
            }
        };
        Span {
            start,
            resets_in: end.saturating_sub(now).max(1),
        }
    }
}

/// The date (year, month 1–12, day 1–31) of a day counted from 1970-01-01 (proleptic
/// Gregorian calendar; Howard Hinnant's algorithm, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days from 1970-01-01 to the date (on or after the epoch).
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

/// What a shared store answers a write whose compare-and-swap token is stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// Another worker wrote the key since it was read.
    CasMismatch,
    /// The store refused or is missing (a host without shared data).
    Unavailable,
}

/// A key-value store every worker shares, with compare-and-swap (proxy-wasm shared data).
pub trait SharedStore {
    /// The value and its compare-and-swap token, `None` when the key was never written.
    fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError>;
    /// Write `value` if the key is still at `cas`; `None` writes whatever is there (what
    /// proxy-wasm does for a key that does not exist yet, whatever the token).
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError>;
}

/// Create a counter that does not exist yet. Two workers creating the same key at once could
/// each write it (a missing key takes any write), so counters are created once, when the
/// configuration loads, and every charge after that is a compare-and-swap.
pub fn init(store: &mut dyn SharedStore, key: &str) -> Result<(), StoreError> {
    match store.get(key)? {
        Some(_) => Ok(()),
        None => store.set(key, &encode(0, 0), None),
    }
}

/// How often a charge is retried when other workers keep writing the same counter.
const CAS_ATTEMPTS: usize = 16;

/// A counter's value in the window that holds `now`.
pub fn read(
    store: &mut dyn SharedStore,
    key: &str,
    window: Window,
    now: u64,
) -> Result<u64, StoreError> {
    let span = window.span(now);
    Ok(store
        .get(key)?
        .map_or(0, |(value, _)| count_in(&value, span.start)))
}

/// What a capped charge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charge {
    /// Counted; the counter's new value.
    Added(u64),
    /// Not counted: it would have passed the cap. The counter's value as it stands.
    Over(u64),
}

/// Add `amount` to a counter in the window that holds `now`, and return its new value. A
/// write another worker made in between is read again and the addition retried, so no charge
/// is lost; a counter from an earlier window starts again from zero.
pub fn add(
    store: &mut dyn SharedStore,
    key: &str,
    window: Window,
    now: u64,
    amount: u64,
) -> Result<u64, StoreError> {
    match update(store, key, window, now, |count| {
        Some(count.saturating_add(amount))
    })? {
        Charge::Added(total) | Charge::Over(total) => Ok(total),
    }
}

/// Add `amount` unless the counter would pass `cap`: a check and a charge in one
/// compare-and-swap, so workers admitting at once never take the count past the cap.
pub fn add_within(
    store: &mut dyn SharedStore,
    key: &str,
    window: Window,
    now: u64,
    amount: u64,
    cap: u64,
) -> Result<Charge, StoreError> {
    update(store, key, window, now, |count| {
        count.checked_add(amount).filter(|total| *total <= cap)
    })
}

/// Take back `amount` charged in the window that holds `now` (never below zero).
pub fn refund(
    store: &mut dyn SharedStore,
    key: &str,
    window: Window,
    now: u64,
    amount: u64,
) -> Result<u64, StoreError> {
    match update(store, key, window, now, |count| {
        Some(count.saturating_sub(amount))
    })? {
        Charge::Added(total) | Charge::Over(total) => Ok(total),
    }
}

/// Read, compute the next count (`None`: leave it), write with compare-and-swap; retried when
/// another worker wrote in between.
fn update(
    store: &mut dyn SharedStore,
    key: &str,
    window: Window,
    now: u64,
    next: impl Fn(u64) -> Option<u64>,
) -> Result<Charge, StoreError> {
    let span = window.span(now);
    for _ in 0..CAS_ATTEMPTS {
        let (count, cas) = match store.get(key)? {
            Some((value, cas)) => (count_in(&value, span.start), Some(cas)),
            None => (0, None),
        };
        let Some(total) = next(count) else {
            return Ok(Charge::Over(count));
        };
        match store.set(key, &encode(span.start, total), cas) {
            Ok(()) => return Ok(Charge::Added(total)),
            Err(StoreError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::CasMismatch)
}

/// The count a stored value holds for the window starting at `start`: zero for another
/// window or a value this module did not write.
fn count_in(value: &[u8], start: u64) -> u64 {
    let word = |i: usize| {
        value
            .get(i..i + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    match (word(0), word(8)) {
        (Some(s), Some(count)) if s == start && value.len() == 16 => count,
        _ => 0,
    }
}

fn encode(start: u64, count: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&start.to_le_bytes());
    out[8..].copy_from_slice(&count.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Memory {
        map: HashMap<String, (Vec<u8>, u32)>,
        /// Writes that another worker makes right after the next reads.
        interleaved: Vec<u64>,
    }

    impl SharedStore for Memory {
        fn get(&mut self, key: &str) -> Result<Option<(Vec<u8>, u32)>, StoreError> {
            Ok(self.map.get(key).cloned())
        }

        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), StoreError> {
            if let Some(other) = self.interleaved.pop() {
                // Another worker charged `other` between this worker's read and write.
                let entry = self.map.entry(key.to_string()).or_insert((vec![], 0));
                let start = u64::from_le_bytes(value[..8].try_into().unwrap());
                entry.0 = encode(start, count_in(&entry.0, start) + other).to_vec();
                entry.1 += 1;
            }
            let current = self.map.get(key).map(|(_, c)| *c);
            if cas.is_some() && cas != current {
                return Err(StoreError::CasMismatch);
            }
            let next = current.unwrap_or(0) + 1;
            self.map.insert(key.to_string(), (value.to_vec(), next));
            Ok(())
        }
    }

    // 2024-02-29T23:59:30Z, a leap day.
    const LEAP: u64 = 1_709_251_170;

    #[test]
    fn windows_follow_the_utc_calendar() {
        assert_eq!(
            Window::Minute.span(LEAP),
            Span {
                start: LEAP - 30,
                resets_in: 30
            }
        );
        assert_eq!(
            Window::Day.span(LEAP),
            Span {
                start: LEAP - 86_370,
                resets_in: 30
            }
        );
        // February 2024 has 29 days: the month began 28 days and a day's worth before.
        let feb1 = days_from_civil(2024, 2, 1) * DAY;
        assert_eq!(feb1, 1_706_745_600);
        assert_eq!(
            Window::Month.span(LEAP),
            Span {
                start: feb1,
                resets_in: 30
            }
        );
        // December rolls over into January of the next year.
        let dec31 = days_from_civil(2025, 12, 31) * DAY + 3_600;
        let span = Window::Month.span(dec31);
        assert_eq!(span.start, days_from_civil(2025, 12, 1) * DAY);
        assert_eq!(span.resets_in, 23 * 3_600);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        for days in [0, 59, 365, 10_957, 19_782, 20_454, 47_482] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn counts_add_up_within_a_window_and_start_over_in_the_next() {
        let mut store = Memory::default();
        assert_eq!(read(&mut store, "k", Window::Minute, LEAP), Ok(0));
        assert_eq!(add(&mut store, "k", Window::Minute, LEAP, 5), Ok(5));
        assert_eq!(add(&mut store, "k", Window::Minute, LEAP + 20, 7), Ok(12));
        assert_eq!(read(&mut store, "k", Window::Minute, LEAP + 29), Ok(12));
        // The next minute: the old count is gone without anything deleting it.
        assert_eq!(read(&mut store, "k", Window::Minute, LEAP + 30), Ok(0));
        assert_eq!(add(&mut store, "k", Window::Minute, LEAP + 31, 1), Ok(1));
    }

    #[test]
    fn a_concurrent_charge_is_never_lost() {
        let mut store = Memory::default();
        add(&mut store, "k", Window::Day, LEAP, 10).unwrap();
        // Two other workers write between this worker's read and its write, twice over.
        store.interleaved = vec![3, 4];
        assert_eq!(add(&mut store, "k", Window::Day, LEAP, 5), Ok(22));
        assert_eq!(read(&mut store, "k", Window::Day, LEAP), Ok(22));
    }

    #[test]
    fn a_counter_that_keeps_changing_gives_up_rather_than_spinning() {
        let mut store = Memory::default();
        add(&mut store, "k", Window::Day, LEAP, 1).unwrap();
        store.interleaved = vec![1; CAS_ATTEMPTS];
        assert_eq!(
            add(&mut store, "k", Window::Day, LEAP, 1),
            Err(StoreError::CasMismatch)
        );
    }

    #[test]
    fn foreign_or_short_values_read_as_zero() {
        assert_eq!(count_in(b"", 0), 0);
        assert_eq!(count_in(&[1; 15], 0), 0);
        assert_eq!(count_in(&[0; 17], 0), 0);
        assert_eq!(count_in(&encode(60, 9), 60), 9);
        assert_eq!(count_in(&encode(60, 9), 120), 0);
    }

    #[test]
    fn init_creates_once_and_keeps_what_is_counted() {
        let mut store = Memory::default();
        init(&mut store, "k").unwrap();
        assert_eq!(read(&mut store, "k", Window::Minute, LEAP), Ok(0));
        add(&mut store, "k", Window::Minute, LEAP, 4).unwrap();
        init(&mut store, "k").unwrap();
        assert_eq!(read(&mut store, "k", Window::Minute, LEAP), Ok(4));
    }

    #[test]
    fn a_capped_charge_never_passes_its_cap_and_a_refund_gives_back() {
        let mut store = Memory::default();
        init(&mut store, "k").unwrap();
        for want in 1..=3 {
            assert_eq!(
                add_within(&mut store, "k", Window::Minute, LEAP, 1, 3),
                Ok(Charge::Added(want))
            );
        }
        assert_eq!(
            add_within(&mut store, "k", Window::Minute, LEAP, 1, 3),
            Ok(Charge::Over(3))
        );
        // Another worker charges between this worker's read and write: the cap still holds.
        assert_eq!(refund(&mut store, "k", Window::Minute, LEAP, 2), Ok(1));
        store.interleaved = vec![1];
        assert_eq!(
            add_within(&mut store, "k", Window::Minute, LEAP, 2, 3),
            Ok(Charge::Over(2))
        );
        assert_eq!(refund(&mut store, "k", Window::Minute, LEAP, 9), Ok(0));
        // The next window starts from zero.
        assert_eq!(
            add_within(&mut store, "k", Window::Minute, LEAP + 30, 3, 3),
            Ok(Charge::Added(3))
        );
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut store = Memory::default();
        add(&mut store, "k", Window::Month, LEAP, u64::MAX - 1).unwrap();
        assert_eq!(add(&mut store, "k", Window::Month, LEAP, 5), Ok(u64::MAX));
    }
}
