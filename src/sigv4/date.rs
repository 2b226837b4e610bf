//! `x-amz-date` timestamps (`YYYYMMDD'T'HHMMSS'Z'`, UTC) from and to Unix seconds.
//!
//! Pure integer arithmetic on the proleptic Gregorian calendar (H. Hinnant's
//! `civil_from_days` / `days_from_civil`), restricted to 1970 and later so that
//! every quantity stays unsigned.

const SECS_PER_DAY: u64 = 86_400;
/// Days from 0000-03-01 to 1970-01-01: shifts the epoch to a March-based year.
const EPOCH_SHIFT_DAYS: u64 = 719_468;
const DAYS_PER_ERA: u64 = 146_097;

/// The last second an `x-amz-date` can express with a four-digit year: 9999-12-31T23:59:59Z.
pub const MAX_AMZ_UNIX_TIME: u64 = 253_402_300_799;

/// Formats Unix seconds as an `x-amz-date` value, e.g. `20150830T123600Z`.
///
/// Times after [`MAX_AMZ_UNIX_TIME`] print a year wider than four digits; the signer rejects them.
pub fn amz_date(unix_time_secs: u64) -> String {
    let (year, month, day) = civil_from_days(unix_time_secs / SECS_PER_DAY);
    let secs_of_day = unix_time_secs % SECS_PER_DAY;
    let (hour, minute, second) = (secs_of_day / 3600, secs_of_day / 60 % 60, secs_of_day % 60);
    format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}Z")
}

/// Parses an `x-amz-date` value back to Unix seconds. `None` unless it is a real
/// calendar time in exactly the `YYYYMMDD'T'HHMMSS'Z'` form, at or after 1970.
pub fn parse_amz_date(value: &str) -> Option<u64> {
    let bytes = <[u8; 16]>::try_from(value.as_bytes()).ok()?;
    let [
        y0,
        y1,
        y2,
        y3,
        mo0,
        mo1,
        d0,
        d1,
        b'T',
        h0,
        h1,
        mi0,
        mi1,
        s0,
        s1,
        b'Z',
    ] = bytes
    else {
        return None;
    };
    let year = digits(&[y0, y1, y2, y3])?;
    let month = digits(&[mo0, mo1])?;
    let day = digits(&[d0, d1])?;
    let (hour, minute, second) = (digits(&[h0, h1])?, digits(&[mi0, mi1])?, digits(&[s0, s1])?);
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    Some(days * SECS_PER_DAY + hour * 3600 + minute * 60 + second)
}

fn digits(ascii: &[u8]) -> Option<u64> {
    ascii.iter().try_fold(0u64, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + u64::from(b - b'0'))
    })
}

fn is_leap_year(year: u64) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// (year, month 1-12, day 1-31) of the given day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + EPOCH_SHIFT_DAYS;
    let era = z / DAYS_PER_ERA;
    let day_of_era = z % DAYS_PER_ERA;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Day count since 1970-01-01 of a valid date; `None` before 1970.
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = year.checked_sub(u64::from(month <= 2))?;
    let era = year / 400;
    let year_of_era = year % 400;
    let shifted_month = (month + 9) % 12; // 0 = March
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * DAYS_PER_ERA + day_of_era).checked_sub(EPOCH_SHIFT_DAYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDGES: &[(u64, &str)] = &[
        (0, "19700101T000000Z"),
        (59, "19700101T000059Z"),
        (86_399, "19700101T235959Z"),
        (68_169_600, "19720229T000000Z"), // first leap day after the epoch
        (951_782_400, "20000229T000000Z"), // divisible by 400: leap
        (951_868_800, "20000301T000000Z"),
        (1_440_938_160, "20150830T123600Z"), // the test-suite timestamp
        (1_709_251_199, "20240229T235959Z"),
        (1_735_689_599, "20241231T235959Z"),
        (4_107_542_399, "21000228T235959Z"), // 2100 is not a leap year ...
        (4_107_542_400, "21000301T000000Z"), // ... so March follows February 28
        (MAX_AMZ_UNIX_TIME, "99991231T235959Z"),
    ];

    #[test]
    fn formats_and_parses_edge_dates() {
        for &(secs, text) in EDGES {
            assert_eq!(amz_date(secs), text, "format {secs}");
            assert_eq!(parse_amz_date(text), Some(secs), "parse {text}");
        }
    }

    #[test]
    fn round_trips_every_day_for_three_centuries() {
        let last_day = 4_200_000_000 / SECS_PER_DAY;
        for day in 0..=last_day {
            let secs = day * SECS_PER_DAY + (day * 7919) % SECS_PER_DAY;
            assert_eq!(parse_amz_date(&amz_date(secs)), Some(secs), "day {day}");
        }
    }

    #[test]
    fn rejects_malformed_and_impossible_dates() {
        for bad in [
            "",
            "20150830T123600",
            "20150830T123600z",
            "20150830 123600Z",
            "2015083OT123600Z",
            "+0150830T123600Z",
            "20150830T123600Z ",
            "19691231T235959Z",
            "20150230T000000Z",
            "21000229T000000Z",
            "20151301T000000Z",
            "20150800T000000Z",
            "20150830T240000Z",
            "20150830T126000Z",
            "20150830T123660Z",
            "２０１５0830T1236Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad:?}");
        }
        assert_eq!(parse_amz_date("20240229T000000Z"), Some(1_709_164_800));
    }
}
