//! Counters in fixed calendar windows (a UTC minute, day or month), kept in a store every
//! worker of one proxy shares and updated with compare-and-swap, so concurrent workers never
//! lose a charge.
//!
//! Counters that are checked and charged together live in one record under one key, so a
//! request costs one read (and one write) of the store however many limits hold it: each host
//! call to the proxy's shared data takes a lock and copies the value across the VM boundary.
//! A record is a list of slots, each 16 bytes: the start of the slot's window (unix seconds)
//! and its count, both little-endian `u64`. A slot whose window has passed reads as zero, so a
//! window resets without anything deleting it (proxy-wasm's shared data has no delete and no
//! expiry).

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

/// Create a record that does not exist yet. proxy-wasm has no "create if absent": a missing
/// key takes any write, whatever the compare-and-swap token, so two workers creating one key
/// could each write it and a charge made in between would be lost. Records are therefore
/// created when the configuration loads, before requests are charged, which leaves that window
/// only while workers start; every charge after that is a compare-and-swap.
pub fn init(store: &mut dyn SharedStore, key: &str, slots: usize) -> Result<(), StoreError> {
    match store.get(key)? {
        Some(_) => Ok(()),
        None => store.set(key, &vec![0; slots.saturating_mul(SLOT)], None),
    }
}

/// Bytes per slot: window start and count.
const SLOT: usize = 16;

/// How often an update is retried when other workers keep writing the same record.
const CAS_ATTEMPTS: usize = 16;

/// The counts of a record's slots (one per window of `windows`) in the windows that hold `now`.
pub fn read(
    store: &mut dyn SharedStore,
    key: &str,
    windows: &[Window],
    now: u64,
) -> Result<Vec<u64>, StoreError> {
    let value = store.get(key)?;
    Ok(counts(
        value.as_ref().map(|(v, _)| v.as_slice()),
        windows,
        now,
    ))
}

/// Read a record's counts, let `change` update them, and write them back with
/// compare-and-swap; `change` answers `false` to leave the record as it is (a check that
/// refused, or nothing to add). A write another worker made in between is read again and
/// `change` called again on the new counts, so no update is lost. Returns the counts as
/// written (or as read, when nothing was written).
pub fn update(
    store: &mut dyn SharedStore,
    key: &str,
    windows: &[Window],
    now: u64,
    mut change: impl FnMut(&mut [u64]) -> bool,
) -> Result<Vec<u64>, StoreError> {
    for _ in 0..CAS_ATTEMPTS {
        let value = store.get(key)?;
        let cas = value.as_ref().map(|(_, cas)| *cas);
        let mut counts = counts(value.as_ref().map(|(v, _)| v.as_slice()), windows, now);
        if !change(&mut counts) {
            return Ok(counts);
        }
        match store.set(key, &encode(windows, now, &counts), cas) {
            Ok(()) => return Ok(counts),
            Err(StoreError::CasMismatch) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::CasMismatch)
}

/// The count of each slot in the window that holds `now`: zero for a slot of another window,
/// past the end of the value, or a value this module did not write.
fn counts(value: Option<&[u8]>, windows: &[Window], now: u64) -> Vec<u64> {
    let value = value.unwrap_or_default();
    let word = |at: usize| {
        value
            .get(at..at.saturating_add(8))
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_le_bytes)
    };
    let whole = value.len() == windows.len().saturating_mul(SLOT);
    windows
        .iter()
        .enumerate()
        .map(|(i, w)| {
            let at = i.saturating_mul(SLOT);
            match (whole, word(at), word(at.saturating_add(8))) {
                (true, Some(start), Some(count)) if start == w.span(now).start => count,
                _ => 0,
            }
        })
        .collect()
}

fn encode(windows: &[Window], now: u64, counts: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(windows.len().saturating_mul(SLOT));
    for (w, count) in windows.iter().zip(counts) {
        out.extend_from_slice(&w.span(now).start.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Memory {
        map: HashMap<String, (Vec<u8>, u32)>,
        /// Another worker's additions to slot 0, made right after this worker's next reads.
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
                let mut bytes = value.to_vec();
                let count = u64::from_le_bytes(entry.0[8..16].try_into().unwrap());
                bytes[8..16].copy_from_slice(&(count + other).to_le_bytes());
                entry.0 = bytes;
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
    const MINUTE_DAY: [Window; 2] = [Window::Minute, Window::Day];

    fn add(store: &mut Memory, now: u64, amounts: [u64; 2]) -> Vec<u64> {
        update(store, "k", &MINUTE_DAY, now, |c| {
            for (count, amount) in c.iter_mut().zip(amounts) {
                *count = count.saturating_add(amount);
            }
            true
        })
        .unwrap()
    }

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
    fn each_slot_counts_in_its_own_window() {
        let mut store = Memory::default();
        init(&mut store, "k", 2).unwrap();
        assert_eq!(read(&mut store, "k", &MINUTE_DAY, LEAP), Ok(vec![0, 0]));
        assert_eq!(add(&mut store, LEAP, [5, 5]), [5, 5]);
        assert_eq!(add(&mut store, LEAP + 20, [7, 7]), [12, 12]);
        assert_eq!(
            read(&mut store, "k", &MINUTE_DAY, LEAP + 29),
            Ok(vec![12, 12])
        );
        // 30 s later a new minute and a new day begin: both start over, without anything
        // deleting them; a minute later only the minute does.
        assert_eq!(
            read(&mut store, "k", &MINUTE_DAY, LEAP + 30),
            Ok(vec![0, 0])
        );
        assert_eq!(add(&mut store, LEAP + 31, [1, 1]), [1, 1]);
        assert_eq!(add(&mut store, LEAP + 95, [1, 1]), [1, 2]);
    }

    #[test]
    fn a_concurrent_charge_is_never_lost() {
        let mut store = Memory::default();
        init(&mut store, "k", 2).unwrap();
        add(&mut store, LEAP, [10, 0]);
        // Two other workers write between this worker's read and its write, twice over.
        store.interleaved = vec![3, 4];
        assert_eq!(add(&mut store, LEAP, [5, 0]), [22, 0]);
        assert_eq!(read(&mut store, "k", &MINUTE_DAY, LEAP), Ok(vec![22, 0]));
    }

    #[test]
    fn a_check_that_refuses_writes_nothing_and_a_cap_holds_under_conflict() {
        let mut store = Memory::default();
        init(&mut store, "k", 2).unwrap();
        let capped = |store: &mut Memory, amount: u64| {
            let mut over = false;
            let counts = update(store, "k", &MINUTE_DAY, LEAP, |c| {
                over = c[0] + amount > 3;
                if !over {
                    c[0] += amount;
                }
                !over
            })
            .unwrap();
            (over, counts[0])
        };
        assert_eq!(capped(&mut store, 2), (false, 2));
        // Another worker takes one between this worker's read and write: read again, over.
        store.interleaved = vec![1];
        assert_eq!(capped(&mut store, 1), (true, 3));
        let writes = store.map["k"].1;
        assert_eq!(capped(&mut store, 1), (true, 3));
        assert_eq!(store.map["k"].1, writes, "a refusal writes nothing");
    }

    #[test]
    fn a_record_that_keeps_changing_gives_up_rather_than_spinning() {
        let mut store = Memory::default();
        init(&mut store, "k", 2).unwrap();
        store.interleaved = vec![1; CAS_ATTEMPTS];
        let result = update(&mut store, "k", &MINUTE_DAY, LEAP, |c| {
            c[0] += 1;
            true
        });
        assert_eq!(result, Err(StoreError::CasMismatch));
    }

    #[test]
    fn foreign_or_short_values_read_as_zero() {
        let span = Window::Minute.span(LEAP).start;
        let one = |count: u64| {
            let mut v = span.to_le_bytes().to_vec();
            v.extend(count.to_le_bytes());
            v
        };
        assert_eq!(counts(None, &[Window::Minute], LEAP), [0]);
        assert_eq!(counts(Some(b""), &[Window::Minute], LEAP), [0]);
        assert_eq!(counts(Some(&[1; 15]), &[Window::Minute], LEAP), [0]);
        assert_eq!(counts(Some(&one(9)), &[Window::Minute], LEAP), [9]);
        // A record of another shape (an older layout) is not read as this one.
        assert_eq!(counts(Some(&one(9)), &MINUTE_DAY, LEAP), [0, 0]);
        assert_eq!(counts(Some(&one(9)), &[Window::Minute], LEAP + 60), [0]);
    }

    #[test]
    fn init_creates_once_and_keeps_what_is_counted() {
        let mut store = Memory::default();
        init(&mut store, "k", 2).unwrap();
        assert_eq!(store.map["k"].0.len(), 32);
        add(&mut store, LEAP, [4, 4]);
        init(&mut store, "k", 2).unwrap();
        assert_eq!(read(&mut store, "k", &MINUTE_DAY, LEAP), Ok(vec![4, 4]));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let mut store = Memory::default();
        add(&mut store, LEAP, [u64::MAX - 1, 0]);
        assert_eq!(add(&mut store, LEAP, [5, 0]), [u64::MAX, 0]);
    }
}
