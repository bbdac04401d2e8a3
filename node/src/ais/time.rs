//! Time formats AIS clients see: RFC 822 in listings (Go's default `time.RFC822`), HTTP dates,
//! and RFC 3339 with nanoseconds (Go's JSON `time.Time`, job start and end times).

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];

/// (year, month 1-12, day 1-31) of a count of days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    min: i64,
    sec: i64,
    weekday: usize,
}

fn parts(unix_ns: i64) -> Parts {
    let secs = unix_ns.div_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem % 3600 / 60,
        sec: rem % 60,
        weekday: days.rem_euclid(7) as usize,
    }
}

/// `02 Jan 06 15:04 UTC` (Go's RFC822 layout, in UTC).
pub fn rfc822(unix_ns: i64) -> String {
    let p = parts(unix_ns);
    format!(
        "{:02} {} {:02} {:02}:{:02} UTC",
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year.rem_euclid(100),
        p.hour,
        p.min
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 IMF-fixdate).
pub fn http_date(unix_ns: i64) -> String {
    let p = parts(unix_ns);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[p.weekday],
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.min,
        p.sec
    )
}

/// Go's zero `time.Time` in JSON: what AIS shows as the end time of a running job.
pub const ZERO_TIME_RFC3339: &str = "0001-01-01T00:00:00Z";

/// `2006-01-02T15:04:05.999999999Z` (Go's `time.RFC3339Nano` in UTC: trailing zeros of the
/// fraction dropped, no fraction when it is zero).
pub fn rfc3339_nano(unix_ns: i64) -> String {
    let p = parts(unix_ns);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.min, p.sec
    );
    let frac = unix_ns.rem_euclid(1_000_000_000);
    if frac != 0 {
        let f = format!(".{frac:09}");
        s.push_str(f.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        // Goal: both formats match known instants (epoch, RFC 9110's example, a leap day).
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(784_111_777 * 1_000_000_000),
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(
            http_date(1_709_210_096 * 1_000_000_000),
            "Thu, 29 Feb 2024 12:34:56 GMT"
        );
        assert_eq!(rfc822(1_709_210_096 * 1_000_000_000), "29 Feb 24 12:34 UTC");
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_709_210_096 * 1_000_000_000 + 120_000_000),
            "2024-02-29T12:34:56.12Z"
        );
        assert_eq!(
            rfc3339_nano(1_709_210_096 * 1_000_000_000 + 7),
            "2024-02-29T12:34:56.000000007Z"
        );
    }
}
