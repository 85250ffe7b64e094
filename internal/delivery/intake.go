package delivery

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Intake holds the checks that every way of asking for a delivery — a
// message, an item of a batch, a campaign — makes before anything is
// written, with the same rules and the same words: the type, the channels,
// the data categories, the locale and the send time. Nothing here asks the
// policy: that decides at delivery time.
type Intake struct {
	Catalog *policy.Catalog
	// Locales are the locales Herold has templates for (render.Renderer.Locales).
	Locales []string
}

// Type checks the message type named typ (field "type").
func (in Intake) Type(bad *invalid.List, typ message.Type) (policy.TypeSpec, bool) {
	spec, ok := in.Catalog.Type(typ)
	switch {
	case typ == "":
		bad.Add("type", "missing: name a message type of the catalog")
	case !ok:
		names := make([]string, 0, len(in.Catalog.Types()))
		for _, t := range in.Catalog.Types() {
			names = append(names, string(t.Key))
		}
		bad.Add("type", "unknown message type %q (known: %s)", typ, strings.Join(names, ", "))
	}
	return spec, ok
}

// Channels checks an order of preference for type spec (known: spec was
// found) and returns it; empty means the type's channels in catalog order.
func (in Intake) Channels(bad *invalid.List, spec policy.TypeSpec, known bool, chans []message.Channel) []message.Channel {
	seen := map[message.Channel]bool{}
	for i, ch := range chans {
		field := "channels[" + strconv.Itoa(i) + "]"
		switch {
		case !ch.Valid():
			bad.Add(field, "unknown channel %q (want %s)", ch, message.ChannelList())
		case seen[ch]:
			bad.Add(field, "channel %q listed twice", ch)
		case known && !slices.Contains(spec.Channels, ch):
			bad.Add(field, "channel %q is not allowed for type %s (allowed: %s)", ch, spec.Key, joinChannels(spec.Channels))
		}
		seen[ch] = true
	}
	if len(chans) == 0 && known {
		return slices.Clone(spec.Channels)
	}
	return chans
}

// Data checks that every data category is declared by the type and is an object.
func (in Intake) Data(bad *invalid.List, spec policy.TypeSpec, known bool, data map[string]map[string]any) {
	cats := make([]string, 0, len(data))
	for c := range data {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	for _, c := range cats {
		if known && !slices.Contains(spec.DataCategories, c) {
			bad.Add("data."+c, "data category %q is not declared by type %s (declared: %s)", c, spec.Key, strings.Join(spec.DataCategories, ", "))
		}
		if data[c] == nil {
			bad.Add("data."+c, "must be a JSON object")
		}
	}
}

// Locale checks a message's locale: empty (the recipient's) or one Herold
// has templates for.
func (in Intake) Locale(bad *invalid.List, locale string) {
	if locale != "" && !slices.Contains(in.Locales, locale) {
		bad.Add("locale", "%q is not a locale Herold has templates for (want %s)", locale, strings.Join(in.Locales, " or "))
	}
}

// SendAt checks an absolute send time: at most tolerance in the past (clock
// skew), at most horizon ahead (setting names the setting that sets it).
func (in Intake) SendAt(bad *invalid.List, at, now time.Time, tolerance, horizon time.Duration, setting string) {
	switch {
	case at.IsZero():
	case at.Before(now.Add(-tolerance)):
		bad.Add("send_at", "%s lies in the past (more than %s ago)", at.UTC().Format(time.RFC3339), tolerance)
	case at.After(now.Add(horizon)):
		bad.Add("send_at", "%s lies more than %s ahead (%s)", at.UTC().Format(time.RFC3339), horizon, setting)
	}
}

func joinChannels(chs []message.Channel) string {
	parts := make([]string, len(chs))
	for i, c := range chs {
		parts[i] = string(c)
	}
	return strings.Join(parts, ", ")
}
