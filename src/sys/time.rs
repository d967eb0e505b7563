//! Wall-clock time for people and for Redis scores: Unix seconds as `f64`, RFC 3339 both ways
//! (with `jiff`, which refuses hour 25 and February 30).

use jiff::Timestamp;

/// Now, in Unix seconds.
pub fn now() -> f64 {
    Timestamp::now().as_duration().as_secs_f64()
}

/// Now as RFC 3339 in UTC, to the second: `2026-11-30T21:40:07Z`.
pub fn now_rfc3339() -> String {
    Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or_else(|_| Timestamp::now())
        .to_string()
}

/// Unix seconds (`1764093600`, `@1764093600`) or RFC 3339 (`2026-11-25T18:00:00Z`,
/// `2026-11-25T19:00:00+01:00`) -> Unix seconds. Anything outside the years 1970..=9999 is
/// refused, so no time can overflow a score or park a job for ever.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let bad = |why: &str| {
        format!("'{s}' is not a time ({why}): use Unix seconds or UTC like 2026-11-25T18:00:00Z")
    };
    let t = s.trim().trim_start_matches('@');
    let ts = match t.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => {
            Timestamp::from_second(v.trunc() as i64).map_err(|_| bad("out of range"))?
        }
        Ok(_) => return Err(bad("not a finite, non-negative number")),
        Err(_) => t.parse::<Timestamp>().map_err(|e| bad(&e.to_string()))?,
    };
    let secs = ts.as_duration().as_secs_f64();
    if secs < 0.0 {
        return Err(bad("before 1970"));
    }
    let frac = t.parse::<f64>().map(f64::fract).unwrap_or(0.0);
    Ok(secs + frac)
}

/// `2026-11-25 09:30:02 UTC`.
pub fn fmt_time(unix: f64) -> String {
    match Timestamp::from_second(unix.floor() as i64) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{unix:.0} (Unix seconds, out of range)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_times() {
        assert_eq!(parse_time("2026-11-25T18:00:00Z"), Ok(1_795_629_600.0));
        assert_eq!(parse_time("2026-11-25T19:00:00+01:00"), Ok(1_795_629_600.0));
        assert_eq!(parse_time("@1795629600"), Ok(1_795_629_600.0));
        assert_eq!(parse_time("12.5"), Ok(12.5));
        assert_eq!(fmt_time(1_795_629_600.0), "2026-11-25 18:00:00 UTC");
        assert_eq!(fmt_time(0.0), "1970-01-01 00:00:00 UTC");
    }

    #[test]
    fn refuses_nonsense() {
        for bad in [
            "inf",
            "1e308",
            "-5",
            "NaN",
            "2026-02-30T00:00:00Z",
            "2026-01-01T25:61:99Z",
            "2026-01-01TNaN:00Z",
            "9223372036854775807-01-01T00:00:00Z",
            "tomorrow",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }
}
