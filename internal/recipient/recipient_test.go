package recipient_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/recipient"
)

func customer(t *testing.T, id string) recipient.Recipient {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{
		Kind: "customer", Salutation: "Frau", FirstName: "Erika", LastName: "Mustermann",
		Emails:   []recipient.EmailInput{{Address: "Erika.M@Example.DE", CollectedInSale: true}, {Address: "erika@privat.example"}},
		Mobile:   &recipient.MobileInput{Number: "0151 23456789", VerifiedAt: "2025-01-02T10:00:00Z"},
		Locale:   "de",
		TimeZone: "Europe/Berlin",
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"max@example.de", "max@example.de", true},
		{"Max.Mustermann@EXAMPLE.De", "Max.Mustermann@example.de", true},
		{"  max@example.de ", "max@example.de", true},
		{"max+news@sub.example.co.uk", "max+news@sub.example.co.uk", true},
		{"", "", false},
		{"max", "", false},
		{"max@", "", false},
		{"@example.de", "", false},
		{"Max <max@example.de>", "", false},
		{"max@localhost", "", false},
		{"max@example.de, eva@example.de", "", false},
		{"max@@example.de", "", false},
		{strings.Repeat("a", 250) + "@example.de", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := recipient.NormalizeEmail(tt.in)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestNormalizeMobile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, region, want string
		ok                     bool
	}{
		{"german national", "0151 23456789", "DE", "+4915123456789", true},
		{"german international", "+49 (151) 234-567-89", "DE", "+4915123456789", true},
		{"00 prefix", "0049 151 23456789", "DE", "+4915123456789", true},
		{"lower-case region", "0151 23456789", "de", "+4915123456789", true},
		{"austrian mobile with DE default", "+43 664 1234567", "DE", "+436641234567", true},
		{"us fixed line or mobile", "+1 201 555 0123", "DE", "+12015550123", true},
		{"uk national with GB", "07400 123456", "GB", "+447400123456", true},
		{"german landline", "030 12345678", "DE", "", false},
		{"too short", "0151 2", "DE", "", false},
		{"letters", "call me", "DE", "", false},
		{"empty", "", "DE", "", false},
		{"national without region", "0151 23456789", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := recipient.NormalizeMobile(tt.in, tt.region)
			if (err == nil) != tt.ok || got != tt.want {
				t.Fatalf("NormalizeMobile(%q, %q) = %q, %v; want %q, ok=%v", tt.in, tt.region, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseRecipientNamesEveryBadField(t *testing.T) {
	t.Parallel()
	_, err := recipient.Parse("c 1", recipient.Input{
		Kind:          "lead",
		FirstName:     "Eri\x00ka",
		Emails:        []recipient.EmailInput{{Address: "ok@example.de"}, {Address: "nope"}, {Address: "OK@example.de"}},
		Mobile:        &recipient.MobileInput{Number: "030 12345678", VerifiedAt: "yesterday"},
		PostalAddress: &recipient.PostalAddress{Country: "Germany"},
		Locale:        "fr",
		TimeZone:      "Mars/Olympus",
		Contract:      &recipient.ContractInput{StartedAt: "2024-05-01", EndedAt: "2024-04-01"},
	}, "DE")
	var ve *invalid.Error
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	var got []string
	for _, f := range ve.Fields {
		got = append(got, f.Field)
	}
	want := []string{"id", "kind", "first_name", "emails[1].address", "emails[2].address", "mobile.number",
		"mobile.verified_at", "postal_address.country", "locale", "time_zone", "contract.ended_at"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("fields (-want +got):\n%s\n%v", diff, err)
	}
}

func TestParseRecipientKindRequired(t *testing.T) {
	t.Parallel()
	_, err := recipient.Parse("c-1", recipient.Input{}, "DE")
	var ve *invalid.Error
	if !errors.As(err, &ve) || len(ve.Fields) != 1 || ve.Fields[0].Field != "kind" {
		t.Fatalf("got %v, want only kind", err)
	}
	if p := ve.WithPrefix("recipient."); p.Fields[0].Field != "recipient.kind" || ve.Fields[0].Field != "kind" {
		t.Fatalf("WithPrefix: %+v (original %+v)", p.Fields, ve.Fields)
	}
}

func TestRecipientAddress(t *testing.T) {
	t.Parallel()
	r := customer(t, "c-1")
	for ch, want := range map[message.Channel]string{
		message.Email: "Erika.M@example.de", message.SMS: "+4915123456789",
		message.WhatsApp: "+4915123456789", message.RCS: "+4915123456789",
	} {
		if got := r.Address(ch); got != want {
			t.Errorf("Address(%s) = %q, want %q", ch, got, want)
		}
	}
	if got := (recipient.Recipient{}).Address(message.Email); got != "" {
		t.Errorf("empty recipient: %q", got)
	}
}

// Normalising is idempotent: what the parsers accept, they accept again unchanged.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"max@example.de", "Max@EXAMPLE.de", "0151 23456789", "+49 151 23456789", "+1 201 555 0123", "a@b", "\"a b\"@example.de", "0049-151-2345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if e, err := recipient.NormalizeEmail(s); err == nil {
			if again, err := recipient.NormalizeEmail(e); err != nil || again != e {
				t.Fatalf("email %q → %q → %q, %v", s, e, again, err)
			}
		}
		if n, err := recipient.NormalizeMobile(s, "DE"); err == nil {
			if !strings.HasPrefix(n, "+") {
				t.Fatalf("mobile %q → %q is not E.164", s, n)
			}
			if again, err := recipient.NormalizeMobile(n, "ZZ"); err != nil || again != n {
				t.Fatalf("mobile %q → %q → %q, %v", s, n, again, err)
			}
		}
	})
}

// A parsed recipient survives its own round trip through the input form.
func FuzzParseRecipient(f *testing.F) {
	f.Add("customer", "Erika", "erika@example.de", "0151 23456789", "Europe/Berlin", "2024-01-01", "")
	f.Add("prospect", "", "", "", "", "", "")
	f.Add("customer", "Max\n", "x@y", "030 1234", "Local", "2024-02-30", "2023-01-01")
	f.Fuzz(func(t *testing.T, kind, name, email, mobile, tz, start, end string) {
		in := recipient.Input{Kind: kind, FirstName: name, TimeZone: tz}
		if email != "" {
			in.Emails = []recipient.EmailInput{{Address: email}}
		}
		if mobile != "" {
			in.Mobile = &recipient.MobileInput{Number: mobile}
		}
		if start != "" || end != "" {
			in.Contract = &recipient.ContractInput{StartedAt: start, EndedAt: end}
		}
		r, err := recipient.Parse("fuzz-1", in, "DE")
		if err != nil {
			var ve *invalid.Error
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("error without fields: %v", err)
			}
			return
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("parsed recipient does not validate: %v", err)
		}
		again, err := recipient.Parse("fuzz-1", r.Input(), "ZZ")
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

func TestPatch(t *testing.T) {
	t.Parallel()
	cur := customer(t, "c-1")
	next, err := recipient.Patch(cur, map[string]any{
		"first_name": "Erica",
		"company":    nil,
		"mobile":     map[string]any{"number": "+49 160 1234567"},
		"emails":     []any{map[string]any{"address": "new@example.de"}},
	}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if next.FirstName != "Erica" || next.LastName != "Mustermann" {
		t.Errorf("names %q %q", next.FirstName, next.LastName)
	}
	if len(next.Emails) != 1 || next.Emails[0].Address != "new@example.de" || next.Emails[0].CollectedInSale {
		t.Errorf("emails %+v: an array is replaced as a whole", next.Emails)
	}
	if next.Mobile.Number != "+491601234567" || !next.Mobile.VerifiedAt.IsZero() {
		t.Errorf("mobile %+v: a new number loses the old verification", next.Mobile)
	}
	kept, err := recipient.Patch(cur, map[string]any{"mobile": map[string]any{"number": "+49 151 23456789"}}, "DE")
	if err != nil || kept.Mobile.VerifiedAt.IsZero() {
		t.Errorf("the same number keeps its verification: %+v, %v", kept.Mobile, err)
	}
	_, err = recipient.Patch(cur, map[string]any{"locale": "fr", "kind": nil}, "DE")
	ve, ok := invalid.As(err)
	if !ok || len(ve.Fields) != 2 {
		t.Fatalf("bad patch: %v", err)
	}
}

func TestSnapshotFacts(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	if f := (recipient.Snapshot{ID: "gone"}).Facts("invoice", message.Email, at, time.UTC); f.Recipient != nil {
		t.Fatalf("an unknown recipient has no facts: %+v", f.Recipient)
	}
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	zones := recipient.NewZones(loc)
	r := customer(t, "c-1")
	f := recipient.Snapshot{ID: "c-1", Found: true, Recipient: r, RecentAdvertising: 3}.Facts("promo_offer", message.SMS, at, zones.Of(r))
	p := f.Recipient
	switch {
	case p == nil:
		t.Fatal("no recipient facts")
	case !p.HasEmail || !p.EmailFromSale || !p.HasPhone || p.PhoneVerifiedAt.IsZero():
		t.Errorf("contact facts %+v", p)
	case p.ContractEvidence != "contract_dates:2024-01-01/..":
		t.Errorf("contract evidence %q", p.ContractEvidence)
	case f.RecentAdvertising != 3 || f.Local.String() != "Europe/Berlin":
		t.Errorf("frequency count %d, zone %v", f.RecentAdvertising, f.Local)
	}
	if zones.Get("") != loc || zones.Get("America/New_York").String() != "America/New_York" || zones.Get("Mars/Olympus") != loc {
		t.Error("zones: default for none and for unknown names")
	}
	var none *recipient.Zones
	if none.Of(r) != time.UTC {
		t.Error("a nil *Zones resolves to UTC")
	}
}
