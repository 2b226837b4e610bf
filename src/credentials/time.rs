//! ISO-8601 timestamps as the metadata services write `Expiration` (`2026-11-30T05:20:00Z`),
//! to and from Unix seconds, through the `x-amz-date` calendar code in [`crate::sigv4`].

use crate::sigv4::{amz_date, parse_amz_date};

/// `YYYY-MM-DD'T'HH:MM:SS[.fraction](Z|±HH:MM|±HHMM)` → Unix seconds (the fraction is
/// dropped). `None` for anything else, or before 1970.
pub fn parse_iso8601(value: &str) -> Option<u64> {
    let value = value.trim();
    let date = value.get(..10)?;
    let sep = value.get(10..11)?;
    let time = value.get(11..19)?;
    let mut zone = value.get(19..)?;
    if !matches!(sep, "T" | "t" | " ") {
        return None;
    }
    let (year, month, day) = (date.get(..4)?, date.get(5..7)?, date.get(8..10)?);
    let (hour, minute, second) = (time.get(..2)?, time.get(3..5)?, time.get(6..8)?);
    let separators = [
        date.get(4..5)?,
        date.get(7..8)?,
        time.get(2..3)?,
        time.get(5..6)?,
    ];
    if separators != ["-", "-", ":", ":"] {
        return None;
    }
    if let Some(fraction) = zone.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        zone = fraction.get(digits..)?;
    }
    let local = parse_amz_date(&format!("{year}{month}{day}T{hour}{minute}{second}Z"))?;
    let offset = zone_offset_secs(zone)?;
    local.checked_add_signed(-offset)
}

/// `Z` → 0; `+HH:MM`, `-HH:MM`, `+HHMM`, `-HHMM` → seconds east of UTC.
fn zone_offset_secs(zone: &str) -> Option<i64> {
    if zone.eq_ignore_ascii_case("z") {
        return Some(0);
    }
    let (sign, rest) = match zone.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let (hours, minutes) = match rest.len() {
        5 if rest.get(2..3) == Some(":") => (rest.get(..2)?, rest.get(3..)?),
        4 => (rest.get(..2)?, rest.get(2..)?),
        _ => return None,
    };
    if !(hours.bytes().chain(minutes.bytes())).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes): (i64, i64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ`, for log lines.
pub fn format_iso8601(unix_secs: u64) -> String {
    let basic = amz_date(unix_secs);
    match (
        basic.get(..4),
        basic.get(4..6),
        basic.get(6..8),
        basic.get(9..11),
        basic.get(11..13),
        basic.get(13..15),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            format!("{y}-{mo}-{d}T{h}:{mi}:{s}Z")
        }
        _ => basic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_the_metadata_services_write() {
        assert_eq!(parse_iso8601("2015-08-30T12:36:00Z"), Some(1_440_938_160));
        assert_eq!(
            parse_iso8601(" 2015-08-30T12:36:00Z\n"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_iso8601("2015-08-30T12:36:00.123Z"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_iso8601("2015-08-30t12:36:00z"), Some(1_440_938_160));
        assert_eq!(
            parse_iso8601("2015-08-30T14:36:00+02:00"),
            Some(1_440_938_160)
        );
        assert_eq!(
            parse_iso8601("2015-08-30T07:36:00-0500"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_iso8601("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "2015-08-30",
            "2015-08-30T12:36:00",
            "2015-08-30T12:36Z",
            "20150830T123600Z",
            "2015/08/30T12:36:00Z",
            "2015-08-30T12-36-00Z",
            "2015-02-30T12:36:00Z",
            "2015-08-30T24:00:00Z",
            "2015-08-30T12:36:00.Z",
            "2015-08-30T12:36:00+2:00",
            "2015-08-30T12:36:00+24:00",
            "2015-08-30T12:36:00Zjunk",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "２015-08-30T12:36:00Z",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn formats_for_logs() {
        assert_eq!(format_iso8601(1_440_938_160), "2015-08-30T12:36:00Z");
        assert_eq!(
            parse_iso8601(&format_iso8601(1_709_251_199)),
            Some(1_709_251_199)
        );
    }
}
