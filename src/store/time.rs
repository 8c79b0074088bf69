//! UTC timestamps for the event log, as RFC 3339 text (`2026-12-02T15:04:05.123Z`), which sorts
//! as it reads and needs no time-zone library.

use std::time::{SystemTime, UNIX_EPOCH};

/// Now, in UTC, to the millisecond.
pub fn utc_now() -> String {
    // A clock before 1970 is a broken clock; the log still gets a well-formed time.
    let millis = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    format_utc_millis(millis as i64)
}

/// Milliseconds since the Unix epoch as RFC 3339 UTC.
pub fn format_utc_millis(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let ms = millis.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let of_day = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        of_day / 3600,
        (of_day % 3600) / 60,
        of_day % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(format_utc_millis(0), "1970-01-01T00:00:00.000Z");
        // 2000-02-29 (a leap day of a century leap year) 12:34:56.789
        assert_eq!(format_utc_millis(951_827_696_789), "2000-02-29T12:34:56.789Z");
        assert_eq!(format_utc_millis(1_798_761_599_999), "2026-12-31T23:59:59.999Z");
        assert_eq!(format_utc_millis(-1), "1969-12-31T23:59:59.999Z");
        assert!(utc_now().ends_with('Z'));
    }
}
