package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/message"
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

// On returns the instant at which the clock shows c on the given local date
// in loc. Across a DST gap time.Date moves forward (02:30 → 03:30), so a
// message is never sent earlier than asked.
func (c Clock) On(y int, m time.Month, d int, loc *time.Location) time.Time {
	return time.Date(y, m, d, c.Hour, c.Minute, 0, 0, loc)
}

// QuietHours is a daily window of the recipient's local time in which a
// message may not arrive; it waits until the window ends. From after Until
// wraps midnight (20:00–08:00).
type QuietHours struct{ From, Until Clock }

// ParseQuietHours parses the two HH:MM bounds; equal bounds are rejected (a
// window of nothing or of everything is a mistake).
func ParseQuietHours(from, until string) (QuietHours, error) {
	f, err := ParseClock(from)
	if err != nil {
		return QuietHours{}, fmt.Errorf("from: %w", err)
	}
	u, err := ParseClock(until)
	if err != nil {
		return QuietHours{}, fmt.Errorf("until: %w", err)
	}
	if f == u {
		return QuietHours{}, fmt.Errorf("from and until are both %s", f)
	}
	return QuietHours{f, u}, nil
}

func (q QuietHours) String() string { return q.From.String() + "–" + q.Until.String() }

// End reports whether t falls in the window in loc and, if so, when it ends:
// the first instant after t at which loc's clock shows Until.
func (q QuietHours) End(t time.Time, loc *time.Location) (time.Time, bool) {
	l := t.In(loc)
	m := l.Hour()*60 + l.Minute()
	s, e := q.From.minutes(), q.Until.minutes()
	var quiet bool
	if s < e {
		quiet = m >= s && m < e
	} else {
		quiet = m >= s || m < e
	}
	if !quiet {
		return time.Time{}, false
	}
	end := q.Until.On(l.Year(), l.Month(), l.Day(), loc)
	if !end.After(t) {
		end = q.Until.On(l.Year(), l.Month(), l.Day()+1, loc)
	}
	return end, true
}

// QuietRule holds messages of some classes or types on some channels during
// a window of the recipient's local time. A catalog lists them under
// quiet_hours; a message (a campaign) may add windows of its own through
// Facts.Quiet, which can only hold longer, never shorten the catalog's.
type QuietRule struct {
	Classes  []message.Class
	Types    []message.Type
	Channels []message.Channel // empty: every channel
	Window   QuietHours
}

// applies reports whether the rule covers a message of type t (class cl) on ch.
func (q QuietRule) applies(t message.Type, cl message.Class, ch message.Channel) bool {
	if len(q.Channels) > 0 && !slices.Contains(q.Channels, ch) {
		return false
	}
	if len(q.Classes) == 0 && len(q.Types) == 0 {
		return true // a message's own window names neither: it covers the message
	}
	return slices.Contains(q.Classes, cl) || slices.Contains(q.Types, t)
}

func (q QuietRule) String() string {
	var who []string
	for _, c := range q.Classes {
		who = append(who, string(c))
	}
	for _, t := range q.Types {
		who = append(who, string(t))
	}
	on := "every channel"
	if len(q.Channels) > 0 {
		chs := make([]string, len(q.Channels))
		for i, c := range q.Channels {
			chs[i] = string(c)
		}
		on = strings.Join(chs, ", ")
	}
	if len(who) == 0 {
		return fmt.Sprintf("%s on %s", q.Window, on)
	}
	return fmt.Sprintf("%s: %s on %s", strings.Join(who, ", "), q.Window, on)
}

// maxQuietHops bounds the search for the end of chained windows (20:00–08:00
// followed by 07:30–09:00 ends at 09:00): more windows than that in a catalog
// would be a mistake, and Decide must not loop.
const maxQuietHops = 8

// notBefore returns the earliest instant at or after now at which no quiet
// rule covering the message holds in loc, the rule that held it last, and
// whether any held it. Transactional messages are never held: ParseCatalog
// refuses rules for them, and message windows are ignored for them here.
func (c *Catalog) notBefore(t *TypeSpec, ch message.Channel, now time.Time, loc *time.Location, extra []QuietRule) (time.Time, QuietRule, bool) {
	if t.Class == message.Transactional {
		return time.Time{}, QuietRule{}, false
	}
	if loc == nil {
		loc = time.UTC
	}
	at, held := now, false
	var last QuietRule
	for range maxQuietHops {
		moved := false
		for _, rules := range [][]QuietRule{c.quiet, extra} {
			for _, q := range rules {
				if !q.applies(t.Key, t.Class, ch) {
					continue
				}
				if end, in := q.Window.End(at, loc); in {
					at, last, held, moved = end, q, true, true
				}
			}
		}
		if !moved {
			break
		}
	}
	return at, last, held
}

// QuietRules returns the catalog's quiet-hour rules in catalog order.
func (c *Catalog) QuietRules() []QuietRule {
	out := make([]QuietRule, len(c.quiet))
	for i, q := range c.quiet {
		out[i] = QuietRule{Classes: slices.Clone(q.Classes), Types: slices.Clone(q.Types),
			Channels: slices.Clone(q.Channels), Window: q.Window}
	}
	return out
}

type rawQuiet struct {
	Classes  []string `yaml:"classes"`
	Types    []string `yaml:"types"`
	Channels []string `yaml:"channels"`
	From     string   `yaml:"from"`
	Until    string   `yaml:"until"`
}

// parseQuiet checks the quiet_hours section once the types are known.
func (c *Catalog) parseQuiet(l *located, raw []rawQuiet) {
	for i, rq := range raw {
		where := fmt.Sprintf("quiet_hours #%d", i+1)
		var q QuietRule
		w, err := ParseQuietHours(rq.From, rq.Until)
		if err != nil {
			l.add(where, "%v", err)
		}
		q.Window = w
		if len(rq.Classes) == 0 && len(rq.Types) == 0 {
			l.add(where, "name the classes or types it holds (classes: [marketing])")
		}
		for _, s := range rq.Classes {
			cl, err := message.ParseClass(s)
			switch {
			case err != nil:
				l.add(where, "classes: %v", err)
			case cl == message.Transactional:
				l.add(where, "classes: transactional messages (invoices, contract information, confirmations) are never held")
			default:
				q.Classes = append(q.Classes, cl)
			}
		}
		for _, s := range rq.Types {
			t, ok := c.Type(message.Type(s))
			switch {
			case !ok:
				l.add(where, "types: unknown type %q", s)
			case t.Class == message.Transactional:
				l.add(where, "types: %s is transactional, and transactional messages are never held", s)
			default:
				q.Types = append(q.Types, t.Key)
			}
		}
		for _, s := range rq.Channels {
			ch, err := message.ParseChannel(s)
			if err != nil {
				l.add(where, "channels: %v", err)
				continue
			}
			q.Channels = append(q.Channels, ch)
		}
		c.quiet = append(c.quiet, q)
	}
}
