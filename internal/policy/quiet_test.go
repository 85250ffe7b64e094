package policy_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestDecideQuietHours(t *testing.T) {
	t.Parallel()
	cat := defaultCatalog(t)
	loc := berlin(t)
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, loc) }
	smsConsent := []consent.Event{{ID: "g", Kind: consent.Grant, Purpose: consent.Advertising, Channel: "sms",
		At: at(1, 9, 0), Source: consent.WebForm}}
	evening := policy.QuietRule{Window: policy.QuietHours{From: policy.Clock{Hour: 7}, Until: policy.Clock{Hour: 10}}}
	tests := []struct {
		name      string
		typ       message.Type
		ch        message.Channel
		now       time.Time
		events    []consent.Event
		extra     []policy.QuietRule
		local     *time.Location
		allowed   bool
		reason    policy.Reason
		notBefore time.Time // zero: not held
	}{
		{name: "promo sms at 23:00 waits for 08:00", typ: "promo_offer", ch: message.SMS, now: at(25, 23, 0),
			events: smsConsent, allowed: true, reason: policy.Allowed, notBefore: at(26, 8, 0)},
		{name: "promo sms after midnight waits for 08:00 the same day", typ: "promo_offer", ch: message.SMS, now: at(26, 3, 10),
			events: smsConsent, allowed: true, reason: policy.Allowed, notBefore: at(26, 8, 0)},
		{name: "promo sms at 20:00 exactly is held", typ: "promo_offer", ch: message.SMS, now: at(25, 20, 0),
			events: smsConsent, allowed: true, reason: policy.Allowed, notBefore: at(26, 8, 0)},
		{name: "promo sms at 19:59 goes", typ: "promo_offer", ch: message.SMS, now: at(25, 19, 59),
			events: smsConsent, allowed: true, reason: policy.Allowed},
		{name: "promo sms at 08:00 exactly goes", typ: "promo_offer", ch: message.SMS, now: at(26, 8, 0),
			events: smsConsent, allowed: true, reason: policy.Allowed},
		{name: "promo e-mail at 23:00 is not held", typ: "promo_offer", ch: message.Email, now: at(25, 23, 0),
			allowed: true, reason: policy.Allowed},
		{name: "invoice sms at 23:00 is never held", typ: "invoice", ch: message.SMS, now: at(25, 23, 0),
			allowed: true, reason: policy.Allowed},
		{name: "invoice sms ignores a message window too", typ: "invoice", ch: message.SMS, now: at(25, 9, 0),
			extra: []policy.QuietRule{evening}, allowed: true, reason: policy.Allowed},
		{name: "denied at night is suppressed now, not held", typ: "promo_offer", ch: message.SMS, now: at(25, 23, 0),
			allowed: false, reason: policy.NoConsent},
		{name: "local time decides: 23:00 in Berlin is 22:00 UTC", typ: "promo_offer", ch: message.SMS, now: at(25, 23, 0),
			events: smsConsent, local: time.UTC, allowed: true, reason: policy.Allowed,
			notBefore: time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)},
		{name: "a message window chained to the catalog's holds until its end", typ: "promo_offer", ch: message.SMS, now: at(25, 23, 0),
			events: smsConsent, extra: []policy.QuietRule{evening}, allowed: true, reason: policy.Allowed, notBefore: at(26, 10, 0)},
		{name: "a message window holds e-mail too when it names no channel", typ: "promo_offer", ch: message.Email, now: at(26, 8, 30),
			extra: []policy.QuietRule{evening}, allowed: true, reason: policy.Allowed, notBefore: at(26, 10, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			local := loc
			if tt.local != nil {
				local = tt.local
			}
			d := policy.Decide(cat, policy.Facts{Type: tt.typ, Channel: tt.ch, Now: tt.now, Recipient: customer(),
				Consent: consent.Fold(tt.events, tt.now), Local: local, Quiet: tt.extra})
			if d.Allowed != tt.allowed || d.Reason != tt.reason {
				t.Fatalf("allowed %v reason %s, want %v %s (evidence %v)", d.Allowed, d.Reason, tt.allowed, tt.reason, d.Evidence)
			}
			if !d.NotBefore.Equal(tt.notBefore) {
				t.Fatalf("not before %v, want %v", d.NotBefore, tt.notBefore)
			}
			held := !tt.notBefore.IsZero()
			if (d.Hold == policy.HoldQuietHours) != held {
				t.Fatalf("hold %q, held %v", d.Hold, held)
			}
			hasEvidence := false
			for _, e := range d.Evidence {
				hasEvidence = hasEvidence || strings.HasPrefix(e, "quiet_hours:")
			}
			if hasEvidence != held {
				t.Fatalf("evidence %v: quiet_hours entry %v, want %v", d.Evidence, hasEvidence, held)
			}
		})
	}
}

// Across the spring DST gap in Berlin (02:00 → 03:00 on 29 March 2026) a
// window ending at 02:30 ends at 03:30 local time: never earlier than asked.
func TestQuietHoursEndAcrossDSTGap(t *testing.T) {
	t.Parallel()
	loc := berlin(t)
	q, err := policy.ParseQuietHours("22:00", "02:30")
	if err != nil {
		t.Fatal(err)
	}
	end, in := q.End(time.Date(2026, 3, 28, 23, 0, 0, 0, loc), loc)
	if !in {
		t.Fatal("23:00 is inside 22:00–02:30")
	}
	if want := time.Date(2026, 3, 29, 3, 30, 0, 0, loc); !end.Equal(want) {
		t.Fatalf("end %v, want %v", end, want)
	}
}

func TestParseCatalogQuietHours(t *testing.T) {
	t.Parallel()
	base := string(policy.DefaultCatalog())
	tests := []struct {
		name, section, want string
	}{
		{"transactional class", "quiet_hours:\n  - classes: [transactional]\n    from: \"20:00\"\n    until: \"08:00\"\n", "quiet_hours #1: classes: transactional messages"},
		{"transactional type", "quiet_hours:\n  - types: [invoice]\n    from: \"20:00\"\n    until: \"08:00\"\n", "quiet_hours #1: types: invoice is transactional"},
		{"unknown type", "quiet_hours:\n  - types: [fax_offer]\n    from: \"20:00\"\n    until: \"08:00\"\n", `quiet_hours #1: types: unknown type "fax_offer"`},
		{"unknown channel", "quiet_hours:\n  - classes: [marketing]\n    channels: [fax]\n    from: \"20:00\"\n    until: \"08:00\"\n", `quiet_hours #1: channels: unknown channel "fax"`},
		{"equal bounds", "quiet_hours:\n  - classes: [marketing]\n    from: \"20:00\"\n    until: \"20:00\"\n", "quiet_hours #1: from and until are both 20:00"},
		{"bad clock", "quiet_hours:\n  - classes: [marketing]\n    from: \"8pm\"\n    until: \"08:00\"\n", `quiet_hours #1: from: "8pm" is not a time of day`},
		{"nobody named", "quiet_hours:\n  - channels: [sms]\n    from: \"20:00\"\n    until: \"08:00\"\n", "quiet_hours #1: name the classes or types"},
		{"unknown field", "quiet_hours:\n  - classes: [marketing]\n    start: \"20:00\"\n    from: \"20:00\"\n    until: \"08:00\"\n", "in quiet_hours"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			i := strings.Index(base, "quiet_hours:\n")
			j := strings.Index(base, "\ntypes:")
			if i < 0 || j < i {
				t.Fatal("default catalog has no quiet_hours section before types")
			}
			doc := base[:i] + tt.section + base[j:]
			_, err := policy.ParseCatalog([]byte(doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDefaultCatalogQuietRules(t *testing.T) {
	t.Parallel()
	rules := defaultCatalog(t).QuietRules()
	if len(rules) != 1 || rules[0].String() != "marketing: 20:00–08:00 on sms, whatsapp, rcs" {
		t.Fatalf("quiet rules %v", rules)
	}
}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestQuietHoursEnd(t *testing.T) {
	t.Parallel()
	berlin := mustZone(t, "Europe/Berlin")
	tokyo := mustZone(t, "Asia/Tokyo")
	q, err := policy.ParseQuietHours("20:00", "08:00")
	if err != nil {
		t.Fatal(err)
	}
	day, err := policy.ParseQuietHours("12:00", "14:00")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		q         policy.QuietHours
		at        time.Time
		loc       *time.Location
		wantQuiet bool
		wantEnd   time.Time
	}{
		{"23:00 Berlin is quiet until 08:00 next day", q, time.Date(2026, 11, 25, 23, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 26, 8, 0, 0, 0, berlin)},
		{"03:00 Berlin is quiet until 08:00 the same day", q, time.Date(2026, 11, 25, 3, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 25, 8, 0, 0, 0, berlin)},
		{"20:00 sharp is quiet", q, time.Date(2026, 11, 25, 20, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 26, 8, 0, 0, 0, berlin)},
		{"08:00 sharp is not quiet", q, time.Date(2026, 11, 25, 8, 0, 0, 0, berlin), berlin, false, time.Time{}},
		{"19:59 is not quiet", q, time.Date(2026, 11, 25, 19, 59, 0, 0, berlin), berlin, false, time.Time{}},
		{"14:00 UTC is 23:00 in Tokyo", q, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), tokyo, true, time.Date(2026, 11, 26, 8, 0, 0, 0, tokyo)},
		{"14:00 UTC is 15:00 in Berlin", q, time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC), berlin, false, time.Time{}},
		{"window without wrap, inside", day, time.Date(2026, 11, 25, 13, 0, 0, 0, berlin), berlin, true, time.Date(2026, 11, 25, 14, 0, 0, 0, berlin)},
		{"window without wrap, after", day, time.Date(2026, 11, 25, 14, 30, 0, 0, berlin), berlin, false, time.Time{}},
		{"night before spring DST change ends 08:00 CEST", q, time.Date(2026, 3, 28, 22, 0, 0, 0, berlin), berlin, true, time.Date(2026, 3, 29, 8, 0, 0, 0, berlin)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			end, quiet := tt.q.End(tt.at, tt.loc)
			if quiet != tt.wantQuiet || !end.Equal(tt.wantEnd) {
				t.Errorf("End(%s) = %s, %v; want %s, %v", tt.at, end, quiet, tt.wantEnd, tt.wantQuiet)
			}
		})
	}
}

func TestParseQuietHoursRejects(t *testing.T) {
	t.Parallel()
	for _, in := range [][2]string{{"20:00", "20:00"}, {"25:00", "08:00"}, {"20:00", "8"}} {
		if _, err := policy.ParseQuietHours(in[0], in[1]); err == nil {
			t.Errorf("policy.ParseQuietHours(%q, %q) accepted", in[0], in[1])
		}
	}
}
