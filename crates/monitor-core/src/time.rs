//! Timestamps: microseconds since the Unix epoch, UTC.
//!
//! Every part of the platform speaks this one type so that bucket arithmetic, storage and
//! the wire format agree. On the wire it is RFC 3339 (`2026-11-28T12:00:00.123Z`); epoch
//! milliseconds are accepted on input.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Microseconds in one millisecond.
pub const MICROS_PER_MILLI: i64 = 1_000;
/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;
/// Microseconds in one minute.
pub const MICROS_PER_MINUTE: i64 = 60 * MICROS_PER_SECOND;
/// Microseconds in one hour.
pub const MICROS_PER_HOUR: i64 = 60 * MICROS_PER_MINUTE;
/// Microseconds in one day.
pub const MICROS_PER_DAY: i64 = 24 * MICROS_PER_HOUR;

/// A point in time: microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// The earliest representable time; useful as an open lower bound.
    pub const MIN: Timestamp = Timestamp(i64::MIN);
    /// The latest representable time; useful as an open upper bound.
    pub const MAX: Timestamp = Timestamp(i64::MAX);

    /// The current wall-clock time.
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp_micros())
    }

    /// Builds a timestamp from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// Builds a timestamp from milliseconds since the epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis.saturating_mul(MICROS_PER_MILLI))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Milliseconds since the epoch (floored).
    pub const fn as_millis(self) -> i64 {
        self.0.div_euclid(MICROS_PER_MILLI)
    }

    /// Adds a signed number of microseconds, saturating at the ends of the range.
    pub const fn add_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// The start of the epoch-aligned bucket of `step` microseconds holding this time.
    /// Saturates at [`Timestamp::MIN`] instead of overflowing.
    pub const fn floor_to(self, step: i64) -> Self {
        Timestamp(self.0.saturating_sub(self.0.rem_euclid(step)))
    }

    /// Parses RFC 3339 text (fractional seconds allowed) or decimal epoch milliseconds.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            let millis: i64 = text.parse().map_err(|_| TimestampError::Unparsable)?;
            return Ok(Timestamp::from_millis(millis));
        }
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|_| TimestampError::Unparsable)?;
        Ok(Timestamp(parsed.timestamp_micros()))
    }

    /// Converts epoch milliseconds given as a JSON number (possibly fractional).
    pub fn from_millis_f64(millis: f64) -> Result<Self, TimestampError> {
        if !millis.is_finite() {
            return Err(TimestampError::Unparsable);
        }
        let micros = (millis * 1000.0).round();
        // i64 covers ±292,000 years in microseconds; anything outside is nonsense input.
        if micros.abs() > 9.0e18 {
            return Err(TimestampError::Unparsable);
        }
        #[allow(clippy::cast_possible_truncation)]
        Ok(Timestamp(micros as i64))
    }

    /// RFC 3339 in UTC with millisecond precision, or microseconds when needed.
    pub fn to_rfc3339(self) -> String {
        let Some(dt) = DateTime::<Utc>::from_timestamp_micros(self.0) else {
            return self.0.to_string();
        };
        let format = if self.0.rem_euclid(MICROS_PER_MILLI) == 0 {
            SecondsFormat::Millis
        } else {
            SecondsFormat::Micros
        };
        dt.to_rfc3339_opts(format, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Why a timestamp could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// Neither RFC 3339 nor epoch milliseconds.
    #[error("not an RFC 3339 time or epoch milliseconds")]
    Unparsable,
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Number(f64),
        }
        match Repr::deserialize(deserializer)? {
            Repr::Text(text) => Timestamp::parse(&text).map_err(serde::de::Error::custom),
            Repr::Number(millis) => Timestamp::from_millis_f64(millis).map_err(serde::de::Error::custom),
        }
    }
}

/// Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `7d` or `2w` into microseconds.
pub fn parse_duration(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.')?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let unit_micros = match unit.trim() {
        "us" | "µs" => 1.0,
        "ms" => 1e3,
        "s" => 1e6,
        "m" | "min" => 6e7,
        "h" => 3.6e9,
        "d" => 8.64e10,
        "w" => 6.048e11,
        "y" => 3.1536e13,
        _ => return None,
    };
    let micros = (number * unit_micros).round();
    if !micros.is_finite() || !(0.0..9.0e18).contains(&micros) {
        return None;
    }
    #[allow(clippy::cast_possible_truncation)]
    Some(micros as i64)
}

/// Formats microseconds as the shortest exact duration text (`90s`, `5m`, `1h`, `7d`).
pub fn format_duration(micros: i64) -> String {
    const UNITS: [(i64, &str); 5] = [
        (7 * MICROS_PER_DAY, "w"),
        (MICROS_PER_DAY, "d"),
        (MICROS_PER_HOUR, "h"),
        (MICROS_PER_MINUTE, "m"),
        (MICROS_PER_SECOND, "s"),
    ];
    for (size, unit) in UNITS {
        if micros != 0 && micros % size == 0 {
            return format!("{}{unit}", micros / size);
        }
    }
    if micros % MICROS_PER_MILLI == 0 {
        return format!("{}ms", micros / MICROS_PER_MILLI);
    }
    format!("{micros}us")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_epoch_millis() {
        let a = Timestamp::parse("2026-11-28T12:00:00.123Z").unwrap();
        let b = Timestamp::parse("1795867200123").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_rfc3339(), "2026-11-28T12:00:00.123Z");
        let c = Timestamp::parse("2026-11-28T13:00:00.123456+01:00").unwrap();
        assert_eq!(c.as_micros(), a.as_micros() + 456);
        assert_eq!(c.to_rfc3339(), "2026-11-28T12:00:00.123456Z");
        assert!(Timestamp::parse("yesterday").is_err());
        assert!(Timestamp::parse("").is_err());
    }

    #[test]
    fn floors_to_epoch_aligned_buckets() {
        let t = Timestamp::parse("2026-11-28T12:07:31Z").unwrap();
        assert_eq!(t.floor_to(5 * MICROS_PER_MINUTE), Timestamp::parse("2026-11-28T12:05:00Z").unwrap());
        assert_eq!(Timestamp(-1).floor_to(MICROS_PER_SECOND), Timestamp(-MICROS_PER_SECOND));
    }

    #[test]
    fn durations_round_trip() {
        assert_eq!(parse_duration("5m"), Some(5 * MICROS_PER_MINUTE));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000));
        assert_eq!(parse_duration("7d"), Some(7 * MICROS_PER_DAY));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("-5s"), None);
        assert_eq!(format_duration(5 * MICROS_PER_MINUTE), "5m");
        assert_eq!(format_duration(90 * MICROS_PER_SECOND), "90s");
        assert_eq!(format_duration(1500), "1500us");
    }
}
