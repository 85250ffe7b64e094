package delivery_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/feedback"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
	"github.com/heroldhq/herold/internal/token"
)

// capture is a sender that keeps what it is given.
type capture struct {
	mu  sync.Mutex
	out []channels.Outbound
}

func (c *capture) Send(_ context.Context, m channels.Outbound) (channels.Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append(c.out, m)
	return channels.Receipt{Provider: "capture"}, nil
}

// sealed tokens carry a random nonce; the links are compared without them.
var tokenInLink = regexp.MustCompile(`/(unsubscribe|preferences)/[A-Za-z0-9_.~-]+`)

// A campaign's recipients get, from its once-compiled templates, exactly
// what each would get rendered alone: same subject, text, HTML and links,
// with the personal values and data categories of each.
func TestPreparedSendsWhatRenderWould(t *testing.T) {
	t.Parallel()
	rdb, prefix := redistest.Client(t)
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Templates config.Templates
		Brand     config.Brand
	}
	if err := config.Load(&cfg, func(string) string { return "" }, nil); err != nil {
		t.Fatal(err)
	}
	sealer, err := token.NewSealer("prepared-test-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	opts := render.OptionsFromConfig(cfg.Templates, cfg.Brand)
	opts.Catalog, opts.Sealer, opts.PublicURL = cat, sealer, "https://herold.example.com"
	r, err := render.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sink := map[message.Channel]*capture{message.Email: {}, message.SMS: {}}
	d, err := delivery.New(delivery.Options{Catalog: cat, Renderer: r,
		Feedback: feedback.New(store.New(rdb, prefix), nil),
		Senders:  map[message.Channel]channels.Sender{message.Email: sink[message.Email], message.SMS: sink[message.SMS]}})
	if err != nil {
		t.Fatal(err)
	}

	now := time.Now().UTC()
	people := []recipient.Input{
		{Kind: "customer", Locale: "de", Salutation: "Frau", FirstName: "Anna", LastName: "Schmidt"},
		{Kind: "customer", Locale: "en", FirstName: "Ben <b>&", LastName: "O'Neil"},
		{Kind: "customer"},
		{Kind: "customer", Locale: "de", Salutation: "Herr", LastName: "Müller-Lüdenscheidt"},
	}
	for _, ch := range []message.Channel{message.Email, message.SMS} {
		spec := delivery.Spec{Type: "promo_offer", Class: message.Marketing, Channels: []message.Channel{ch}, CampaignID: "cmp_prep",
			Data: map[string]map[string]any{"offer": {"title": "Allnet Flat", "price": 19.99, "valid_until": "2026-12-31", "url": "https://example.com/o"}}}
		prepared := spec
		prepared.Prepared = d.Prepare(spec)
		if prepared.Prepared == nil {
			t.Fatal("the renderer cannot prepare")
		}
		for i, in := range people {
			in.Emails = []recipient.EmailInput{{Address: fmt.Sprintf("p%d@example.com", i), CollectedInSale: true}}
			in.Mobile = &recipient.MobileInput{Number: fmt.Sprintf("+4915112340%03d", i)}
			in.Contract = &recipient.ContractInput{StartedAt: "2024-01-01"}
			rec, err := recipient.Parse(fmt.Sprintf("K-%d", i), in, "DE")
			if err != nil {
				t.Fatal(err)
			}
			snap := recipient.Snapshot{ID: rec.ID, Found: true, Recipient: rec, Events: []consent.Event{{Kind: consent.Grant,
				Purpose: consent.Advertising, Channel: string(ch), At: now.Add(-time.Hour), Source: consent.WebForm, Text: "Ja."}}}
			for _, s := range []delivery.Spec{spec, prepared} {
				s.MessageID = fmt.Sprintf("cm.cmp_prep.%d", i)
				if res := d.Attempt(t.Context(), s, snap); res.Status != delivery.Delivered {
					t.Fatalf("%s %s: %v %s %v", ch, rec.ID, res.Status, res.Class, res.Err)
				}
			}
		}
		out := sink[ch].out
		if len(out) != 2*len(people) {
			t.Fatalf("%s: %d sent, want %d", ch, len(out), 2*len(people))
		}
		for i := 0; i < len(out); i += 2 {
			alone, shared := out[i], out[i+1]
			for _, m := range []*channels.Outbound{&alone, &shared} {
				m.Text, m.HTML, m.UnsubscribeURL = tokenInLink.ReplaceAllString(m.Text, "/$1/T"),
					tokenInLink.ReplaceAllString(m.HTML, "/$1/T"), tokenInLink.ReplaceAllString(m.UnsubscribeURL, "/$1/T")
			}
			if diff := cmp.Diff(alone, shared); diff != "" {
				t.Errorf("%s, person %d: prepared differs from rendered alone (-alone +prepared):\n%s", ch, i/2, diff)
			}
			if !strings.Contains(alone.Text, "/unsubscribe/T") {
				t.Errorf("%s: advertising without an unsubscribe link:\n%s", ch, alone.Text)
			}
		}
	}
}
