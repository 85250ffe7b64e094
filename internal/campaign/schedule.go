package campaign

import (
	"fmt"
	"time"

	"github.com/heroldhq/herold/internal/policy"
)

// SendAt is when a campaign sends: one absolute instant, or a local time of
// day (optionally on a date) applied in each recipient's time zone.
type SendAt struct {
	Abs   time.Time // absolute; zero when Local
	Local bool
	Date  time.Time // the local date (year, month, day only); zero: the next occurrence
	Clock policy.Clock
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
		c, err := policy.ParseClock(s)
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
				Clock: policy.Clock{Hour: t.Hour(), Minute: t.Minute()}}, nil
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
	first := s.Clock.On(s.Date.Year(), s.Date.Month(), s.Date.Day(), time.UTC).Add(-maxZoneOffset)
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
	return s.Clock.On(s.Date.Year(), s.Date.Month(), s.Date.Day(), time.UTC).Add(maxZoneOffset)
}

// DueIn returns when the recipient in loc is due: the absolute time, the
// local date and time in loc, or the first time at or after created at
// which loc's clock shows the time of day.
func (s SendAt) DueIn(loc *time.Location, created time.Time) time.Time {
	switch {
	case !s.Local:
		return s.Abs
	case !s.Date.IsZero():
		return s.Clock.On(s.Date.Year(), s.Date.Month(), s.Date.Day(), loc)
	}
	l := created.In(loc)
	t := s.Clock.On(l.Year(), l.Month(), l.Day(), loc)
	if t.Before(created) {
		t = s.Clock.On(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return t
}
