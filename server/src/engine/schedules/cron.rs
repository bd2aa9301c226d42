//! Cron math of schedules: parsing an expression in a time zone, and the
//! ticks it gives, as ms since the epoch.
//!
//! `croner` reads the expression (5 fields, or 6 with leading seconds, or
//! an `@daily`-style nickname); `chrono-tz` gives the zone. The search
//! runs on the zone's wall clock with no zone at all (croner sees a UTC
//! clock, which never jumps), and this module turns each wall-clock match
//! into an instant by one rule, so daylight-saving changes behave the same
//! whatever croner's own choices are:
//!
//! - a wall-clock time the clock skips (02:30 on a spring-forward night)
//!   fires once, at the first instant after the gap (03:00 new time); any
//!   other ticks inside the same gap fold into that one fire;
//! - a wall-clock time that occurs twice (01:30 on a fall-back night)
//!   fires once, at its first occurrence; a tick of the repeated hour is
//!   not fired again on the second pass.

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Longest cron expression accepted, characters.
pub const MAX_EXPRESSION_CHARS: usize = 256;
/// Longest time zone name accepted, characters.
pub const MAX_TIMEZONE_CHARS: usize = 64;

/// Most wall-clock matches looked at to find one instant: only ticks
/// folded into a gap or a repeated hour are passed over, so a handful do.
const MAX_STEPS: usize = 10_000;

/// A parsed expression in its zone.
#[derive(Debug, Clone)]
pub struct CronSpec {
    cron: Cron,
    zone: Tz,
}

/// Why an expression or zone was refused: the field and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronProblem {
    /// `cron_expression` or `timezone`.
    pub field: &'static str,
    /// What is wrong, in words.
    pub message: String,
}

fn problem(field: &'static str, message: impl Into<String>) -> CronProblem {
    CronProblem { field, message: message.into() }
}

/// The zone named `name`; empty means UTC.
pub fn parse_zone(name: &str) -> Result<Tz, CronProblem> {
    let name = name.trim();
    if name.is_empty() {
        return Ok(Tz::UTC);
    }
    if name.chars().count() > MAX_TIMEZONE_CHARS {
        return Err(problem("timezone", format!("is longer than {MAX_TIMEZONE_CHARS} characters")));
    }
    name.parse::<Tz>()
        .map_err(|_| problem("timezone", format!("'{name}' is not an IANA time zone (e.g. \"America/New_York\")")))
}

impl CronSpec {
    /// Parses `expression` read in zone `timezone` (empty: UTC).
    pub fn parse(expression: &str, timezone: &str) -> Result<Self, CronProblem> {
        let zone = parse_zone(timezone)?;
        let text = expression.trim();
        if text.is_empty() {
            return Err(problem("cron_expression", "is required"));
        }
        if text.chars().count() > MAX_EXPRESSION_CHARS {
            return Err(problem("cron_expression", format!("is longer than {MAX_EXPRESSION_CHARS} characters")));
        }
        let fields = text.split_whitespace().count();
        if !text.starts_with('@') && !(5..=6).contains(&fields) {
            return Err(problem(
                "cron_expression",
                format!(
                    "has {fields} fields; give 5 (minute hour day-of-month month day-of-week) or 6 (seconds first)"
                ),
            ));
        }
        let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
        let cron = parser.parse(text).map_err(|err| problem("cron_expression", format!("does not parse: {err}")))?;
        let spec = Self { cron, zone };
        // An expression that never matches (30 February) is refused now
        // rather than leaving a schedule that silently never fires.
        if spec.next_after(0).is_none() {
            return Err(problem("cron_expression", "never matches a date"));
        }
        Ok(spec)
    }

    /// The zone the expression is read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first tick strictly after `after_ms`, if the expression has one.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let after = Utc.timestamp_millis_opt(after_ms).single()?;
        let mut wall = after.with_timezone(&self.zone).naive_local();
        for _ in 0..MAX_STEPS {
            let found = self.cron.find_next_occurrence(&wall.and_utc(), false).ok()?;
            wall = found.naive_utc();
            let instant = self.instant_of(wall)?;
            // A tick folded into a gap's end, or the second pass of a
            // repeated hour, is at or before `after`: it has fired.
            if instant > after.timestamp_millis() {
                return Some(instant);
            }
        }
        None
    }

    /// The next `count` ticks after `after_ms`.
    pub fn upcoming(&self, after_ms: i64, count: usize) -> Vec<i64> {
        let mut out = Vec::with_capacity(count);
        let mut at = after_ms;
        while out.len() < count {
            let Some(next) = self.next_after(at) else { break };
            out.push(next);
            at = next;
        }
        out
    }

    /// The latest tick at or before `now_ms`, given `known`, a tick at or
    /// before it: `known` itself when no later one has come. Looks back
    /// through growing windows, so a dense expression after a long gap
    /// costs a few dozen steps, not one per missed tick.
    pub fn latest_until(&self, known: i64, now_ms: i64) -> i64 {
        const WINDOWS_MS: [i64; 6] =
            [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 367 * 86_400_000, 5 * 367 * 86_400_000];
        for window in WINDOWS_MS {
            let start = (now_ms - window).max(known);
            let mut latest = None;
            let mut at = start;
            for _ in 0..MAX_STEPS {
                match self.next_after(at) {
                    Some(tick) if tick <= now_ms => {
                        latest = Some(tick);
                        at = tick;
                    }
                    _ => break,
                }
            }
            if let Some(latest) = latest {
                return latest;
            }
            if start == known {
                return known;
            }
        }
        known
    }

    /// The instant a wall-clock time of the zone stands for, by the rule
    /// of this module.
    fn instant_of(&self, wall: NaiveDateTime) -> Option<i64> {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(at) => Some(at.timestamp_millis()),
            LocalResult::Ambiguous(first, _) => Some(first.timestamp_millis()),
            LocalResult::None => self.gap_end(wall),
        }
    }

    /// The first instant whose wall-clock time is at or after `wall`, a
    /// time the clock skipped: the instant the gap ends. A binary search
    /// over the instants that could be it (zone offsets stay within a day
    /// of UTC, and no zone jumps twice within three days).
    fn gap_end(&self, wall: NaiveDateTime) -> Option<i64> {
        let as_utc = wall.and_utc().timestamp_millis();
        let day = Duration::days(1).num_milliseconds();
        let (mut low, mut high) = (as_utc - day - day / 2, as_utc + day + day / 2);
        let wall_at = |ms: i64| -> Option<NaiveDateTime> {
            let at: DateTime<Utc> = Utc.timestamp_millis_opt(ms).single()?;
            let offset = self.zone.offset_from_utc_datetime(&at.naive_utc()).fix();
            Some(at.naive_utc() + Duration::seconds(i64::from(offset.local_minus_utc())))
        };
        while low < high {
            let middle = low + (high - low) / 2;
            if wall_at(middle)? >= wall { high = middle } else { low = middle + 1 }
        }
        Some(low)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    fn ny(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        chrono_tz::America::New_York.with_ymd_and_hms(y, m, d, h, min, 0).earliest().unwrap().timestamp_millis()
    }

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32) -> i64 {
        Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(y, m, d).unwrap().and_hms_opt(h, min, s).unwrap())
            .timestamp_millis()
    }

    #[test]
    fn a_skipped_local_time_fires_once_when_the_gap_ends() {
        // 2027-03-14: New York's clocks go from 02:00 EST to 03:00 EDT.
        let spec = CronSpec::parse("30 2 * * *", "America/New_York").unwrap();
        let ticks = spec.upcoming(ny(2027, 3, 12, 12, 0), 4);
        assert_eq!(ticks[0], ny(2027, 3, 13, 2, 30));
        // 02:30 never happens on the 14th: the fire is at 03:00 EDT (07:00Z).
        assert_eq!(ticks[1], utc(2027, 3, 14, 7, 0, 0));
        assert_eq!(ticks[2], ny(2027, 3, 15, 2, 30));
        assert_eq!(ticks[2] - ticks[1], 23 * 3_600_000 + 30 * 60_000);
    }

    #[test]
    fn ticks_inside_a_gap_fold_into_one_fire() {
        let spec = CronSpec::parse("*/15 * * * *", "America/New_York").unwrap();
        let ticks = spec.upcoming(ny(2027, 3, 14, 1, 40), 4);
        // 01:45 EST, then 02:00..02:45 all skipped: one fire at 03:00 EDT,
        // then 03:15 EDT.
        assert_eq!(ticks[0], ny(2027, 3, 14, 1, 45));
        assert_eq!(ticks[1], utc(2027, 3, 14, 7, 0, 0));
        assert_eq!(ticks[2], utc(2027, 3, 14, 7, 15, 0));
    }

    #[test]
    fn a_repeated_local_time_fires_once_at_its_first_occurrence() {
        // 2027-11-07: New York's clocks go from 02:00 EDT back to 01:00 EST.
        let spec = CronSpec::parse("30 1 * * *", "America/New_York").unwrap();
        let ticks = spec.upcoming(ny(2027, 11, 6, 12, 0), 2);
        // 01:30 EDT = 05:30Z; not again at 01:30 EST (06:30Z).
        assert_eq!(ticks[0], utc(2027, 11, 7, 5, 30, 0));
        assert_eq!(ticks[1], ny(2027, 11, 8, 1, 30));
        // Asked from inside the second pass, the repeated tick is not given.
        assert_eq!(spec.next_after(utc(2027, 11, 7, 6, 0, 0)), Some(ny(2027, 11, 8, 1, 30)));
    }

    #[test]
    fn an_hourly_schedule_fires_once_per_distinct_wall_clock_hour() {
        let spec = CronSpec::parse("0 * * * *", "America/New_York").unwrap();
        let ticks = spec.upcoming(utc(2027, 11, 7, 3, 30, 0), 4);
        // 00:00 EDT (04:00Z), 01:00 EDT (05:00Z), then 02:00 EST (07:00Z):
        // the second 01:00 (06:00Z) does not fire.
        assert_eq!(
            ticks,
            [
                utc(2027, 11, 7, 4, 0, 0),
                utc(2027, 11, 7, 5, 0, 0),
                utc(2027, 11, 7, 7, 0, 0),
                utc(2027, 11, 7, 8, 0, 0)
            ]
        );
    }

    #[test]
    fn the_daily_2_30_fires_on_time_across_both_changes() {
        let spec = CronSpec::parse("30 2 * * *", "America/New_York").unwrap();
        let ticks = spec.upcoming(ny(2027, 11, 5, 12, 0), 3);
        assert_eq!(ticks[0], ny(2027, 11, 6, 2, 30));
        // 02:30 EST on the 7th (07:30Z): after the repeated hour, once.
        assert_eq!(ticks[1], utc(2027, 11, 7, 7, 30, 0));
        assert_eq!(ticks[1] - ticks[0], 25 * 3_600_000);
    }

    #[test]
    fn six_fields_read_seconds_and_utc_is_the_default_zone() {
        let spec = CronSpec::parse("*/10 * * * * *", "").unwrap();
        assert_eq!(spec.next_after(utc(2027, 1, 1, 0, 0, 3)), Some(utc(2027, 1, 1, 0, 0, 10)));
        assert_eq!(spec.zone(), Tz::UTC);
    }

    #[test]
    fn the_latest_missed_tick_is_found_without_walking_every_tick() {
        let spec = CronSpec::parse("* * * * * *", "UTC").unwrap();
        let known = utc(2027, 1, 1, 0, 0, 0);
        let now = utc(2027, 1, 9, 0, 0, 0) + 500;
        assert_eq!(spec.latest_until(known, now), utc(2027, 1, 9, 0, 0, 0));
        assert_eq!(spec.latest_until(known, known + 400), known);
        let yearly = CronSpec::parse("0 0 1 1 *", "UTC").unwrap();
        assert_eq!(yearly.latest_until(known, utc(2030, 6, 1, 0, 0, 0)), utc(2030, 1, 1, 0, 0, 0));
    }

    #[test]
    fn bad_expressions_and_zones_name_the_field_and_the_problem() {
        let bad = CronSpec::parse("61 * * * *", "UTC").unwrap_err();
        assert_eq!(bad.field, "cron_expression");
        assert!(bad.message.contains("does not parse"), "{}", bad.message);
        let fields = CronSpec::parse("* * * *", "UTC").unwrap_err();
        assert!(fields.message.contains("4 fields"), "{}", fields.message);
        assert_eq!(CronSpec::parse("* * * * * * *", "UTC").unwrap_err().field, "cron_expression");
        assert_eq!(CronSpec::parse("0 0 30 2 *", "UTC").unwrap_err().message, "never matches a date");
        let zone = CronSpec::parse("* * * * *", "Mars/Olympus").unwrap_err();
        assert_eq!(zone.field, "timezone");
        assert!(zone.message.contains("Mars/Olympus"));
        assert_eq!(CronSpec::parse("", "UTC").unwrap_err().message, "is required");
    }
}
