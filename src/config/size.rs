//! Byte sizes in configuration text: a non-negative integer with a unit, `B`, `KiB`, `MiB`,
//! `GiB`, `TiB` (1024-based) or `KB`, `MB`, `GB`, `TB` (1000-based); a bare integer is bytes.

/// Parses a size such as `1GiB`, `512MiB`, `10MB` or `4096`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a size: expected a number and a unit such as 512MiB or 1GB"
        ));
    }
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is too large a size"))?;
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "TiB" => 1 << 40,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        other => {
            return Err(format!(
                "{text:?}: unknown size unit {other:?} (use B, KiB, MiB, GiB, TiB, or KB, MB, GB, TB)"
            ));
        }
    };
    number
        .checked_mul(multiplier)
        .ok_or_else(|| format!("{text:?} is too large a size"))
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_in_both_unit_families() {
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert_eq!(parse_size("2 GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("7B"), Ok(7));
    }

    #[test]
    fn bad_sizes_say_what_is_wrong() {
        for (text, needle) in [
            ("1gib", "unknown size unit"),
            ("GiB", "not a size"),
            ("-1GiB", "not a size"),
            ("1.5GiB", "unknown size unit"),
            ("99999999999999999999", "too large"),
            ("20000000TiB", "too large"),
        ] {
            let error = parse_size(text).unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }
}
