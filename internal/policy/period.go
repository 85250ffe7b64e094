package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// period is a calendar span such as "3 months" or "7 days". Legal periods
// in the privacy notice are calendar periods ("drei Monate nach dem
// jeweiligen Vertragsende"), so Decide adds them with time.AddDate instead of
// treating a month as a fixed number of hours: "exactly 3 months ago" is then
// a well-defined instant.
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

// addTo returns t moved forward by p in calendar terms. AddDate normalises
// overflowing days: 30 November + 3 months is 2 March (there is no 30 February).
func (p period) addTo(t time.Time) time.Time { return t.AddDate(p.years, p.months, p.days) }

// subFrom returns t moved back by p in calendar terms.
func (p period) subFrom(t time.Time) time.Time { return t.AddDate(-p.years, -p.months, -p.days) }

// nominal is the period as a fixed duration for callers that need one
// (retention jobs, display): a year counts 365 days, a month 30 days. Decide
// never uses it; it uses addTo.
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
