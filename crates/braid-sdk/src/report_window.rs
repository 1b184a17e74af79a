//! Date windows for ad-platform report streams: an incremental read on a
//! date cursor that re-pulls the last N days, because ad platforms restate
//! recent numbers (late conversions, invalid-click refunds).
//!
//! The runtime reads a date cursor inclusively and drops, at exactly the
//! committed date, the rows whose primary keys it already landed. A report
//! stream keyed only by (entity, date) would therefore lose the restated
//! numbers of the committed day itself. A report stream that re-pulls should
//! put the time of the pull (e.g. a `pulled_at` column, the same for every
//! row of one read) into its primary key: no re-pulled row then matches a
//! landed key, every pull lands as a new version, and the current figures of
//! a day are those of the latest `pulled_at` per (entity, date).

use chrono::{Days, NaiveDate};

/// The dates one incremental read of a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportRange {
    /// First day (inclusive).
    pub start: NaiveDate,
    /// Last day (inclusive).
    pub end: NaiveDate,
}

impl ReportRange {
    /// The range to read: from the committed cursor day minus `lookback_days`
    /// (or `start_date` on a first run, and never before it) to `today` (the
    /// account's current day in its own time zone; today's partial numbers are
    /// re-pulled by the next read). `None` when there is nothing to read.
    pub fn incremental(
        committed: Option<NaiveDate>,
        lookback_days: u32,
        start_date: NaiveDate,
        today: NaiveDate,
    ) -> Option<Self> {
        let from = match committed {
            Some(c) => c
                .checked_sub_days(Days::new(lookback_days.into()))
                .unwrap_or(NaiveDate::MIN)
                .max(start_date),
            None => start_date,
        };
        (from <= today).then_some(Self {
            start: from,
            end: today,
        })
    }

    /// The range cut into consecutive windows of at most `max_days` days
    /// (vendors cap a report request's span: TikTok 30 days for daily
    /// reports, WeChat's datacube 7), in date order, so a reader can
    /// checkpoint after each window.
    pub fn windows(&self, max_days: u32) -> Vec<ReportRange> {
        let step = u64::from(max_days.max(1));
        let mut out = Vec::new();
        let mut start = self.start;
        while start <= self.end {
            let end = start
                .checked_add_days(Days::new(step - 1))
                .unwrap_or(NaiveDate::MAX)
                .min(self.end);
            out.push(ReportRange { start, end });
            match end.checked_add_days(Days::new(1)) {
                Some(next) => start = next,
                None => break,
            }
        }
        out
    }

    /// Days in the range.
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }
}

/// Days since the Unix epoch (a `Date32` value) of `d`.
pub fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or(NaiveDate::MIN)).num_days() as i32
}

/// The day a report stream's cursor has committed: a `Date32` cursor, a
/// timestamp's UTC date, or the date at the head of a string.
pub fn committed_day(state: &braid_core::StreamState) -> Option<NaiveDate> {
    use braid_core::CursorValue;
    match state.cursor.as_ref()? {
        CursorValue::Date(d) => date_from_days(*d),
        CursorValue::TimestampMicros(us) => {
            chrono::DateTime::from_timestamp_micros(*us).map(|t| t.date_naive())
        }
        CursorValue::Str(s) => NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d").ok(),
        CursorValue::Int(_) => None,
    }
}

/// A `Date32` cursor value (days since the Unix epoch) as a date.
pub fn date_from_days(days: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::Duration::days(days.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn first_run_reads_from_the_start_date_to_today() {
        let r = ReportRange::incremental(None, 7, d("2026-11-01"), d("2026-12-03")).unwrap();
        assert_eq!((r.start, r.end), (d("2026-11-01"), d("2026-12-03")));
        assert_eq!(r.days(), 33);
    }

    #[test]
    fn later_runs_re_pull_the_committed_day_and_the_lookback_before_it() {
        let r =
            ReportRange::incremental(Some(d("2026-12-03")), 7, d("2026-01-01"), d("2026-12-04"))
                .unwrap();
        assert_eq!((r.start, r.end), (d("2026-11-26"), d("2026-12-04")));
        // Lookback 0 still re-pulls the committed day (the cursor is inclusive).
        let r =
            ReportRange::incremental(Some(d("2026-12-03")), 0, d("2026-01-01"), d("2026-12-03"))
                .unwrap();
        assert_eq!((r.start, r.end), (d("2026-12-03"), d("2026-12-03")));
    }

    #[test]
    fn the_lookback_never_reaches_before_the_start_date_and_a_future_start_reads_nothing() {
        let r =
            ReportRange::incremental(Some(d("2026-12-02")), 30, d("2026-11-30"), d("2026-12-03"))
                .unwrap();
        assert_eq!(r.start, d("2026-11-30"));
        assert_eq!(
            ReportRange::incremental(None, 7, d("2026-12-10"), d("2026-12-03")),
            None
        );
    }

    #[test]
    fn windows_cover_the_range_in_order_without_gaps_or_overlap() {
        let r = ReportRange {
            start: d("2026-10-01"),
            end: d("2026-12-03"),
        };
        let w = r.windows(30);
        assert_eq!(w.len(), 3);
        assert_eq!((w[0].start, w[0].end), (d("2026-10-01"), d("2026-10-30")));
        assert_eq!((w[1].start, w[1].end), (d("2026-10-31"), d("2026-11-29")));
        assert_eq!((w[2].start, w[2].end), (d("2026-11-30"), d("2026-12-03")));
        assert_eq!(w.iter().map(ReportRange::days).sum::<i64>(), r.days());
        let one = ReportRange {
            start: d("2026-12-03"),
            end: d("2026-12-03"),
        };
        assert_eq!(one.windows(7), vec![one]);
    }

    #[test]
    fn date32_days_convert() {
        assert_eq!(date_from_days(0), Some(d("1970-01-01")));
        assert_eq!(date_from_days(20_000), Some(d("2024-10-04")));
    }
}
