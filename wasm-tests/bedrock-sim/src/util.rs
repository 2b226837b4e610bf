//! Small helpers: clock and date arithmetic, a non-cryptographic random source, request
//! IDs, percent-decoding, word counting.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch.
pub fn now_unix() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_unix_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Formats Unix milliseconds as ISO-8601 with milliseconds, `2024-11-20T09:15:02.123Z`:
/// the API model's `iso8601` timestamp format, which botocore parses.
pub fn format_iso8601_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        ms.rem_euclid(1000)
    )
}

/// Parses an ISO-8601 date-time as botocore sends timestamps in query strings
/// (`2024-11-20T09:15:02Z`, `2024-11-20T09:15:02.123456Z`, or with a `+01:00` / `+0100`
/// offset) into Unix milliseconds.
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    let (date, time) = s.split_once(['T', 't'])?;
    let dp: Vec<&str> = date.split('-').collect();
    let [y, mo, d] = dp.as_slice() else {
        return None;
    };
    let num = |t: &str, len: usize| -> Option<u32> {
        (t.len() == len && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (num(y, 4)?, num(mo, 2)?, num(d, 2)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    // Split the zone off: Z, or +hh:mm / -hh:mm / +hhmm.
    let (clock, offset_secs) = if let Some(c) = time.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else {
        let pos = time.rfind(['+', '-'])?;
        let (c, zone) = time.split_at(pos);
        let sign = if zone.starts_with('-') { -1 } else { 1 };
        let digits: String = zone.get(1..)?.chars().filter(|c| *c != ':').collect();
        let hh = num(digits.get(..2)?, 2)?;
        let mm = num(digits.get(2..)?, 2)?;
        if hh > 23 || mm > 59 {
            return None;
        }
        (c, sign * (i64::from(hh) * 3600 + i64::from(mm) * 60))
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()) => (a, f),
        Some(_) => return None,
        None => (clock, ""),
    };
    let tp: Vec<&str> = hms.split(':').collect();
    let [h, mi, se] = tp.as_slice() else {
        return None;
    };
    let (h, mi, se) = (num(h, 2)?, num(mi, 2)?, num(se, 2)?);
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let millis: i64 = frac
        .chars()
        .chain(std::iter::repeat('0'))
        .take(3)
        .collect::<String>()
        .parse()
        .ok()?;
    let secs = days_from_civil(i64::from(y), mo, d) * 86_400
        + i64::from(h) * 3600
        + i64::from(mi) * 60
        + i64::from(se)
        - offset_secs;
    Some(secs * 1000 + millis)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Parses the SigV4 `x-amz-date` form `YYYYMMDDTHHMMSSZ` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(i64::from(y), mo) {
        return None;
    }
    if h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    Some(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(se))
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Formats Unix seconds as `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

static RNG_STATE: AtomicU64 = AtomicU64::new(0x243F_6A88_85A3_08D3);

/// Mixes the clock into the random source (call once at start-up).
pub fn seed_rng() {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    RNG_STATE.fetch_xor(nanos ^ u64::from(std::process::id()), Ordering::Relaxed);
}

/// SplitMix64 finaliser: a good 64-bit mix of `x`.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A random u64 (not cryptographic; padding and IDs only).
pub fn random_u64() -> u64 {
    let s = RNG_STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
    splitmix64(s)
}

/// A random number in `lo..=hi`.
pub fn random_range(lo: usize, hi: usize) -> usize {
    if hi <= lo {
        return lo;
    }
    lo + (random_u64() % ((hi - lo + 1) as u64)) as usize
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// `n` random letters and digits.
pub fn random_alnum(n: usize) -> String {
    (0..n)
        .map(|_| {
            let i = (random_u64() % ALNUM.len() as u64) as usize;
            char::from(ALNUM.get(i).copied().unwrap_or(b'a'))
        })
        .collect()
}

/// The `"p"` padding value real Bedrock adds to event payloads: letters and digits of a
/// random length.
pub fn padding() -> String {
    random_alnum(random_range(1, 64))
}

/// A random UUID (version 4 layout), as AWS request IDs look.
pub fn uuid_v4() -> String {
    let a = random_u64();
    let b = random_u64();
    let hi = (a & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000;
    let lo = (b & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

/// Decodes `%XX` escapes (no `+` handling: path semantics). `None` on a malformed escape
/// or when the result is not UTF-8.
pub fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Number of whitespace-separated words: the simulator's token count.
pub fn word_count(s: &str) -> u64 {
    s.split_whitespace().count() as u64
}

/// Splits `text` into pieces of one word plus the whitespace after it, so that the pieces
/// concatenate back to `text` exactly (leading whitespace stays with the first piece).
pub fn word_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut seen_word = false;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            if seen_word {
                in_space = true;
            }
        } else {
            if in_space {
                if let Some(p) = text.get(start..i) {
                    pieces.push(p);
                }
                start = i;
                in_space = false;
            }
            seen_word = true;
        }
    }
    if let Some(p) = text.get(start..)
        && !p.is_empty()
    {
        pieces.push(p);
    }
    pieces
}

/// A short, single-line rendering of a JSON value for error messages.
pub fn short_json(v: &serde_json::Value) -> String {
    let s = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if s.chars().count() > 120 {
        let cut: String = s.chars().take(117).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_round_trip() {
        let t = parse_amz_date("20240229T235959Z").unwrap();
        assert_eq!(format_amz_date(t), "20240229T235959Z");
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20230229T000000Z"), None);
        assert_eq!(parse_amz_date("2024-01-01T00:00:00Z"), None);
        assert_eq!(parse_amz_date("20240101T000000"), None);
    }

    #[test]
    fn iso8601_round_trip() {
        let t = parse_iso8601_ms("2024-02-29T23:59:59.5Z").unwrap();
        assert_eq!(format_iso8601_ms(t), "2024-02-29T23:59:59.500Z");
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_iso8601_ms("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_iso8601_ms("1970-01-01T00:00:00-0130"),
            Some(5_400_000)
        );
        assert_eq!(
            parse_iso8601_ms("2024-11-20T09:15:02.123456Z"),
            Some(parse_iso8601_ms("2024-11-20T09:15:02Z").unwrap() + 123)
        );
        for bad in [
            "2024-11-20",
            "2024-11-20T09:15Z",
            "2024-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "20241120T091502Z",
            "2024-11-20T09:15:02.Z",
            "yesterday",
        ] {
            assert_eq!(parse_iso8601_ms(bad), None, "{bad}");
        }
        assert_eq!(
            format_iso8601_ms(1_732_094_102_007),
            "2024-11-20T09:15:02.007Z"
        );
    }

    #[test]
    fn pieces_concatenate() {
        let t = "You said:  hello   world ";
        let p = word_pieces(t);
        assert_eq!(p, vec!["You ", "said:  ", "hello   ", "world "]);
        assert_eq!(p.concat(), t);
        assert_eq!(word_pieces("  a b"), vec!["  a ", "b"]);
        assert!(word_pieces("").is_empty());
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%3Ab%2Fc").as_deref(), Some("a:b/c"));
        assert_eq!(percent_decode("a:b").as_deref(), Some("a:b"));
        assert_eq!(percent_decode("a%3"), None);
        assert_eq!(percent_decode("a%zz"), None);
        assert_eq!(percent_decode("%FF"), None);
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }
}
