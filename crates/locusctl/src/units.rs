//! Quantities as people type and read them: durations on the command line, counted nouns,
//! round-trip times and timestamps.

use std::time::Duration;

/// Parses a duration with its unit, as `--timeout` takes it: `500ms`, `5s`, `1.5s`, `1m`.
///
/// A bare number is refused rather than guessed at: `--timeout 5` could mean either unit.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit: write it as 500ms, 5s or 1m"))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration: write it as 500ms, 5s or 1m"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("unknown unit `{unit}` in `{text}`: use ms, s or m")),
    };
    // A zero deadline fails every call; a day is past any sensible wait for one answer.
    if !(seconds > 0.0 && seconds <= 86_400.0) {
        return Err(format!(
            "`{text}` is out of range: above 0 and at most a day"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `1 member`, `2 members`: a count and its noun in the right number.
pub(crate) fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// A round-trip time in microseconds, in milliseconds with one decimal.
pub(crate) fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// Milliseconds since the Unix epoch as RFC 3339 in UTC with milliseconds,
/// `2024-05-04T13:25:18.123Z`. UTC rather than local time: the static binaries run `FROM
/// scratch` with no time-zone data, and a UTC stamp sorts and compares across machines.
pub(crate) fn timestamp(unix_ms: u64) -> String {
    let seconds = date_time(unix_ms / 1000);
    format!("{}.{:03}Z", &seconds[..seconds.len() - 1], unix_ms % 1000)
}

/// Seconds since the Unix epoch as RFC 3339 in UTC, `2024-05-04T13:25:18Z`: for certificate
/// lifetimes, which have no fractions.
pub(crate) fn date_time(unix_s: u64) -> String {
    let days = (unix_s / 86_400) as i64;
    let (y, m, d) = civil_from_days(days);
    let day_secs = unix_s % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, exact for every day a `u64` of milliseconds reaches).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of the 400-year era, [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365], from 1 March
    let mp = (5 * doy + 2) / 153; // month from March, [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn durations_need_a_unit() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["5", "", "s", "5h", "0s", "-1s", "1..5s", "2d"] {
            assert!(parse_duration(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn counts_agree_with_their_noun() {
        assert_eq!(count(0, "member"), "0 members");
        assert_eq!(count(1, "member"), "1 member");
        assert_eq!(count(12, "member"), "12 members");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 23:59:59.999.
        assert_eq!(timestamp(951_868_799_999), "2000-02-29T23:59:59.999Z");
        assert_eq!(timestamp(1_714_829_118_123), "2024-05-04T13:25:18.123Z");
        // The first day of a March-based era year.
        assert_eq!(timestamp(4_107_542_400_000), "2100-03-01T00:00:00.000Z");
        assert_eq!(date_time(1_714_829_118), "2024-05-04T13:25:18Z");
    }
}
