//! Time expressions shared by the HTTP API and the dashboard URL:
//! Unix epoch ms, `now`, or `now-<n><unit>` (Grafana style, e.g. `now-15m`).

/// Parses `text` relative to `now` (Unix ms): epoch ms, `now`, or
/// `now-<n><unit>` with unit `ms`, `s`, `m`, `h` or `d`. `None` if it is
/// none of these.
pub fn parse_time(text: &str, now: i64) -> Option<i64> {
    let t = text.trim();
    if t == "now" {
        return Some(now);
    }
    if let Some(rest) = t.strip_prefix("now-") {
        return Some(now - parse_span_ms(rest)?);
    }
    t.parse().ok()
}

/// Parses a span like `15m`, `500ms`, `1h` or `2d` into ms.
pub fn parse_span_ms(text: &str) -> Option<i64> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = text.split_at(split);
    let n: i64 = n.parse().ok()?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_absolute_and_bad_times() {
        assert_eq!(parse_time("now", 100_000), Some(100_000));
        assert_eq!(parse_time("now-15m", 1_000_000), Some(100_000));
        assert_eq!(parse_time(" now-500ms ", 1_000), Some(500));
        assert_eq!(parse_time("1764072000000", 0), Some(1_764_072_000_000));
        for bad in [
            "now-15",
            "now-m",
            "now-1w",
            "yesterday",
            "",
            "now-99999999999999999999d",
        ] {
            assert_eq!(parse_time(bad, 0), None, "{bad}");
        }
        assert_eq!(parse_span_ms("2d"), Some(172_800_000));
    }
}
