package console_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/console"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/store"
)

// renderBench measures what the server spends on one page: the request goes
// to Herold's handler in-process (no network), signed in as compliance.
func renderBench(b *testing.B, h *apptest.Herold, path, want string) {
	b.Helper()
	br := signedIn(b, h, console.Compliance)
	u, _ := url.Parse(h.URL + "/console/")
	cookies := br.c.Jar.Cookies(u)
	handler := h.Handler()
	get := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), want) {
		b.Fatalf("GET %s: %d, or %q missing:\n%.2000s", path, rec.Code, want, rec.Body.String())
	}
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		get()
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(b.N), "ms/page")
}

// BenchmarkPersonPage renders the page of a person with 1,000 consent
// events and 1,000 messages (profile, policy matrix of every type and
// channel, the newest page of ledger and messages).
func BenchmarkPersonPage(b *testing.B) {
	h := start(b, nil, nil)
	p := seedPerson(b, h, "c_bench", "bench@example.de")
	ctx := b.Context()
	base := time.Now().Add(-1000 * time.Hour).UTC()
	events := make([]consent.Event, 0, 100)
	for i := range 1000 {
		kind := consent.Grant
		if i%2 == 1 {
			kind = consent.Withdraw
		}
		events = append(events, consent.Event{Kind: kind, Purpose: consent.Advertising, Channel: "email", Source: consent.WebForm,
			At: base.Add(time.Duration(i) * time.Hour), Text: grantText, TextVersion: "v1"})
		if len(events) == 100 {
			if _, err := h.Store.AppendConsent(ctx, p.ID, events...); err != nil {
				b.Fatal(err)
			}
			events = events[:0]
		}
	}
	for i := range 1000 {
		d := policy.Decision{Allowed: true, Basis: policy.Contract, Reason: policy.Allowed, Rule: "invoice/email/contract",
			DecidedAt: base.Add(time.Duration(i) * time.Hour), Type: "invoice", Channel: message.Email, Recipient: p.ID,
			Evidence: []string{"contract:active"}}
		rec := &store.MessageRecord{ID: fmt.Sprintf("msg_bench%04d", i), Type: "invoice", Class: message.Transactional,
			RecipientID: p.ID, Status: store.StatusDelivered, Decision: &d, Decisions: []policy.Decision{d}, Channel: message.Email,
			CreatedAt: d.DecidedAt}
		if err := h.Store.CreateMessage(ctx, rec, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
	renderBench(b, h, "/console/people/c_bench", "msg_bench0999")
}

// BenchmarkCampaignPage renders the page of a campaign of 1,000,000
// recipients (all with an outcome) and a page of its per-recipient outcomes:
// neither reads the audience.
func BenchmarkCampaignPage(b *testing.B) {
	h := start(b, map[string]string{"HEROLD_CAMPAIGN_CHUNK_SIZE": "5000"}, nil)
	ctx := b.Context()
	const n = 1_000_000
	c := store.Campaign{ID: "cmp_bench", Name: "Million", Type: "promo_offer", Class: message.Marketing,
		Channels: []message.Channel{message.Email}, StartAt: time.Now().Add(24 * time.Hour), CreatedAt: time.Now()}
	if err := h.Campaigns.Create(ctx, c, nil); err != nil {
		b.Fatal(err)
	}
	pr, pw := io.Pipe()
	go func() {
		for i := range n {
			fmt.Fprintf(pw, "{\"recipient_id\":\"c_%07d\"}\n", i)
		}
		pw.Close()
	}()
	if rep, err := h.Campaigns.Upload(ctx, c.ID, pr, campaign.NDJSON); err != nil || rep.Accepted != n {
		b.Fatalf("upload: %+v %v", rep, err)
	}
	batch := make([]store.Finished, 0, 5000)
	now := time.Now().UTC()
	for i := range n {
		batch = append(batch, store.Finished{Outcome: store.Outcome{Recipient: message.RecipientID(fmt.Sprintf("c_%07d", i)),
			Status: store.OutcomeDelivered, Channel: message.Email, Basis: policy.LegitimateInterest, Reason: policy.Allowed,
			Rule: "promo_offer/email/legitimate_interest_existing_customer", Catalog: "bench", DecidedAt: now, DoneAt: now}})
		if len(batch) == cap(batch) {
			if err := h.Store.WriteOutcomes(ctx, c, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Run("campaign", func(b *testing.B) { renderBench(b, h, "/console/campaigns/cmp_bench", "1000000") })
	b.Run("outcomes", func(b *testing.B) {
		renderBench(b, h, "/console/campaigns/cmp_bench/recipients", "data-status=\"delivered\"")
	})
	b.Run("list", func(b *testing.B) { renderBench(b, h, "/console/campaigns", "cmp_bench") })
}
