//! The one parser of duration flags (`--timeout` and kin), for clap's `value_parser`.
//!
//! Accepts plain seconds ("30", "1.5") and humantime units ("30s", "500ms", "2m",
//! "1h 30m"). Zero and durations over [`MAX`] are refused, so a value from the command
//! line can be added to an `Instant` (and padded by callers) without overflow: a bad
//! value is a usage error (exit 64), never a panic.

use std::time::Duration;

/// The longest duration a flag accepts: one week (no dfkit step legitimately runs
/// longer; the bound keeps every deadline computation far from overflow).
pub const MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Parse a duration flag: "30" (seconds), "1.5", "30s", "500ms", "2m", "1h 30m".
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration (e.g. 30, 30s, 500ms, 2m)".into());
    }
    let d = if t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        // Plain seconds, as the flags always accepted. Parsed as a decimal string, not
        // f64 arithmetic, so huge values are refused rather than saturated.
        let secs: f64 = t
            .parse()
            .map_err(|_| format!("bad duration {t:?} (e.g. 30, 30s, 500ms, 2m)"))?;
        if !secs.is_finite() || secs > MAX.as_secs_f64() {
            return Err(too_long(t));
        }
        Duration::from_secs_f64(secs)
    } else {
        humantime::parse_duration(t).map_err(|e| match e {
            humantime::DurationError::NumberOverflow => too_long(t),
            e => format!("bad duration {t:?}: {e} (e.g. 30, 30s, 500ms, 2m)"),
        })?
    };
    if d.is_zero() {
        return Err(format!("duration {t:?} must be more than zero"));
    }
    if d > MAX {
        return Err(too_long(t));
    }
    Ok(d)
}

fn too_long(t: &str) -> String {
    format!(
        "duration {t:?} is too long (at most {})",
        humantime::format_duration(MAX)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_seconds_and_units() {
        assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse(" 30 "), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("7days"), Ok(MAX));
    }

    #[test]
    fn refuses_zero_huge_and_junk() {
        for bad in [
            "0",
            "0s",
            "0.0",
            "",
            "x",
            "-1",
            "1.2.3",
            "18446744073709551615",
            "18446744073709551615s",
            "99999999999999999999999999",
            "8days",
            "1e400",
            "nan",
            "inf",
        ] {
            let e = parse(bad).expect_err(bad);
            assert!(!e.is_empty(), "{bad}");
        }
        assert!(parse("18446744073709551615")
            .unwrap_err()
            .contains("too long"));
        assert!(parse("0").unwrap_err().contains("more than zero"));
    }
}
