//! RFC 3339 timestamps for the wire (`2025-05-01T12:00:00Z`), from milliseconds since the Unix
//! epoch, without a date-time dependency.

/// Formats milliseconds since the epoch as an RFC 3339 UTC timestamp with whole seconds.
pub fn rfc3339(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(0..=9999).contains(&year) {
        return format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            sod % 3600 / 60,
            sod % 60
        );
    }
    // Written digit by digit: every token answer carries one, and `format!` with padding was
    // most of its cost.
    let mut out = String::with_capacity(20);
    for (n, width, then) in [
        (year, 4, '-'),
        (month, 2, '-'),
        (day, 2, 'T'),
        (sod / 3600, 2, ':'),
        (sod % 3600 / 60, 2, ':'),
        (sod % 60, 2, 'Z'),
    ] {
        for p in (0..width).rev() {
            let d = u8::try_from(n / 10_i64.pow(p) % 10).unwrap_or(0);
            out.push(char::from(b'0' + d));
        }
        out.push(then);
    }
    out
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (UTC only) into milliseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || !s.ends_with('Z')
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        s.get(r)
            .filter(|p| p.bytes().all(|c| c.is_ascii_digit()))?
            .parse::<i64>()
            .ok()
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let frac = &s[19..s.len() - 1];
    let millis = match frac.strip_prefix('.') {
        None if frac.is_empty() => 0,
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            format!("{f:0<3}")[..3].parse::<i64>().ok()?
        }
        _ => return None,
    };
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    // Howard Hinnant's days-from-civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hour * 3600 + min * 60 + sec) * 1000) + millis;
    (rfc3339(ms) == format!("{}Z", &s[..19])).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::{parse_rfc3339, rfc3339};

    #[test]
    fn parses_what_it_formats_and_nothing_else() {
        for ms in [0, 1_746_100_800_000, 951_782_400_000, -1000] {
            assert_eq!(parse_rfc3339(&rfc3339(ms)), Some(ms));
        }
        assert_eq!(
            parse_rfc3339("2025-05-01T12:00:00.250Z"),
            Some(1_746_100_800_250)
        );
        for bad in [
            "2025-02-30T00:00:00Z",
            "2025-05-01T12:00:00+02:00",
            "2025-05-01 12:00:00Z",
            "yesterday",
            "2025-05-01T12:00:00.Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_written_instant_parses_back_to_its_second() {
        // Year 1 to year 9999, in uneven steps that land on every field's edges in turn.
        let (first, last) = (-62_135_596_800_000_i64, 253_402_300_799_000_i64);
        let mut ms = first;
        while ms <= last {
            let s = rfc3339(ms);
            assert_eq!(s.len(), 20, "{s}");
            assert_eq!(parse_rfc3339(&s), Some(ms.div_euclid(1000) * 1000), "{s}");
            ms += 7_777_777_777;
        }
        assert_eq!(rfc3339(last), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(first), "0001-01-01T00:00:00Z");
        // Outside years 0–9999 the digits are not four: written the general way.
        assert_eq!(rfc3339(last + 1000), "10000-01-01T00:00:00Z");
        assert_eq!(rfc3339(-62_167_219_201_000), "-001-12-31T23:59:59Z");
    }

    #[test]
    fn known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_746_100_800_000), "2025-05-01T12:00:00Z");
        assert_eq!(rfc3339(951_782_400_999), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
    }
}
