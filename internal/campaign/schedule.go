package campaign

import (
	"fmt"
	"time"
)

// Clock is a time of day, minute precision.
type Clock struct{ Hour, Minute int }

// ParseClock parses "HH:MM" (24 h).
func ParseClock(s string) (Clock, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return Clock{}, fmt.Errorf("%q is not a time of day HH:MM", s)
	}
	return Clock{t.Hour(), t.Minute()}, nil
}

func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", c.Hour, c.Minute) }

func (c Clock) minutes() int { return c.Hour*60 + c.Minute }

// on returns the instant at which the clock shows c on the given local date
// in loc. Across a DST gap time.Date moves forward (02:30 → 03:30), so a
// message is never sent earlier than asked.
func (c Clock) on(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d, c.Hour, c.Minute, 0, 0, loc)
}

// SendAt is when a campaign sends: one absolute instant, or a local time of
// day (optionally on a date) applied in each recipient's time zone.
type SendAt struct {
	Abs   time.Time // absolute; zero when Local
	Local bool
	Date  time.Time // the local date (year, month, day only); zero: the next occurrence
	Clock Clock
}

// maxZoneOffset is the widest offset from UTC of any time zone (Kiribati, UTC+14).
const maxZoneOffset = 14 * time.Hour

// ParseSendAt reads send_at: "" (now), RFC 3339 ("2026-12-01T09:00:00+01:00",
// absolute), "2026-12-01T09:00" (that local date and time in each
// recipient's zone) or "09:00" (the next 09:00 in each recipient's zone).
func ParseSendAt(s string, now time.Time) (SendAt, error) {
	switch {
	case s == "":
		return SendAt{Abs: now}, nil
	case len(s) == 5 && s[2] == ':':
		c, err := ParseClock(s)
		if err != nil {
			return SendAt{}, err
		}
		return SendAt{Local: true, Clock: c}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return SendAt{Abs: t.UTC()}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return SendAt{Local: true, Date: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC),
				Clock: Clock{t.Hour(), t.Minute()}}, nil
		}
	}
	return SendAt{}, fmt.Errorf("%q is neither RFC 3339 (absolute), YYYY-MM-DDTHH:MM nor HH:MM (local time of each recipient)", s)
}

// Start is when fan-out may begin: the absolute time, or the first moment
// any time zone reaches the local date and time (for "HH:MM": from now).
func (s SendAt) Start(now time.Time) time.Time {
	switch {
	case !s.Local:
		return s.Abs
	case s.Date.IsZero():
		return now
	}
	first := s.Clock.on(s.Date.Year(), s.Date.Month(), s.Date.Day(), time.UTC).Add(-maxZoneOffset)
	if first.Before(now) {
		return now
	}
	return first
}

// Last is the latest moment any recipient's send time can fall on: the
// campaign was created at `created`.
func (s SendAt) Last(created time.Time) time.Time {
	switch {
	case !s.Local:
		return s.Abs
	case s.Date.IsZero():
		return created.Add(24*time.Hour + maxZoneOffset)
	}
	return s.Clock.on(s.Date.Year(), s.Date.Month(), s.Date.Day(), time.UTC).Add(maxZoneOffset)
}

// DueIn returns when the recipient in loc is due: the absolute time, the
// local date and time in loc, or the first time at or after created at
// which loc's clock shows the time of day.
func (s SendAt) DueIn(loc *time.Location, created time.Time) time.Time {
	switch {
	case !s.Local:
		return s.Abs
	case !s.Date.IsZero():
		return s.Clock.on(s.Date.Year(), s.Date.Month(), s.Date.Day(), loc)
	}
	l := created.In(loc)
	t := s.Clock.on(l.Year(), l.Month(), l.Day(), loc)
	if t.Before(created) {
		t = s.Clock.on(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return t
}

// QuietHours is a daily window of recipient local time in which advertising
// on phone channels waits. Start after End wraps midnight (20:00–08:00).
type QuietHours struct{ Start, End Clock }

// ParseQuietHours parses the two HH:MM bounds; equal bounds are rejected (a
// window of nothing or of everything is a mistake).
func ParseQuietHours(start, end string) (QuietHours, error) {
	s, err := ParseClock(start)
	if err != nil {
		return QuietHours{}, fmt.Errorf("start: %w", err)
	}
	e, err := ParseClock(end)
	if err != nil {
		return QuietHours{}, fmt.Errorf("end: %w", err)
	}
	if s == e {
		return QuietHours{}, fmt.Errorf("start and end are both %s", s)
	}
	return QuietHours{s, e}, nil
}

func (q QuietHours) String() string { return q.Start.String() + "–" + q.End.String() }

// Until reports whether t falls in the quiet hours of loc and, if so, when
// they end (the first instant after t at which loc's clock shows End).
func (q QuietHours) Until(t time.Time, loc *time.Location) (time.Time, bool) {
	l := t.In(loc)
	m := l.Hour()*60 + l.Minute()
	s, e := q.Start.minutes(), q.End.minutes()
	var quiet bool
	if s < e {
		quiet = m >= s && m < e
	} else {
		quiet = m >= s || m < e
	}
	if !quiet {
		return time.Time{}, false
	}
	end := q.End.on(l.Year(), l.Month(), l.Day(), loc)
	if !end.After(t) {
		end = q.End.on(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return end, true
}
