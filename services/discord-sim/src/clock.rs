//! Simulator time (§10.4): real wall-clock time plus an adjustable offset, and Discord's
//! timestamp rendering `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` (T9). Every expiry, rate-limit
//! window and rendered timestamp goes through this clock so tests can jump time.

use std::time::{SystemTime, UNIX_EPOCH};

/// Real time plus an offset that the admin API can move.
#[derive(Debug, Clone, Default)]
pub(crate) struct Clock {
    offset_ms: i64,
}

impl Clock {
    /// Milliseconds since the Unix epoch, offset applied.
    pub(crate) fn now_ms(&self) -> i64 {
        let real = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        real.saturating_add(self.offset_ms)
    }

    /// Current offset in milliseconds.
    pub(crate) fn offset_ms(&self) -> i64 {
        self.offset_ms
    }

    /// Moves simulator time forward (or backward for negative values).
    pub(crate) fn advance_ms(&mut self, ms: i64) {
        self.offset_ms = self.offset_ms.saturating_add(ms);
    }

    /// Sets simulator time to an absolute instant.
    pub(crate) fn set_ms(&mut self, target_ms: i64) {
        let now = self.now_ms();
        self.advance_ms(target_ms.saturating_sub(now));
    }
}

/// Renders epoch milliseconds as `2015-04-26T06:26:56.936000+00:00`.
pub(crate) fn format_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}+00:00",
        sod / 3600,
        (sod % 3600) / 60,
        sod % 60,
        millis * 1000
    )
}

/// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::format_ts;

    #[test]
    fn renders_discord_timestamps() {
        assert_eq!(
            format_ts(1_430_029_616_936),
            "2015-04-26T06:26:56.936000+00:00"
        );
        assert_eq!(format_ts(0), "1970-01-01T00:00:00.000000+00:00");
    }
}
