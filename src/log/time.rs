//! Timestamps: `2026-02-26T10:00:00.000000+00:00`, the shape Python's `isoformat()` gives the
//! tutorial (RFC 3339, UTC, microseconds), and the decimal digits every log line needs.

use std::time::{SystemTime, UNIX_EPOCH};

/// Renders timestamps, remembering the last second it rendered.
///
/// The date and time of day change once a second; lines arrive far more often. A hit writes
/// the remembered `YYYY-MM-DDTHH:MM:SS` (kept as a `String`, so a hit is one copy without a
/// UTF-8 re-check) and only the microseconds anew. The logger keeps one `Clock` beside its
/// buffer; a fresh `Clock` renders from scratch, which is what [`push_timestamp`] does.
#[derive(Default)]
pub struct Clock {
    secs: u64,
    second: String,
}

impl Clock {
    /// Appends the timestamp of `time`. Times before 1970 are clamped to the epoch.
    pub fn push(&mut self, out: &mut String, time: SystemTime) {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        if secs != self.secs || self.second.is_empty() {
            self.render(secs);
        }
        out.push_str(&self.second);
        out.push('.');
        // Always six digits: three pairs, no loop.
        let us = since.subsec_micros();
        out.push_str(pair((us / 10_000) as u8));
        out.push_str(pair((us / 100 % 100) as u8));
        out.push_str(pair((us % 100) as u8));
        out.push_str("+00:00");
    }

    fn render(&mut self, secs: u64) {
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        self.secs = secs;
        self.second.clear();
        push_digits(&mut self.second, y.clamp(0, 9999) as u64, 4);
        self.second.push('-');
        push_digits(&mut self.second, u64::from(mo), 2);
        self.second.push('-');
        push_digits(&mut self.second, u64::from(d), 2);
        self.second.push('T');
        push_digits(&mut self.second, rem / 3600, 2);
        self.second.push(':');
        push_digits(&mut self.second, rem % 3600 / 60, 2);
        self.second.push(':');
        push_digits(&mut self.second, rem % 60, 2);
    }
}

/// Appends the timestamp of `time`, rendered from scratch.
pub fn push_timestamp(out: &mut String, time: SystemTime) {
    Clock::default().push(out, time);
}

/// Two decimal digits of every number below 100: one division by 100 gives two digits. A
/// `&str`, so that appending a pair is a slice copy with no UTF-8 check.
const PAIRS: &str = "0001020304050607080910111213141516171819\
                     2021222324252627282930313233343536373839\
                     4041424344454647484950515253545556575859\
                     6061626364656667686970717273747576777879\
                     8081828384858687888990919293949596979899";

fn pair(p: u8) -> &'static str {
    let i = usize::from(p) * 2;
    &PAIRS[i..i + 2]
}

/// Appends `n` in decimal, zero-padded to at least `width` digits.
///
/// Log lines call this for their numbers (the status, the duration, the bytes), so
/// it is written for the common small numbers: two digits per division, appended as pairs
/// from a `&str` table (callgrind: ~180 instructions per number when the digits went through
/// `str::from_utf8`, ~65 now).
pub fn push_digits(out: &mut String, mut n: u64, width: usize) {
    // Base-100 digits, least significant first; u64::MAX has 10.
    let mut pairs = [0u8; 10];
    let mut k = 0;
    loop {
        pairs[k] = (n % 100) as u8;
        n /= 100;
        k += 1;
        if n == 0 {
            break;
        }
    }
    let top = pairs[k - 1];
    let digits = 2 * k - usize::from(top < 10);
    for _ in digits..width {
        out.push('0');
    }
    if top < 10 {
        out.push(char::from(b'0' + top));
    } else {
        out.push_str(pair(top));
    }
    for &p in pairs[..k - 1].iter().rev() {
        out.push_str(pair(p));
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); the era-based algorithm
/// published by Howard Hinnant ("chrono-Compatible Low-Level Date Algorithms").
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let mut s = String::new();
        push_timestamp(&mut s, at(0, 0));
        assert_eq!(s, "1970-01-01T00:00:00.000000+00:00");
        s.clear();
        // 2026-02-26T10:00:00.123456Z, the tutorial's example instant.
        push_timestamp(&mut s, at(1_772_100_000, 123_456));
        assert_eq!(s, "2026-02-26T10:00:00.123456+00:00");
        s.clear();
        // Leap day.
        push_timestamp(&mut s, at(951_782_400, 7));
        assert_eq!(s, "2000-02-29T00:00:00.000007+00:00");
        s.clear();
        push_timestamp(&mut s, UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(s, "1970-01-01T00:00:00.000000+00:00");
    }

    #[test]
    fn digits_are_padded_and_never_truncated() {
        let mut s = String::new();
        for (n, width) in [
            (0, 1),
            (7, 2),
            (42, 2),
            (123, 2),
            (5, 6),
            (u64::MAX, 1),
            (9, 20),
        ] {
            push_digits(&mut s, n, width);
            s.push(' ');
        }
        assert_eq!(
            s,
            "0 07 42 123 000005 18446744073709551615 00000000000000000009 "
        );
    }

    #[test]
    fn digits_match_fmt() {
        let mut n = 1u64;
        let mut numbers = vec![0, 9, 10, 99, 100, 999_999, u64::MAX];
        while let Some(m) = n.checked_mul(7) {
            numbers.extend([n - 1, n, n + 1]);
            n = m;
        }
        for n in numbers {
            for width in [1, 2, 3, 6, 20, 22] {
                let mut s = String::from("x");
                push_digits(&mut s, n, width);
                assert_eq!(s, format!("x{n:0width$}"), "n={n} width={width}");
            }
        }
    }

    /// A remembered second gives the same text as a fresh rendering: for repeats, for the
    /// next second, for a jump back in time, and for the epoch itself (second 0, which an
    /// empty `Clock` also holds).
    #[test]
    fn a_clock_renders_like_a_fresh_one() {
        let mut clock = Clock::default();
        for (secs, us) in [
            (0, 0),
            (1_772_100_000, 1),
            (1_772_100_000, 999_999),
            (1_772_100_001, 5),
            (951_782_400, 7),
            (1_772_100_001, 0),
        ] {
            let mut cached = String::new();
            clock.push(&mut cached, at(secs, us));
            let mut fresh = String::new();
            push_timestamp(&mut fresh, at(secs, us));
            assert_eq!(cached, fresh);
        }
    }

    #[test]
    fn civil_dates_match_known_days() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(2_932_896), (9999, 12, 31));
    }
}
