//! Axes people can read: wall-clock time ticks on round local times
//! (`18:15:30`, with the date when the range spans days) and value ticks
//! in the metric's unit (`750 ms`, `1.5 s`, `12,000 By`). Pure functions,
//! plus the plotters coordinate that places the time ticks.

use std::ops::Range;

use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};

/// Tick steps a time axis may use, ms.
const TIME_STEPS: [i64; 20] = [
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
];

/// Time labels on an axis.
pub const TIME_TICKS: usize = 8;

const DAY_MS: i64 = 86_400_000;

/// The smallest round step giving at most `max_ticks` ticks over `span_ms`.
pub fn time_step(span_ms: i64, max_ticks: usize) -> i64 {
    let max_ticks = i64::try_from(max_ticks.max(1)).unwrap_or(i64::MAX);
    TIME_STEPS
        .iter()
        .copied()
        .find(|&s| span_ms / s < max_ticks)
        .unwrap_or(TIME_STEPS[TIME_STEPS.len() - 1])
}

/// `(year, month, day)` of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day in 1..=31 and month in 1..=12 by construction.
    (year, month as u32, day as u32)
}

/// How a time axis writes its ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeFormat {
    /// Local time = UTC + this, ms.
    pub offset_ms: i64,
    /// Seconds are shown (steps under a minute).
    pub seconds: bool,
    /// The date is shown (the range spans more than one local day).
    pub date: bool,
}

impl TimeFormat {
    /// The format for ticks every `step_ms` over `[from, to]` at UTC offset
    /// `offset_min` minutes.
    pub fn for_range(from: i64, to: i64, step_ms: i64, offset_min: i32) -> Self {
        let offset_ms = i64::from(offset_min) * 60_000;
        let day = |t: i64| (t + offset_ms).div_euclid(DAY_MS);
        Self {
            offset_ms,
            seconds: step_ms < 60_000,
            date: day(from) != day(to),
        }
    }

    /// `18:15:30`, `18:15`, `12-01 18:15` (month-day when `date`).
    pub fn format(&self, t_ms: i64) -> String {
        let local = t_ms.saturating_add(self.offset_ms);
        let secs = local.div_euclid(1000);
        let (h, m, s) = (secs.div_euclid(3600) % 24, secs.div_euclid(60) % 60, secs % 60);
        let clock = if self.seconds {
            format!("{h:02}:{m:02}:{s:02}")
        } else {
            format!("{h:02}:{m:02}")
        };
        if self.date {
            let (_, month, day) = civil_from_days(local.div_euclid(DAY_MS));
            format!("{month:02}-{day:02} {clock}")
        } else {
            clock
        }
    }
}

/// `2026-12-01 18:15:30` (for captions and readouts).
pub fn format_datetime(t_ms: i64, offset_min: i32) -> String {
    let local = t_ms.saturating_add(i64::from(offset_min) * 60_000);
    let (y, mo, d) = civil_from_days(local.div_euclid(DAY_MS));
    let secs = local.rem_euclid(DAY_MS) / 1000;
    format!(
        "{y}-{mo:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// `UTC`, `UTC+01:00`, `UTC−05:30`.
pub fn utc_offset_label(offset_min: i32) -> String {
    if offset_min == 0 {
        return "UTC".to_owned();
    }
    let sign = if offset_min < 0 { '−' } else { '+' };
    let m = offset_min.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Parses `±HH:MM` (or `Z`, `UTC`) into minutes east of UTC.
pub fn parse_utc_offset(text: &str) -> Option<i32> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("z") || text.eq_ignore_ascii_case("utc") {
        return Some(0);
    }
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 60 + m))
}

/// `12,345.5`: thousands separators, at most `decimals` decimals, trailing
/// zeros dropped.
pub fn group_thousands(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    if v < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        out.push('-');
    }
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    let frac = frac.trim_end_matches('0');
    if !frac.is_empty() {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A value in its unit for an axis or a readout: durations in ms switch to
/// seconds from 1,000 ms (`750 ms`, `1.5 s`, `50 s`); other units keep
/// theirs with thousands separators (`12,000 By`).
pub fn format_value(v: f64, unit: &str) -> String {
    let decimals = |x: f64| match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    if unit == "ms" && v.abs() >= 1000.0 {
        let s = v / 1000.0;
        return format!("{} s", group_thousands(s, decimals(s)));
    }
    let number = group_thousands(v, decimals(v));
    if unit.is_empty() || unit == "1" {
        number
    } else {
        format!("{number} {unit}")
    }
}

/// A time axis in Unix ms whose ticks fall on round local times.
#[derive(Debug, Clone, Copy)]
pub struct TimeCoord {
    from: i64,
    to: i64,
    offset_ms: i64,
}

impl TimeCoord {
    /// The axis `[from, to]` (widened to at least 1 s) at UTC offset
    /// `offset_min` minutes.
    pub fn new(from: i64, to: i64, offset_min: i32) -> Self {
        Self {
            from,
            to: to.max(from.saturating_add(1000)),
            offset_ms: i64::from(offset_min) * 60_000,
        }
    }

    /// The tick step used for `max_ticks` ticks.
    pub fn step(&self, max_ticks: usize) -> i64 {
        time_step(self.to - self.from, max_ticks)
    }

    /// Tick positions: multiples of the step in local time.
    pub fn ticks(&self, max_ticks: usize) -> Vec<i64> {
        let step = self.step(max_ticks);
        let first_local = (self.from + self.offset_ms).div_euclid(step) * step + step;
        let mut t = first_local - self.offset_ms;
        let mut out = Vec::new();
        while t <= self.to && out.len() <= max_ticks {
            if t >= self.from {
                out.push(t);
            }
            t += step;
        }
        out
    }
}

impl Ranged for TimeCoord {
    type FormatOption = NoDefaultFormatting;
    type ValueType = i64;

    fn map(&self, value: &i64, limit: (i32, i32)) -> i32 {
        let span = (self.to - self.from) as f64;
        let share = (*value - self.from) as f64 / span;
        let pixels = f64::from(limit.1 - limit.0);
        // Pixel coordinates fit in i32 for any chart size.
        limit.0 + (share * pixels).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<i64> {
        self.ticks(hint.max_num_points().min(TIME_TICKS))
    }

    fn range(&self) -> Range<i64> {
        self.from..self.to
    }
}

impl ValueFormatter<i64> for TimeCoord {
    fn format_ext(&self, value: &i64) -> String {
        let step = self.step(TIME_TICKS);
        let offset_min = i32::try_from(self.offset_ms / 60_000).unwrap_or(0);
        TimeFormat::for_range(self.from, self.to, step, offset_min).format(*value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-12-01 18:15:30 UTC.
    const T: i64 = 1_796_148_930_000;

    #[test]
    fn times_read_as_clock_times_in_the_chosen_zone() {
        let f = TimeFormat::for_range(T - 300_000, T, 30_000, 0);
        assert_eq!(f.format(T), "18:15:30");
        let f = TimeFormat::for_range(T - 300_000, T, 30_000, 60);
        assert_eq!(f.format(T), "19:15:30");
        let f = TimeFormat::for_range(T - 3_600_000, T, 600_000, -330);
        assert_eq!(f.format(T), "12:45");
        let days = TimeFormat::for_range(T - 3 * DAY_MS, T, 43_200_000, 0);
        assert_eq!(days.format(T), "12-01 18:15");
        assert_eq!(format_datetime(T, 0), "2026-12-01 18:15:30");
        assert_eq!(format_datetime(0, 0), "1970-01-01 00:00:00");
        assert_eq!(utc_offset_label(-330), "UTC−05:30");
    }

    #[test]
    fn ticks_fall_on_round_local_times() {
        let axis = TimeCoord::new(T - 900_000, T, 0);
        let ticks = axis.ticks(TIME_TICKS);
        assert_eq!(axis.step(TIME_TICKS), 120_000, "15 minutes: every 2 minutes");
        assert!(ticks.iter().all(|t| t % 120_000 == 0), "{ticks:?}");
        assert_eq!(ticks.len(), 7);
        // With a +05:30 zone the ticks are round in local time, not UTC.
        let india = TimeCoord::new(T - 3_600_000, T, 330);
        assert!(india
            .ticks(TIME_TICKS)
            .iter()
            .all(|t| (t + 330 * 60_000) % india.step(TIME_TICKS) == 0));
    }

    #[test]
    fn values_read_in_their_unit() {
        assert_eq!(format_value(750.0, "ms"), "750 ms");
        assert_eq!(format_value(50_000.0, "ms"), "50 s");
        assert_eq!(format_value(1_500.0, "ms"), "1.5 s");
        assert_eq!(format_value(2_500_000.0, "ms"), "2,500 s");
        assert_eq!(format_value(0.25, "ms"), "0.25 ms");
        assert_eq!(format_value(0.0, "ms"), "0 ms");
        assert_eq!(format_value(12_000.0, "By"), "12,000 By");
        assert_eq!(format_value(1_234_567.0, ""), "1,234,567");
        assert_eq!(group_thousands(-1234.5, 1), "-1,234.5");
    }

    #[test]
    fn utc_offsets_parse() {
        assert_eq!(parse_utc_offset("+01:00"), Some(60));
        assert_eq!(parse_utc_offset("-05:30"), Some(-330));
        assert_eq!(parse_utc_offset("Z"), Some(0));
        for bad in ["1:00", "+1:00", "+25:00", "+01:60", "", "+aa:bb"] {
            assert_eq!(parse_utc_offset(bad), None, "{bad}");
        }
    }
}
