//! Duration strings as definitions write them: "30s", "15m", "4h", "2d",
//! "1h 30m", or a bare number of seconds.

use std::time::Duration;

/// Longest step timeout or delay: a year and a day. Longer waits are almost
/// always unit mistakes, and a bounded value keeps due-time arithmetic far
/// from overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 24 * 60 * 60);

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number of seconds nor a humantime duration.
    #[error("'{text}' is not a duration; write e.g. \"30s\", \"15m\", \"4h\", \"2d\" or a number of seconds")]
    Unreadable {
        /// The offending text, shortened.
        text: String,
    },
    /// Zero length.
    #[error("'{text}' is zero; a timeout must be longer than that")]
    Zero {
        /// The offending text, shortened.
        text: String,
    },
    /// Longer than [`MAX_DURATION`].
    #[error("'{text}' is longer than the limit of 366 days")]
    TooLong {
        /// The offending text, shortened.
        text: String,
    },
}

/// Parses a non-zero duration of at most [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let shown = || super::path::shorten(text);
    let parsed = if !trimmed.is_empty() && trimmed.bytes().all(|b| b.is_ascii_digit()) {
        trimmed.parse::<u64>().ok().map(Duration::from_secs)
    } else {
        humantime::parse_duration(trimmed).ok()
    };
    match parsed {
        None => Err(DurationError::Unreadable { text: shown() }),
        Some(d) if d.is_zero() => Err(DurationError::Zero { text: shown() }),
        Some(d) if d > MAX_DURATION => Err(DurationError::TooLong { text: shown() }),
        Some(d) => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_forms_parse() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("4h"), Ok(Duration::from_secs(4 * 3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(2 * 86_400)));
        assert_eq!(parse_duration("48h"), Ok(Duration::from_secs(48 * 3600)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn nonsense_zero_and_huge_durations_are_refused() {
        assert!(matches!(parse_duration("soon"), Err(DurationError::Unreadable { .. })));
        assert!(matches!(parse_duration(""), Err(DurationError::Unreadable { .. })));
        assert!(matches!(parse_duration("-5s"), Err(DurationError::Unreadable { .. })));
        assert!(matches!(parse_duration("0"), Err(DurationError::Zero { .. })));
        assert!(matches!(parse_duration("0s"), Err(DurationError::Zero { .. })));
        assert!(matches!(parse_duration("400d"), Err(DurationError::TooLong { .. })));
        assert!(matches!(parse_duration("99999999999999999999999"), Err(DurationError::Unreadable { .. })));
    }
}
