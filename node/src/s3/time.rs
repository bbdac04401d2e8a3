//! Dates in S3's dialect: ISO 8601 with milliseconds (`2006-01-02T15:04:05.000Z`) in XML,
//! IMF-fixdate (`Last-Modified`) written without allocating, and parsing of HTTP dates
//! (`If-Modified-Since` and friends: IMF-fixdate, RFC 850, asctime).

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// `2006-01-02T15:04:05.000Z`.
pub fn iso8601(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let ms = unix_ns.rem_euclid(1_000_000_000) / 1_000_000;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// Day names by `days since 1970-01-01 mod 7` (the epoch was a Thursday).
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// An IMF-fixdate on the stack (`Sun, 06 Nov 1994 08:49:37 GMT`, 29 bytes).
pub struct HttpDate {
    buf: [u8; 29],
}

impl HttpDate {
    /// The date of `unix_ns`, whole seconds (an `i64` of ns spans the years 1677..=2262, so
    /// the year always has four digits).
    pub fn new(unix_ns: i64) -> HttpDate {
        let secs = unix_ns.div_euclid(1_000_000_000);
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        let mut buf = *b"Thu, 01 Jan 1970 00:00:00 GMT";
        buf[0..3].copy_from_slice(DAYS[days.rem_euclid(7) as usize].as_bytes());
        put2(&mut buf[5..7], d);
        buf[8..11].copy_from_slice(MONTHS[(m - 1) as usize].as_bytes());
        put2(&mut buf[12..14], y / 100);
        put2(&mut buf[14..16], y % 100);
        put2(&mut buf[17..19], rem / 3600);
        put2(&mut buf[20..22], rem % 3600 / 60);
        put2(&mut buf[23..25], rem % 60);
        HttpDate { buf }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// Two decimal digits of `v` (0..=99).
fn put2(out: &mut [u8], v: i64) {
    out[0] = b'0' + (v / 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn month(s: &str) -> Option<i64> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(s))
        .map(|i| i as i64 + 1)
}

fn hms(s: &str) -> Option<i64> {
    let mut it = s.split(':');
    let h: i64 = it.next()?.parse().ok()?;
    let m: i64 = it.next()?.parse().ok()?;
    let sec: i64 = it.next()?.parse().ok()?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some(h * 3600 + m * 60 + sec)
}

/// Unix seconds of an HTTP date in any of the three forms RFC 9110 accepts; `None` if it is
/// none of them (such a condition header is ignored, as RFC 9110 says).
pub fn parse_http_date(s: &str) -> Option<i64> {
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (y, mo, d, t) = match parts.as_slice() {
        // Sun, 06 Nov 1994 08:49:37 GMT
        [_, d, mo, y, t, "GMT"] => (y.parse().ok()?, month(mo)?, d.parse().ok()?, hms(t)?),
        // Sunday, 06-Nov-94 08:49:37 GMT
        [_, dmy, t, "GMT"] => {
            let mut it = dmy.split('-');
            let d: i64 = it.next()?.parse().ok()?;
            let mo = month(it.next()?)?;
            let y: i64 = it.next()?.parse().ok()?;
            let y = if y < 70 { 2000 + y } else { 1900 + y };
            (y, mo, d, hms(t)?)
        }
        // Sun Nov  6 08:49:37 1994
        [_, mo, d, t, y] => (y.parse().ok()?, month(mo)?, d.parse().ok()?, hms(t)?),
        _ => return None,
    };
    if !(1..=31).contains(&d) {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        // Goal: the XML date format at known instants.
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(1_709_210_096 * 1_000_000_000 + 123_456_789),
            "2024-02-29T12:34:56.123Z"
        );
    }

    #[test]
    fn http_date_on_the_stack() {
        // Goal: the same text as the AIS formatter at known instants, leap days, a weekday of
        // every kind and a negative time; parsing it back gives the same second.
        let mut instants = vec![
            0,
            784_111_777 * 1_000_000_000,
            1_709_210_096 * 1_000_000_000 + 999_999_999,
            951_782_400 * 1_000_000_000,
            -1,
            -86_400 * 1_000_000_000 * 365 * 3,
        ];
        instants.extend((0..20).map(|i| (1_700_000_000 + i * 86_400 + i * 3_671) * 1_000_000_000));
        for ns in instants {
            let d = HttpDate::new(ns);
            let s = std::str::from_utf8(d.as_bytes()).unwrap();
            assert_eq!(s, crate::ais::http_date(ns), "at {ns}");
            assert_eq!(parse_http_date(s), Some(ns.div_euclid(1_000_000_000)));
        }
        // The ends of the i64 range.
        for ns in [i64::MIN, i64::MAX] {
            let d = HttpDate::new(ns);
            assert_eq!(
                std::str::from_utf8(d.as_bytes()).unwrap(),
                crate::ais::http_date(ns)
            );
        }
    }

    #[test]
    fn http_dates_parse() {
        // Goal: the three HTTP date forms give the same instant; junk gives None.
        let t = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), Some(t));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(t));
        assert_eq!(parse_http_date("yesterday"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
    }
}
