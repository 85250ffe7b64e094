package campaign_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/app"
	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/campaign"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/smtpsink"
	"github.com/heroldhq/herold/internal/store"
)

const (
	keyAdmin     = "hrld_admin_secret"
	keyBilling   = "hrld_billing_secret"
	keyCampaigns = "hrld_campaign_secret"
)

type bundle struct {
	t      *testing.T
	h      *apptest.Herold
	store  *store.Store
	cat    *policy.Catalog
	engine *campaign.Engine
	sink   *smtpsink.Sink
	twilio *apptest.TwilioFake
	cfg    config.Campaigns // with the queue name of the test
	insp   *asynq.Inspector
	opts   apptest.Options
}

type setupOpts struct {
	now          func() time.Time
	shutdownFast bool
	noWorker     bool
}

func setup(t *testing.T, o setupOpts) *bundle {
	t.Helper()
	opts := apptest.Options{
		Role: app.Role{Name: "test", HTTP: true, Worker: !o.noWorker},
		Now:  o.now,
		Log:  slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Env: map[string]string{
			"HEROLD_SMS_STOP_NUMBER": "80888", "HEROLD_SMTP_FROM": "angebote@example.com", "HEROLD_SMTP_POOL_SIZE": "4",
			"HEROLD_CAMPAIGN_CHUNK_SIZE": "100", "HEROLD_CAMPAIGN_WORKERS": "2", "HEROLD_CAMPAIGN_SENDERS": "4",
			"HEROLD_CAMPAIGN_MAX_ATTEMPTS": "3", "HEROLD_CAMPAIGN_RETRY_BASE": "100ms", "HEROLD_CAMPAIGN_PAUSE_POLL": "200ms",
			"HEROLD_CAMPAIGN_MAX_UPLOAD": "1048576", "HEROLD_HTTP_MAX_BODY": "1048576",
			"HEROLD_API_KEYS": "admin:" + keyAdmin + ":*,billing:" + keyBilling + ":send:invoice+campaigns," +
				"marketing:" + keyCampaigns + ":campaigns+send:class:marketing",
		},
	}
	if o.shutdownFast {
		opts.ShutdownGrace = time.Millisecond
	}
	h := apptest.New(t, opts)
	cfg := h.Config.Campaigns
	cfg.Queue += h.Queues.Suffix
	return &bundle{t: t, h: h, store: h.Store, cat: h.Catalog, engine: h.Campaigns, sink: h.SMTP, twilio: h.Twilio,
		cfg: cfg, insp: h.Inspector, opts: opts}
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// person is a recipient of the tests' audiences.
type person struct {
	id       string
	email    string
	phone    string
	customer bool
	fromSale bool
	zone     string
}

func (b *bundle) put(p person) {
	b.t.Helper()
	in := recipient.Input{Kind: "prospect", Salutation: "Frau", FirstName: "Anna", LastName: "Schmidt", Locale: "de", TimeZone: p.zone}
	if p.customer {
		in.Kind = "customer"
		in.Contract = &recipient.ContractInput{StartedAt: "2024-01-01"}
	}
	if p.email != "" {
		in.Emails = []recipient.EmailInput{{Address: p.email, CollectedInSale: p.fromSale}}
	}
	if p.phone != "" {
		in.Mobile = &recipient.MobileInput{Number: p.phone, VerifiedAt: "2026-01-01T10:00:00Z"}
	}
	r, err := recipient.Parse(p.id, in, "DE")
	if err != nil {
		b.t.Fatal(err)
	}
	if _, _, err := b.store.PutRecipient(b.t.Context(), r); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bundle) event(id string, kind consent.Kind, purpose string, ch string, at time.Time) {
	b.t.Helper()
	if _, err := b.store.AppendConsent(b.t.Context(), message.RecipientID(id), consent.Event{
		Kind: kind, Purpose: purpose, Channel: ch, At: at, Source: consent.WebForm, Text: "Ja, ich möchte Angebote erhalten.",
	}); err != nil {
		b.t.Fatal(err)
	}
}

// create makes a promo_offer campaign for ids through the engine.
func (b *bundle) create(ids []message.RecipientID, edit func(*store.Campaign)) string {
	b.t.Helper()
	id, err := campaign.NewID()
	if err != nil {
		b.t.Fatal(err)
	}
	now := time.Now().UTC()
	c := store.Campaign{ID: id, Name: "Winter offer", Type: "promo_offer", Class: message.Marketing,
		Channels: []message.Channel{message.Email}, Data: map[string]map[string]any{"offer": offerData()},
		QuietStart: "20:00", QuietEnd: "08:00", CreatedAt: now, StartAt: now}
	if edit != nil {
		edit(&c)
	}
	if err := b.engine.Create(b.t.Context(), c, ids); err != nil {
		b.t.Fatal(err)
	}
	return id
}

func offerData() map[string]any {
	return map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99, "data_volume_gb": 40,
		"valid_until": "2026-12-31", "url": "https://www.example.com/angebot/allnet-40"}
}

// customers stores n customers named by format and their index, each with
// an address from the sale (advertising by e-mail on legitimate interest),
// and returns their ids.
func (b *bundle) customers(format string, n int) []message.RecipientID {
	b.t.Helper()
	ids := make([]message.RecipientID, n)
	for i := range n {
		id := fmt.Sprintf(format, i)
		b.put(person{id: id, email: id + "@example.com", customer: true, fromSale: true})
		ids[i] = message.RecipientID(id)
	}
	return ids
}

func (b *bundle) status(id string) store.CampaignStatus {
	b.t.Helper()
	st, err := b.engine.Status(b.t.Context(), id)
	if err != nil {
		b.t.Fatal(err)
	}
	return st
}

// waitFor polls cond until it holds; the deadline is generous, never a timing assert.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (b *bundle) waitState(id string, want store.CampaignState) store.CampaignStatus {
	b.t.Helper()
	var st store.CampaignStatus
	waitFor(b.t, "campaign "+string(want), func() bool { st = b.status(id); return st.State == want })
	return st
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

var toPattern = regexp.MustCompile(`(?m)^To: .*?<?([^<>\s]+@[^<>\s]+)>?\r?$`)

// perAddress counts the mails the sink got per recipient address.
func (b *bundle) perAddress() map[string]int {
	out := map[string]int{}
	for _, m := range b.sink.Mails() {
		for _, to := range m.To {
			out[to]++
		}
	}
	return out
}

func TestCampaignMixedConsentCountersAddUp(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := t.Context()
	past := time.Now().Add(-24 * time.Hour)
	const n = 1000
	ids := make([]message.RecipientID, n)
	capped := map[message.RecipientID]bool{}
	for i := range n {
		id := fmt.Sprintf("r%04d", i)
		ids[i] = message.RecipientID(id)
		addr := fmt.Sprintf("p%04d@example.com", i)
		switch i % 5 {
		case 0: // customer, address from the sale: legitimate interest
			if i%50 == 0 {
				addr = fmt.Sprintf("bounce%04d@example.com", i)
			}
			b.put(person{id: id, email: addr, customer: true, fromSale: true})
			if i%100 == 10 {
				capped[ids[i]] = true
			}
		case 1: // customer who objected to advertising
			b.put(person{id: id, email: addr, customer: true, fromSale: true})
			b.event(id, consent.Object, consent.Advertising, consent.AllChannels, past)
		case 2: // prospect without consent
			b.put(person{id: id, email: addr})
		case 3: // prospect with consent by e-mail
			b.put(person{id: id, email: addr})
			b.event(id, consent.Grant, consent.Advertising, string(message.Email), past)
		case 4: // unknown: never stored
		}
	}
	// Four advertising deliveries this week already: the catalog's cap.
	max, window := b.cat.FrequencyCap()
	for rid := range capped {
		for k := range max {
			o := store.Outcome{Recipient: rid, Status: store.OutcomeDelivered, Origin: store.ChunkOwner(0), DoneAt: time.Now().Add(-time.Hour)}
			if err := b.store.WriteOutcomes(ctx, store.Campaign{ID: fmt.Sprintf("seed%d", k), Type: "promo_offer"}, []store.Finished{{Outcome: o, Advertising: true, Window: window}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The oracle: what the policy says for each recipient right now.
	snaps, err := b.store.LoadFactsBatch(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	wantDelivered, wantFailed := int64(0), int64(0)
	for i, s := range snaps {
		f := s.Facts("promo_offer", message.Email, time.Now(), time.UTC)
		if capped[ids[i]] {
			f.RecentAdvertising = max
		}
		d := policy.Decide(b.cat, f)
		switch {
		case !d.Allowed:
			want[string(d.Reason)]++
		case i%50 == 0:
			wantFailed++
		default:
			wantDelivered++
		}
	}
	if want[string(policy.Objection)] != n/5 || want[string(policy.UnknownRecipient)] != n/5 || want[string(policy.FrequencyCap)] != int64(len(capped)) {
		t.Fatalf("test audience is not what it means to be: %v", want)
	}

	id := b.create(ids, nil)
	st := b.waitState(id, store.CampaignDone)
	c := st.Counters
	if c.Audience != n || c.Delivered+sum(c.Suppressed)+sum(c.Failed) != n || c.Queued != 0 {
		t.Fatalf("counters do not add up: %+v", c)
	}
	if c.Delivered != wantDelivered || c.Failed["hard_bounce"] != wantFailed {
		t.Errorf("delivered %d failed %v, want %d and %d hard bounces", c.Delivered, c.Failed, wantDelivered, wantFailed)
	}
	for reason, k := range want {
		if c.Suppressed[reason] != k {
			t.Errorf("suppressed %s = %d, want %d (all: %v)", reason, c.Suppressed[reason], k, c.Suppressed)
		}
	}
	if got := b.sink.Count(); int64(got) != wantDelivered {
		t.Errorf("sink got %d mails, want %d", got, wantDelivered)
	}
	for addr, k := range b.perAddress() {
		if k != 1 {
			t.Errorf("%s got %d mails", addr, k)
		}
	}
	// Each recipient's outcome is visible with its decision.
	o, err := b.engine.Outcome(ctx, id, "r0001")
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != "suppressed" || o.Decision == nil || o.Decision.Reason != policy.Objection || o.Decision.CatalogVersion != b.cat.Version() {
		t.Errorf("outcome of the objector: %+v", o)
	}
	o, err = b.engine.Outcome(ctx, id, "r0005")
	if err != nil {
		t.Fatal(err)
	}
	if o.Status != "delivered" || o.Decision == nil || !o.Decision.Allowed || o.Decision.Basis != policy.LegitimateInterest || o.MessageID != store.CampaignMessageID(id, "r0005") {
		t.Errorf("outcome of a customer: %+v %+v", o, o.Decision)
	}
	listed := 0
	for cursor := ""; ; {
		page, next, err := b.engine.Outcomes(ctx, id, cursor, 200)
		if err != nil {
			t.Fatal(err)
		}
		listed += len(page)
		if next == "" {
			break
		}
		cursor = next
	}
	if listed != n {
		t.Errorf("listing shows %d recipients, want %d", listed, n)
	}
}

func TestCampaignWithdrawalWhileRunningStopsThatRecipient(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	past := time.Now().Add(-24 * time.Hour)
	var ids []message.RecipientID
	for i := range 40 {
		id := fmt.Sprintf("w%02d", i)
		b.put(person{id: id, email: id + "@example.com"})
		b.event(id, consent.Grant, consent.Advertising, string(message.Email), past)
		ids = append(ids, message.RecipientID(id))
	}
	// 600 per minute: ten a second, so the last one goes out seconds after the first.
	id := b.create(ids, func(c *store.Campaign) { c.Throttle = 600 })
	waitFor(t, "first deliveries", func() bool { return b.status(id).Counters.Delivered >= 3 })
	b.event("w39", consent.Withdraw, consent.Advertising, string(message.Email), time.Now())
	st := b.waitState(id, store.CampaignDone)
	if st.Counters.Delivered != 39 || st.Counters.Suppressed[string(policy.ConsentWithdrawn)] != 1 {
		t.Fatalf("counters %+v, want 39 delivered and 1 consent_withdrawn", st.Counters)
	}
	if b.perAddress()["w39@example.com"] != 0 {
		t.Error("the withdrawn recipient got the mail")
	}
}

func TestCampaignPauseStopsAndResumeFinishes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ids := b.customers("p%03d", 200)
	id := b.create(ids, func(c *store.Campaign) { c.Throttle = 1200 })
	waitFor(t, "first deliveries", func() bool { return b.status(id).Counters.Delivered >= 10 })
	if _, err := b.engine.Pause(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	// Sending stops: the sink count settles (whatever was in flight lands) and stays.
	stable := stableCount(t, b.sink.Count)
	if stable >= len(ids) {
		t.Fatalf("pause came too late to test: %d sent", stable)
	}
	if st := b.status(id); st.State != store.CampaignPaused || st.Counters.Delivered != int64(stable) {
		t.Fatalf("paused campaign: %s, %d delivered, sink %d", st.State, st.Counters.Delivered, stable)
	}
	if _, err := b.engine.Resume(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	st := b.waitState(id, store.CampaignDone)
	if st.Counters.Delivered != int64(len(ids)) || b.sink.Count() != len(ids) {
		t.Fatalf("after resume: %d delivered, sink %d, want %d", st.Counters.Delivered, b.sink.Count(), len(ids))
	}
}

// stableCount waits until count has not changed for a second and returns it.
func stableCount(t *testing.T, count func() int) int {
	t.Helper()
	last, since := count(), time.Now()
	waitFor(t, "sending to stop", func() bool {
		if c := count(); c != last {
			last, since = c, time.Now()
		}
		return time.Since(since) > time.Second
	})
	return last
}

func TestCampaignCancelLeavesNothingQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ids := b.customers("c%03d", 300)
	id := b.create(ids, func(c *store.Campaign) { c.Throttle = 1200 })
	waitFor(t, "first deliveries", func() bool { return b.status(id).Counters.Delivered >= 10 })
	if err := b.engine.Cancel(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "an empty queue", func() bool {
		qi, err := b.insp.GetQueueInfo(b.cfg.Queue)
		return err == nil && qi.Pending+qi.Active+qi.Scheduled+qi.Retry == 0
	})
	sent := stableCount(t, b.sink.Count)
	st := b.status(id)
	c := st.Counters
	if st.State != store.CampaignCanceled || c.Queued != 0 || c.Waiting != 0 || c.Canceled == 0 {
		t.Fatalf("canceled campaign: %s %+v", st.State, c)
	}
	if c.Delivered != int64(sent) || c.Delivered+sum(c.Suppressed)+sum(c.Failed)+c.Canceled != c.Audience {
		t.Fatalf("counters %+v do not add up (sink %d)", c, sent)
	}
	if err := b.engine.Cancel(t.Context(), id); err != nil {
		t.Errorf("cancel twice: %v", err)
	}
	if _, err := b.engine.Resume(t.Context(), id); err == nil {
		t.Error("resumed a canceled campaign")
	}
}

func TestCampaignQuietHoursDelaySMSNotEmail(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	// The engine's clock shows 23:xx in Berlin, whatever the real time.
	real := time.Now().In(berlin)
	shift := time.Duration((23-real.Hour()+24)%24) * time.Hour
	now := func() time.Time { return time.Now().Add(shift) }
	b := setup(t, setupOpts{now: now})
	past := time.Now().Add(-24 * time.Hour)
	b.put(person{id: "mail", email: "mail@example.com"})
	b.event("mail", consent.Grant, consent.Advertising, string(message.Email), past)
	b.put(person{id: "phone", phone: "+4915112345678"})
	b.event("phone", consent.Grant, consent.Advertising, string(message.SMS), past)
	id := b.create([]message.RecipientID{"mail", "phone"}, func(c *store.Campaign) {
		c.Channels = []message.Channel{message.Email, message.SMS}
	})
	waitFor(t, "the e-mail", func() bool { return b.status(id).Counters.Delivered == 1 })
	waitFor(t, "the SMS to wait", func() bool { return b.status(id).Counters.Waiting == 1 })
	st := b.status(id)
	if st.State != store.CampaignRunning || st.Counters.Queued != 1 {
		t.Fatalf("campaign %s %+v, want running with the SMS queued", st.State, st.Counters)
	}
	if n := b.twilio.Accepted(); n != 0 {
		t.Fatalf("Twilio got %d SMS during quiet hours", n)
	}
	if b.sink.Count() != 1 {
		t.Fatalf("sink got %d mails, want 1", b.sink.Count())
	}
	o, _, err := b.engine.Outcomes(t.Context(), id, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range o {
		if r.RecipientID == "phone" && r.Status != "waiting" {
			t.Errorf("phone recipient is %s, want waiting", r.Status)
		}
	}
}

func TestCampaignKilledWorkerResumesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{shutdownFast: true})
	const n = 1000
	ids := b.customers("k%04d", n)
	id := b.create(ids, nil)
	waitFor(t, "a third sent", func() bool { return b.sink.Count() >= n/3 })
	b.h.Stop() // cancels the running chunks mid-send
	if d := b.status(id).Counters.Delivered; d >= n {
		t.Fatalf("the campaign finished before the kill (%d delivered)", d)
	}
	b.h = b.h.Again(t, b.opts)
	b.engine = b.h.Campaigns
	st := b.waitState(id, store.CampaignDone)
	if st.Counters.Delivered != n {
		t.Fatalf("delivered %d, want %d: %+v", st.Counters.Delivered, n, st.Counters)
	}
	per := b.perAddress()
	twice := 0
	for _, rid := range ids {
		switch k := per[string(rid)+"@example.com"]; {
		case k == 0:
			t.Errorf("%s never got the mail", rid)
		case k > 1:
			twice++
		}
	}
	// At most the messages in flight at the kill: Workers chunks × Senders each.
	if limit := b.cfg.Workers * b.cfg.Senders; twice > limit {
		t.Errorf("%d recipients got the mail twice, more than the %d in flight", twice, limit)
	}
	t.Logf("sent twice after the kill: %d", twice)
}

func (b *bundle) do(method, path, key, contentType string, body string) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequestWithContext(b.t.Context(), method, b.h.URL+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func TestCampaignAPIValidationUploadAndScopes(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{noWorker: true})
	later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	code, body := b.do("POST", "/v1/campaigns", keyAdmin, "application/json",
		`{"name":"","type":"nope","channels":["fax"],"send_at":"soon","audience":["ok","bad id"]}`)
	if code != http.StatusBadRequest {
		t.Fatalf("bad create: %d %s", code, body)
	}
	for _, field := range []string{`"name"`, `"type"`, `"channels[0]"`, `"send_at"`, `"audience[1]"`} {
		if !bytes.Contains(body, []byte(field)) {
			t.Errorf("answer does not name %s: %s", field, body)
		}
	}
	if code, body := b.do("POST", "/v1/campaigns", keyBilling, "application/json",
		`{"name":"x","type":"promo_offer"}`); code != http.StatusForbidden || !bytes.Contains(body, []byte("send:promo_offer")) {
		t.Errorf("billing key creating a promo campaign: %d %s", code, body)
	}
	if code, _ := b.do("POST", "/v1/campaigns", "", "application/json", `{}`); code != http.StatusUnauthorized {
		t.Errorf("no key: %d", code)
	}

	code, body = b.do("POST", "/v1/campaigns", keyCampaigns, "application/json",
		`{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"x","price":24.99,"valid_until":"2026-12-31","url":"https://www.example.com/x"}},"send_at":"`+later+`","throttle_per_minute":100}`)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	var created struct {
		ID    string              `json:"id"`
		State store.CampaignState `json:"state"`
	}
	if err := json.Unmarshal(body, &created); err != nil || created.State != store.CampaignScheduled {
		t.Fatalf("create answer %s: %v", body, err)
	}

	ndjson := "{\"recipient_id\":\"a1\"}\nnot json\n{\"recipient_id\":\"a2\"}\n{\"recipient_id\":\"bad id\"}\n\n{\"id\":\"x\"}\n{\"recipient_id\":\"a3\"}"
	code, body = b.do("POST", "/v1/campaigns/"+created.ID+"/audience", keyCampaigns, "application/x-ndjson", ndjson)
	if code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, body)
	}
	var rep campaign.UploadReport
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, e := range rep.Errors {
		lines = append(lines, e.Line)
	}
	if rep.Accepted != 3 || rep.Rejected != 3 || fmt.Sprint(lines) != "[2 4 6]" || rep.Audience != 3 {
		t.Errorf("report %+v, want 3 accepted and lines 2, 4, 6 rejected", rep)
	}
	csvBody := "name,recipient_id\nAnna,b1\nBert,\"b 2\"\nCarla,b3\n"
	code, body = b.do("POST", "/v1/campaigns/"+created.ID+"/audience", keyCampaigns, "text/csv", csvBody)
	if err := json.Unmarshal(body, &rep); code != http.StatusOK || err != nil || rep.Accepted != 2 || rep.Audience != 5 ||
		len(rep.Errors) != 1 || rep.Errors[0].Line != 3 {
		t.Errorf("csv upload: %d %s", code, body)
	}
	code, body = b.do("POST", "/v1/campaigns/"+created.ID+"/audience", keyCampaigns, "application/x-ndjson", "x\ny\n")
	if code != http.StatusBadRequest || !bytes.Contains(body, []byte("line 2")) {
		t.Errorf("all-bad upload: %d %s", code, body)
	}
	code, body = b.do("GET", "/v1/campaigns/"+created.ID, keyCampaigns, "", "")
	var view struct {
		State    store.CampaignState    `json:"state"`
		Counters store.CampaignCounters `json:"counters"`
	}
	if err := json.Unmarshal(body, &view); code != http.StatusOK || err != nil || view.Counters.Audience != 5 || view.Counters.Queued != 5 {
		t.Errorf("get: %d %s", code, body)
	}
	if code, _ := b.do("POST", "/v1/campaigns/"+created.ID+"/pause", keyCampaigns, "", ""); code != http.StatusOK {
		t.Errorf("pause: %d", code)
	}
	if code, _ := b.do("POST", "/v1/campaigns/"+created.ID+"/cancel", keyCampaigns, "", ""); code != http.StatusOK {
		t.Errorf("cancel: %d", code)
	}
	if code, body := b.do("POST", "/v1/campaigns/"+created.ID+"/audience", keyCampaigns, "application/x-ndjson", `{"recipient_id":"z"}`); code != http.StatusConflict {
		t.Errorf("upload to a canceled campaign: %d %s", code, body)
	}
	if code, _ := b.do("GET", "/v1/campaigns/cmp_nope", keyCampaigns, "", ""); code != http.StatusNotFound {
		t.Errorf("unknown campaign: %d", code)
	}
}

func TestCampaignRetriesTemporaryFailuresOnTheirOwn(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	var ids []message.RecipientID
	for i := range 20 {
		id := fmt.Sprintf("t%02d", i)
		addr := id + "@example.com"
		if i == 0 {
			addr = "later-" + id + "@example.com" // the sink answers 451 every time
		}
		b.put(person{id: id, email: addr, customer: true, fromSale: true})
		ids = append(ids, message.RecipientID(id))
	}
	id := b.create(ids, nil)
	// The others do not wait for the failing one.
	waitFor(t, "the 19 others", func() bool { return b.status(id).Counters.Delivered == 19 })
	st := b.waitState(id, store.CampaignDone)
	if st.Counters.Failed["retries_exhausted"] != 1 || st.Counters.Delivered != 19 {
		t.Fatalf("counters %+v, want 19 delivered and 1 retries_exhausted", st.Counters)
	}
	o, err := b.engine.Outcome(t.Context(), id, "t00")
	if err != nil {
		t.Fatal(err)
	}
	// Attempts counts every try, as a message record does (issue 14, point 9:
	// it used to count only the failed tries before the last).
	if o.Status != "failed" || o.Attempts != b.cfg.MaxAttempts || o.ErrorClass != "retries_exhausted" {
		t.Errorf("outcome %+v, want failed after %d attempts", o, b.cfg.MaxAttempts)
	}
	if o, err := b.engine.Outcome(t.Context(), id, "t01"); err != nil || o.Status != "delivered" || o.Attempts != 1 {
		t.Errorf("outcome of a first-try delivery %+v %v, want delivered after 1 attempt", o, err)
	}
}

func TestCampaignLocalSendTimePerTimeZone(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	b.put(person{id: "berlin", email: "berlin@example.com", customer: true, fromSale: true, zone: "Europe/Berlin"})
	b.put(person{id: "newyork", email: "newyork@example.com", customer: true, fromSale: true, zone: "America/New_York"})
	// A minute ago on Berlin's clock: due in Berlin, still hours ahead in New York.
	local := time.Now().In(berlin).Add(-time.Minute).Format("2006-01-02T15:04")
	id := b.create([]message.RecipientID{"berlin", "newyork"}, func(c *store.Campaign) { c.SendAt = local })
	waitFor(t, "Berlin's mail", func() bool { return b.status(id).Counters.Delivered == 1 })
	waitFor(t, "New York to wait", func() bool { return b.status(id).Counters.Waiting == 1 })
	if per := b.perAddress(); per["berlin@example.com"] != 1 || per["newyork@example.com"] != 0 {
		t.Errorf("sink got %v, want only Berlin's mail", per)
	}
}
