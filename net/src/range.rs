//! `Range: bytes=...` parsing for GET (RFC 9110 §14), limited to the single range AIS serves.
//!
//! AIS answers 416 to a multi-range request, to a malformed range and to an unsatisfiable one,
//! so the node maps every [`RangeError`] to 416; the variants exist for messages and tests.

use thiserror::Error;

/// Why a `Range` header cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RangeError {
    /// Not a `bytes=` range in valid syntax.
    #[error("malformed range")]
    Malformed,
    /// More than one range was asked for; AIS serves only one.
    #[error("multi-range read is not supported")]
    MultiRange,
    /// The range lies wholly outside the object.
    #[error("range not satisfiable")]
    Unsatisfiable,
}

/// Parses a single-range `Range` value against an object of `size` bytes.
///
/// Accepts `bytes=S-E`, `bytes=S-` and `bytes=-N` (the last N bytes; `-0` is unsatisfiable).
/// Returns the inclusive `(start, end)`. An end past the object is clamped to `size - 1`; a
/// start at or past `size`, and any range of an empty object, is `Unsatisfiable`.
pub fn parse_range(value: &str, size: u64) -> Result<(u64, u64), RangeError> {
    let (unit, set) = value.trim().split_once('=').ok_or(RangeError::Malformed)?;
    if !unit.trim_end().eq_ignore_ascii_case("bytes") {
        return Err(RangeError::Malformed);
    }
    // The range set is a comma list whose empty elements do not count (RFC 9110 §5.6.1).
    let mut specs = set.split(',').map(str::trim).filter(|s| !s.is_empty());
    let spec = specs.next().ok_or(RangeError::Malformed)?;
    if specs.next().is_some() {
        return Err(RangeError::MultiRange);
    }
    let (first, last) = spec.split_once('-').ok_or(RangeError::Malformed)?;

    let (start, end) = if first.is_empty() {
        let suffix = parse_digits(last)?;
        if suffix == 0 || size == 0 {
            return Err(RangeError::Unsatisfiable);
        }
        (size.saturating_sub(suffix), size - 1)
    } else {
        let start = parse_digits(first)?;
        let end = if last.is_empty() {
            u64::MAX
        } else {
            parse_digits(last)?
        };
        if end < start {
            return Err(RangeError::Malformed);
        }
        if start >= size {
            return Err(RangeError::Unsatisfiable);
        }
        (start, end.min(size - 1))
    };
    assert!(start <= end);
    assert!(end < size);
    Ok((start, end))
}

/// `1*DIGIT`. Positions too large for a `u64` saturate: they lie past any object, and the
/// clamping rules then give the right answer.
fn parse_digits(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    Ok(s.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, size: u64, want: Result<(u64, u64), RangeError>) {
        assert_eq!(parse_range(value, size), want, "{value:?} size {size}");
    }

    #[test]
    fn satisfiable() {
        // Goal: the three forms, clamping, and RFC whitespace/case tolerance.
        check("bytes=0-99", 1000, Ok((0, 99)));
        check("bytes=0-0", 1, Ok((0, 0)));
        check("bytes=10-", 100, Ok((10, 99)));
        check("bytes=-1", 100, Ok((99, 99)));
        check("bytes=-100", 100, Ok((0, 99)));
        check("bytes=-500", 100, Ok((0, 99)));
        check("bytes=50-5000", 100, Ok((50, 99)));
        check("bytes=99-99", 100, Ok((99, 99)));
        check("bytes=0-99999999999999999999999", 100, Ok((0, 99)));
        check("bytes=-99999999999999999999999", 100, Ok((0, 99)));
        check("Bytes=1-2", 10, Ok((1, 2)));
        check(" bytes = 1-2 ", 10, Ok((1, 2)));
        check("bytes=1-2,", 10, Ok((1, 2)));
        check("bytes=0-", u64::MAX, Ok((0, u64::MAX - 1)));
    }

    #[test]
    fn unsatisfiable() {
        // Goal: starts past the end, empty suffixes and empty objects are 416-unsatisfiable.
        check("bytes=100-", 100, Err(RangeError::Unsatisfiable));
        check("bytes=100-200", 100, Err(RangeError::Unsatisfiable));
        check("bytes=-0", 100, Err(RangeError::Unsatisfiable));
        check("bytes=0-0", 0, Err(RangeError::Unsatisfiable));
        check("bytes=-5", 0, Err(RangeError::Unsatisfiable));
        check(
            "bytes=99999999999999999999-",
            100,
            Err(RangeError::Unsatisfiable),
        );
    }

    #[test]
    fn multi_range() {
        // Goal: a second range is refused even if the first is fine.
        check("bytes=0-1,5-6", 100, Err(RangeError::MultiRange));
        check("bytes=0-1, -5", 100, Err(RangeError::MultiRange));
    }

    #[test]
    fn malformed() {
        // Goal: anything outside `bytes=S-E | S- | -N` is malformed.
        for bad in [
            "",
            "bytes",
            "bytes=",
            "bytes=,",
            "bytes=-",
            "bytes=5",
            "bytes=5-3",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=1-+2",
            "bytes=1 - 2",
            "bytes=0x1-2",
            "items=0-1",
            "bytes=--1",
            "bytes=1-2-3",
            "=0-1",
        ] {
            check(bad, 100, Err(RangeError::Malformed));
        }
    }
}
