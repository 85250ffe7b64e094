package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// period is a calendar span such as "3 months" or "7 days". Legal periods
// in the privacy notice are calendar periods ("drei Monate nach dem
// jeweiligen Vertragsende"), so the blocking period ends as the BGB counts
// it (endAfter) instead of after a fixed number of hours; technical windows
// (unconfirmed signups, the frequency cap) run from an instant (addTo, subFrom).
type period struct {
	years, months, days int
	text                string // as written, normalised: "7 days" stays "7 days"
}

// parsePeriod reads "<n> day(s)|week(s)|month(s)|year(s)".
func parsePeriod(s string) (period, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return period{}, fmt.Errorf("%q: want a number and a unit, e.g. \"3 months\" or \"90 days\"", s)
	}
	n, err := strconv.Atoi(fields[0])
	if err != nil || n < 0 || n > 10000 {
		return period{}, fmt.Errorf("%q: want a whole number from 0 to 10000 before the unit", s)
	}
	unit := strings.TrimSuffix(fields[1], "s")
	text := fmt.Sprintf("%d %s", n, unit)
	if n != 1 {
		text += "s"
	}
	switch unit {
	case "day":
		return period{days: n, text: text}, nil
	case "week":
		return period{days: 7 * n, text: text}, nil
	case "month":
		return period{months: n, text: text}, nil
	case "year":
		return period{years: n, text: text}, nil
	}
	return period{}, fmt.Errorf("%q: unknown unit %q (want days, weeks, months or years)", s, fields[1])
}

func (p period) zero() bool { return p.years == 0 && p.months == 0 && p.days == 0 }

// addTo returns t moved forward by p in calendar terms, for windows that run
// from an instant. AddDate normalises overflowing days (30 November + 3
// months is 2 March), which is why legal periods use endAfter instead.
func (p period) addTo(t time.Time) time.Time { return t.AddDate(p.years, p.months, p.days) }

// endAfter returns the first instant after a period p that runs from an
// event at t (a contract end), counted as §§187(1), 188(2),(3) BGB count
// it: the day of the event is not counted; a period of days ends with the
// end of its last day (§188(1)); a period of weeks, months or years ends with
// the end of the day of the last week or month that bears the event day's
// weekday or number (§188(2)), and when the last month has no such day, with
// the end of that month's last day (§188(3)). So a contract that ended on 30
// November is blocked from 1 March (the period ends with 28 or 29 February),
// one that ended on 31 August from 1 December.
//
// Days are calendar days in t's own location: a date given as YYYY-MM-DD is
// a UTC day, a time with an offset is a day at that offset.
func (p period) endAfter(t time.Time) time.Time {
	y, m, d := t.Date()
	loc := t.Location()
	if p.years == 0 && p.months == 0 {
		return time.Date(y, m, d+p.days+1, 0, 0, 0, 0, loc)
	}
	// The last month, normalised (day 1 never overflows), then the day:
	// the event's number, or the month's last day if it has no such day.
	first := time.Date(y+p.years, m+time.Month(p.months), 1, 0, 0, 0, 0, loc)
	last := first.AddDate(0, 1, -1).Day()
	return time.Date(first.Year(), first.Month(), min(d, last)+p.days+1, 0, 0, 0, 0, loc)
}

// subFrom returns t moved back by p in calendar terms.
func (p period) subFrom(t time.Time) time.Time { return t.AddDate(-p.years, -p.months, -p.days) }

// nominal is the period as a fixed duration for callers that need one
// (retention jobs, display): a year counts 365 days, a month 30 days. Decide
// never uses it; it uses endAfter and addTo.
func (p period) nominal() time.Duration {
	return time.Duration(p.years*365+p.months*30+p.days) * 24 * time.Hour
}

func (p period) String() string {
	if p.text != "" {
		return p.text
	}
	switch {
	case p.years != 0:
		return fmt.Sprintf("%d years", p.years)
	case p.months != 0:
		return fmt.Sprintf("%d months", p.months)
	default:
		return fmt.Sprintf("%d days", p.days)
	}
}
