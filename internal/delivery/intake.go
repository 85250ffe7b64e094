package delivery

import (
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
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
	// Templates knows the data the templates need (render.Renderer.Needs);
	// nil: TemplateData checks nothing.
	Templates *render.Needs
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

// Data checks that every data category is declared by the type and is an
// object, and that every number in it is one a template can print exactly
// (see checkValue).
func (in Intake) Data(bad *invalid.List, spec policy.TypeSpec, known bool, data map[string]map[string]any) {
	for _, c := range slices.Sorted(maps.Keys(data)) {
		if known && !slices.Contains(spec.DataCategories, c) {
			bad.Add("data."+c, "data category %q is not declared by type %s (declared: %s)", c, spec.Key, strings.Join(spec.DataCategories, ", "))
		}
		if data[c] == nil {
			bad.Add("data."+c, "must be a JSON object")
			continue
		}
		for _, k := range slices.Sorted(maps.Keys(data[c])) {
			checkValue(bad, "data."+c+"."+k, data[c][k])
		}
	}
}

// maxNumberLen bounds a number's literal: more digits than this are no
// amount or count a message shows.
const maxNumberLen = 64

// checkValue refuses numbers that cannot be kept and printed: beyond
// float64's range (1e999 is +Inf to every JSON reader downstream), so small
// that they vanish to 0 (1e-999), or longer than maxNumberLen characters.
// Numbers arrive as json.Number (the API decodes with UseNumber) and keep
// their digits; Go callers may hand float64s, which must be finite.
func checkValue(bad *invalid.List, field string, v any) {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		f, err := strconv.ParseFloat(s, 64)
		switch {
		case len(s) > maxNumberLen:
			bad.Add(field, "number has %d characters, more than %d", len(s), maxNumberLen)
		case err != nil || math.IsInf(f, 0):
			bad.Add(field, "number is out of range (at most about ±1.8e308)")
		case f == 0 && strings.Trim(strings.SplitN(strings.ToLower(s), "e", 2)[0], "-+0.") != "":
			bad.Add(field, "number is too small to keep (it would become 0)")
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			bad.Add(field, "number is not finite")
		}
	case float32:
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			bad.Add(field, "number is not finite")
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			checkValue(bad, field+"."+k, x[k])
		}
	case []any:
		for i, e := range x {
			checkValue(bad, field+"["+strconv.Itoa(i)+"]", e)
		}
	}
}

// TemplateData checks that data holds every field the type's templates read
// on each channel of chans — the order of preference, so every channel a
// fallback may take — in locale ("": the recipient's, so every locale), and
// in the form they read it (a number for money, a date for date). A message
// that would fail to render in the worker is refused here, naming each field.
func (in Intake) TemplateData(bad *invalid.List, spec policy.TypeSpec, known bool, chans []message.Channel, locale string, data map[string]map[string]any) {
	if in.Templates == nil || !known {
		return
	}
	valid := make([]message.Channel, 0, len(chans))
	for _, ch := range chans {
		if ch.Valid() && slices.Contains(spec.Channels, ch) {
			valid = append(valid, ch)
		}
	}
	for _, p := range in.Templates.Missing(spec.Key, valid, locale, data) {
		if !slices.ContainsFunc(*bad, func(f invalid.Field) bool { return f.Field == p.Field }) {
			bad.Add(p.Field, "%s", p.Message) // one problem per field: Data may have named it already
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
