//! Byte sizes on the command line: parsing `64MiB`, `1G`, `512k`, `1048576` (binary units,
//! as AIS's own CLI reads them) and printing sizes back in the same form.

use anyhow::bail;

/// Parses a size: a whole number with an optional unit `K`/`M`/`G`/`T`, each optionally
/// followed by `B` or `iB` (case-insensitive), all powers of 1024; or a bare `B`.
pub fn parse(arg: &str) -> anyhow::Result<u64> {
    let s = arg.trim();
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(digits_end);
    if digits.is_empty() {
        bail!("{arg:?}: a size starts with a number, e.g. 64MiB, 1G or 1048576");
    }
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => bail!("{arg:?}: unknown size unit {unit:?} (use B, KiB, MiB, GiB or TiB)"),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| anyhow::anyhow!("{arg:?}: number too large"))?;
    match n.checked_mul(1u64 << shift) {
        Some(v) => Ok(v),
        None => bail!("{arg:?}: size too large"),
    }
}

/// The largest exact binary unit: `64MiB`, `1536KiB`, `1000B`.
pub fn format(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (name, shift) in UNITS {
        if n != 0 && n.trailing_zeros() >= shift {
            return format!("{}{name}", n >> shift);
        }
    }
    format!("{n}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        // Goal: every accepted spelling maps to its power of 1024; bare numbers are bytes.
        for (arg, want) in [
            ("1048576", 1u64 << 20),
            ("64MiB", 64 << 20),
            ("64mib", 64 << 20),
            ("64M", 64 << 20),
            ("64MB", 64 << 20),
            ("1G", 1 << 30),
            ("1GiB", 1 << 30),
            ("2t", 2 << 40),
            ("512k", 512 << 10),
            ("7B", 7),
            (" 3 KiB ", 3 << 10),
            ("0", 0),
        ] {
            assert_eq!(
                parse(arg).unwrap_or_else(|e| panic!("{arg}: {e}")),
                want,
                "{arg}"
            );
        }
    }

    #[test]
    fn refuses_nonsense() {
        // Goal: missing numbers, unknown units, fractions and overflow are errors naming
        // the argument.
        for bad in [
            "",
            "MiB",
            "-1",
            "1.5G",
            "10 XB",
            "1Gibibyte",
            "99999999999999999999",
            "20000000TiB",
        ] {
            let err = parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
        }
    }

    #[test]
    fn formats_exact_units() {
        // Goal: the printed form parses back to the same number.
        for (n, want) in [
            (64u64 << 20, "64MiB"),
            (1 << 30, "1GiB"),
            (1536 << 10, "1536KiB"),
            (1000, "1000B"),
            (0, "0B"),
        ] {
            assert_eq!(format(n), want);
            assert_eq!(parse(want).expect("round trip"), n);
        }
    }
}
