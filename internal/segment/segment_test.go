package segment_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/segment"
)

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func catalog(t testing.TB) *policy.Catalog {
	t.Helper()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func mustCompile(t *testing.T, cat *policy.Catalog, expr string) *segment.Segment {
	t.Helper()
	s, err := segment.Compile(expr, cat)
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	return s
}

func snap(id string, edit func(*recipient.Recipient), events ...consent.Event) recipient.Snapshot {
	r := recipient.Recipient{ID: message.RecipientID(id), Kind: policy.Customer, Locale: "de",
		Emails:    []recipient.Email{{Address: id + "@example.de", CollectedInSale: true}},
		Contract:  &recipient.Contract{StartedAt: now.AddDate(-2, 0, 0)},
		CreatedAt: now.AddDate(0, 0, -10), UpdatedAt: now.AddDate(0, 0, -1)}
	if edit != nil {
		edit(&r)
	}
	return recipient.Snapshot{ID: r.ID, Found: true, Recipient: r, Events: events}
}

func ev(kind consent.Kind, purpose, ch string, at time.Time) consent.Event {
	return consent.Event{ID: fmt.Sprint(kind, purpose, ch, at.Unix()), Kind: kind, Purpose: purpose, Channel: ch, At: at, Source: consent.WebForm}
}

// env decides reachable with the policy, as a delivery's decision does
// (the delivery core adds only the address re-check).
func env(cat *policy.Catalog) *segment.Env {
	return &segment.Env{Now: now, Catalog: cat, Reachable: func(t message.Type, ch message.Channel, sn recipient.Snapshot, at time.Time) bool {
		return policy.Decide(cat, sn.Facts(t, ch, at, time.UTC)).Allowed
	}}
}

func TestMatch(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	day := 24 * time.Hour
	dsl := func(r *recipient.Recipient) {
		r.Attributes = recipient.Attributes{"product": []any{"dsl", "tv"}, "lines": 2.0, "tariff": "L", "vip": true, "score": "7.5"}
	}
	tests := []struct {
		expr string
		snap recipient.Snapshot
		want bool
	}{
		{"kind = customer", snap("a", nil), true},
		{"kind = prospect", snap("a", nil), false},
		{"kind != prospect and locale = de", snap("a", nil), true},
		{"locale = en or locale = de", snap("a", nil), true},
		{"not (locale = de)", snap("a", nil), false},
		{"locale exists", snap("a", func(r *recipient.Recipient) { r.Locale = "" }), false},
		{"locale != de", snap("a", func(r *recipient.Recipient) { r.Locale = "" }), true},
		{"time_zone = Europe/Berlin", snap("a", func(r *recipient.Recipient) { r.TimeZone = "Europe/Berlin" }), true},
		{"id in [a, b]", snap("b", nil), true},
		{"attributes.product in [dsl]", snap("a", dsl), true},
		{"attributes.product = tv", snap("a", dsl), true},
		{"attributes.product not in [mobile]", snap("a", dsl), true},
		{"attributes.product in [mobile]", snap("a", dsl), false},
		{"attributes.lines >= 2 and attributes.lines < 3", snap("a", dsl), true},
		{"attributes.lines = 2", snap("a", dsl), true},
		{"attributes.score > 7", snap("a", dsl), true},
		{"attributes.vip = true", snap("a", dsl), true},
		{"attributes.tariff = 'L'", snap("a", dsl), true},
		{"attributes.tariff exists and not exists(attributes.nope)", snap("a", dsl), true},
		{"attributes.product in [dsl]", snap("a", nil), false},
		{"attributes.product != dsl", snap("a", nil), true},
		{"contract.state = active", snap("a", nil), true},
		{"contract.state = none", snap("a", func(r *recipient.Recipient) { r.Contract = nil }), true},
		{"contract.state = ended", snap("a", func(r *recipient.Recipient) { r.Contract.EndedAt = now.Add(-10 * day) }), true},
		{"contract.state = blocked", snap("a", func(r *recipient.Recipient) { r.Contract.EndedAt = now.AddDate(0, -4, 0) }), true},
		{"contract.started_at < 2025-01-01", snap("a", nil), true},
		{"contract.ended_at exists", snap("a", nil), false},
		{"created_at > now-30d", snap("a", nil), true},
		{"created_at > now-7d", snap("a", nil), false},
		{`updated_at >= "2026-11-24T00:00:00Z"`, snap("a", nil), true},
		{"open_request", snap("a", func(r *recipient.Recipient) { r.OpenRequest = true }), true},
		{"open_request = false", snap("a", nil), true},
		{"mobile exists", snap("a", nil), false},
		{"email exists", snap("a", nil), true},
		{"consent(advertising, sms)", snap("a", nil, ev(consent.Grant, "advertising", "all", now.Add(-day))), true},
		{"consent(advertising, sms) = withdrawn", snap("a", nil, ev(consent.Grant, "advertising", "all", now.Add(-2*day)), ev(consent.Withdraw, "advertising", "sms", now.Add(-day))), true},
		{"consent(advertising, email) = granted", snap("a", nil, ev(consent.Grant, "advertising", "all", now.Add(-2*day)), ev(consent.Withdraw, "advertising", "sms", now.Add(-day))), true},
		{"consent(advertising, all) = none", snap("a", nil), true},
		{"consent(advertising, email) in [objected, withdrawn]", snap("a", nil, ev(consent.Object, "advertising", "email", now.Add(-day))), true},
		{"consent(advertising, email) not in [objected]", snap("a", nil), true},
		{"list(news)", snap("a", nil, ev(consent.DOIRequest, "newsletter:news", "email", now.Add(-2*day)), ev(consent.DOIConfirm, "newsletter:news", "email", now.Add(-day))), true},
		{"list(news) = pending", snap("a", nil, ev(consent.DOIRequest, "newsletter:news", "email", now.Add(-2*day))), true},
		{"list(news) = none", snap("a", nil, ev(consent.DOIRequest, "newsletter:news", "email", now.Add(-40*day))), true},
		{"list(news) != confirmed", snap("a", nil), true},
		// The policy decides reachable: legitimate interest by e-mail to a
		// customer whose address came from a sale ...
		{"reachable(promo_offer, email)", snap("a", nil), true},
		// ... but not after an objection, and never by SMS without consent.
		{"reachable(promo_offer, email)", snap("a", nil, ev(consent.Object, "advertising", "all", now.Add(-day))), false},
		{"reachable(promo_offer, sms)", snap("a", func(r *recipient.Recipient) { r.Mobile = &recipient.Mobile{Number: "+4915123456789"} }), false},
		{"not reachable(promo_offer, email) or kind = customer", snap("a", nil), true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			if got := mustCompile(t, cat, tt.expr).Match(tt.snap, env(cat)); got != tt.want {
				t.Fatalf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchNeverMatchesAnUnknownRecipient(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	if mustCompile(t, cat, "not kind = customer").Match(recipient.Snapshot{ID: "x"}, env(cat)) {
		t.Fatal("an unknown recipient matched")
	}
}

// Each bad expression names the bad part and its column.
func TestCompileNamesTheBadPart(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	tests := []struct{ expr, want string }{
		{"", "missing"},
		{"kind = customer and", "at column 20: want a condition"},
		{"kind = customr", `at column 8: kind is customer or prospect, not "customr"`},
		{"knd = customer", `at column 1: unknown field "knd"`},
		{"kind = customer locale = de", `at column 17: unexpected "locale": join conditions with and / or`},
		{"(kind = customer", "want ) to close the ( at column 1"},
		{"attributes.Product = x", `"Product" is not a valid attribute key`},
		{"attributes.lines > many", `attributes.lines > wants a number, not "many"`},
		{"reachable(promo_offr, email)", `at column 11: unknown message type "promo_offr"`},
		{"reachable(newsletter, sms)", `at column 23: type newsletter does not use channel "sms"`},
		{"reachable(promo_offer)", "reachable wants (type, channel), got 1 argument(s)"},
		{"reachable(promo_offer, email) = true", "reachable(…) is a condition of its own"},
		{"consent(advertisng!, email)", `a lone "!"`},
		{"consent(advertising, fax)", `at column 22: unknown channel "fax"`},
		{"consent(advertising, email) = given", `consent(…) is none, granted, withdrawn, objected, doi_pending, not "given"`},
		{"list(newz)", `unknown newsletter list "newz" (the catalog has news`},
		{"consent(newsletter:newz, email)", `unknown newsletter list "newz"`},
		{"created_at > yesterday", `"yesterday" is not a time`},
		{"created_at > now-30y", "the unit is d (days), h (hours) or w (weeks)"},
		{"time_zone = Mars/Olympus", `"Mars/Olympus" is not an IANA time zone`},
		{"kind in []", "an empty list"},
		{"locale > de", "locale compares with = != or in, not >"},
		{"email = x", "email can only be tested with exists"},
		{"frobnicate(x)", `unknown function "frobnicate"`},
		{"kind = 'customer", "a string that is never closed"},
		{"kind = customer & locale = de", `unexpected character '&'`},
		{strings.Repeat("(", 100) + "kind = customer" + strings.Repeat(")", 100), "nested deeper than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			t.Parallel()
			_, err := segment.Compile(tt.expr, cat)
			ie, ok := invalid.As(err)
			if !ok || len(ie.Fields) != 1 || ie.Fields[0].Field != segment.Field {
				t.Fatalf("want one invalid field %q, got %v", segment.Field, err)
			}
			if !strings.Contains(ie.Fields[0].Message, tt.want) {
				t.Fatalf("message %q does not contain %q", ie.Fields[0].Message, tt.want)
			}
		})
	}
}

func TestNeeds(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	for expr, want := range map[string]segment.Needs{
		"kind = customer and attributes.x = 1": {},
		"consent(survey, email)":               {Ledger: true},
		"list(news)":                           {Ledger: true},
		"reachable(invoice, email)":            {Ledger: true},
		"reachable(promo_offer, email)":        {Ledger: true, Advertising: true},
	} {
		if got := mustCompile(t, cat, expr).Needs(); got != want {
			t.Errorf("%s: Needs = %+v, want %+v", expr, got, want)
		}
	}
}

// memLoader is an in-memory population for the scan's own logic (ordering,
// batching, limits); internal/store's loader is tested on Redis.
type memLoader struct {
	snaps   []recipient.Snapshot // in id order
	loads   atomic.Int64
	ledgers atomic.Int64
}

func (m *memLoader) RecipientIDs(_ context.Context, after message.RecipientID, n int) ([]message.RecipientID, error) {
	i, _ := slices.BinarySearchFunc(m.snaps, after, func(s recipient.Snapshot, id message.RecipientID) int {
		return strings.Compare(string(s.ID), string(id))
	})
	if i < len(m.snaps) && m.snaps[i].ID == after {
		i++
	}
	var out []message.RecipientID
	for ; i < len(m.snaps) && len(out) < n; i++ {
		out = append(out, m.snaps[i].ID)
	}
	return out, nil
}

func (m *memLoader) Snapshots(_ context.Context, ids []message.RecipientID, ledger bool, _ time.Time) ([]recipient.Snapshot, error) {
	m.loads.Add(1)
	if ledger {
		m.ledgers.Add(1)
	}
	out := make([]recipient.Snapshot, len(ids))
	for i, id := range ids {
		j, _ := slices.BinarySearchFunc(m.snaps, id, func(s recipient.Snapshot, id message.RecipientID) int {
			return strings.Compare(string(s.ID), string(id))
		})
		out[i] = m.snaps[j]
		if !ledger {
			out[i].Events = nil
		}
	}
	return out, nil
}

func population(n int) *memLoader {
	m := &memLoader{}
	for i := range n {
		id := fmt.Sprintf("r%05d", i)
		m.snaps = append(m.snaps, snap(id, func(r *recipient.Recipient) {
			if i%3 == 0 {
				r.Kind = policy.Prospect
			}
		}))
	}
	return m
}

func TestScanHandsOutMembersInOrder(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	m := population(2345)
	var got []message.RecipientID
	st, err := segment.Scan(t.Context(), m, mustCompile(t, cat, "kind = prospect"), *env(cat),
		segment.ScanOptions{Batch: 100, Workers: 3}, func(members []recipient.Snapshot) error {
			for _, s := range members {
				got = append(got, s.ID)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	var want []message.RecipientID
	for i := 0; i < 2345; i += 3 {
		want = append(want, message.RecipientID(fmt.Sprintf("r%05d", i)))
	}
	if !slices.Equal(got, want) || st.Scanned != 2345 || st.Matched != len(want) {
		t.Fatalf("got %d members (scanned %d, matched %d), want %d in id order", len(got), st.Scanned, st.Matched, len(want))
	}
	if m.ledgers.Load() != 0 {
		t.Fatal("a segment on the profile alone loaded ledgers")
	}
}

func TestScanPagesWithLimitAndCursor(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	m := population(1000)
	seg := mustCompile(t, cat, "kind = customer")
	var all []message.RecipientID
	after := message.RecipientID("")
	for page := 0; ; page++ {
		var got []message.RecipientID
		st, err := segment.Scan(t.Context(), m, seg, *env(cat), segment.ScanOptions{After: after, Batch: 64, Workers: 2, Limit: 150},
			func(members []recipient.Snapshot) error {
				for _, s := range members {
					got = append(got, s.ID)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, got...)
		if !st.More {
			break
		}
		if len(got) != 150 || st.Last != got[len(got)-1] {
			t.Fatalf("page %d: %d members, last %s, stats %+v", page, len(got), got[len(got)-1], st)
		}
		after = st.Last
	}
	if len(all) != 666 || !slices.IsSorted(all) || len(slices.Compact(slices.Clone(all))) != 666 {
		t.Fatalf("paged %d members (want 666 customers, each once, in order)", len(all))
	}
}

func TestScanStopsOnTheCallersError(t *testing.T) {
	t.Parallel()
	cat := catalog(t)
	m := population(5000)
	stop := fmt.Errorf("enough")
	calls := 0
	_, err := segment.Scan(t.Context(), m, nil, *env(cat), segment.ScanOptions{Batch: 10, Workers: 4}, func([]recipient.Snapshot) error {
		calls++
		if calls == 3 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 3 {
		t.Fatalf("err %v after %d calls, want the caller's error after 3", err, calls)
	}
}
