package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/recipient"
)

// The routes whose request bodies FuzzRequestBodies fuzzes, by the low two
// bits of an input's first byte.
const (
	fuzzMessages  = iota // POST /v1/messages
	fuzzPut              // PUT /v1/recipients/fz-put
	fuzzConsents         // POST /v1/recipients/fz-cons/consents
	fuzzCampaigns        // POST /v1/campaigns
	fuzzRoutes
)

const fuzzKey = "hrld_fuzz_admin_secret"

// fuzzSlots are valid bodies of each route with one value left open: an
// input whose route byte says so (bits 2-4, see splice) is put there as a
// raw JSON fragment, so most inputs are valid JSON that reaches the checks
// behind the decoder, with a hostile value where a producer's data goes.
var fuzzSlots = [fuzzRoutes][]string{
	fuzzMessages: {
		`{"type":"invoice","recipient_id":"fz-msg","channels":["email"],"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":%s,"due_date":"2026-12-03","url":"https://x.example"}}}`,
		`{"type":"invoice","recipient_id":"fz-msg","channels":["sms"],"data":{"invoice":{"number":%s,"period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`,
		`{"type":"promo_offer","recipient_id":"fz-msg","data":%s}`,
		`{"type":"invoice","recipient_id":"fz-msg","channels":%s,"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`,
		`{"type":"invoice","recipient_id":"fz-msg","send_at":%s,"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`,
		`{"type":"invoice","recipient":%s,"channels":["email"],"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`,
	},
	fuzzPut: {
		`{"kind":"customer","emails":%s,"contract":{"started_at":"2024-01-01"}}`,
		`{"kind":"customer","emails":[{"address":"a@example.com"}],"mobile":%s}`,
		`{"kind":"customer","first_name":%s,"last_name":"Schmidt","emails":[{"address":"a@example.com"}]}`,
		`{"kind":"customer","emails":[{"address":"a@example.com"}],"contract":%s}`,
		`{"kind":%s,"time_zone":"Europe/Berlin","locale":"de"}`,
	},
	fuzzConsents: {
		`{"kind":"grant","purpose":"advertising","channel":"email","source":"web_form","text":%s}`,
		`{"kind":"grant","purpose":"advertising","channel":"sms","source":"web_form","text":"Ja","at":%s}`,
		`{"kind":"object","purpose":"advertising","channel":"all","source":"phone","ip":%s}`,
		`{"events":%s}`,
	},
	fuzzCampaigns: {
		`{"name":"Winter","type":"promo_offer","channels":["email"],"data":%s,"audience":["fz-camp"]}`,
		`{"name":"Winter","type":"promo_offer","channels":["email"],"send_at":%s,"data":{"offer":{"title":"A","price":1,"valid_until":"2026-12-31","url":"u"}},"audience":["fz-camp"]}`,
		`{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"A","price":1,"valid_until":"2026-12-31","url":"u"}},"audience":%s}`,
		`{"name":%s,"type":"invoice","data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"u"}},"throttle_per_minute":6000,"audience":["fz-camp"]}`,
		`{"name":"Winter","type":"promo_offer","channels":["email"],"quiet_hours":%s,"data":{"offer":{"title":"A","price":1,"valid_until":"2026-12-31","url":"u"}},"audience":["fz-camp"]}`,
	},
}

// splice returns the body an input stands for: the input itself (mode 0)
// or the input put into slot mode-1 of the route's fuzzSlots.
func splice(route, mode byte, body []byte) []byte {
	if mode == 0 {
		return body
	}
	slots := fuzzSlots[route]
	return []byte(strings.Replace(slots[int(mode-1)%len(slots)], "%s", string(body), 1))
}

// fuzzSeeds are the inputs of issue 14 and their neighbours: they run in
// every `go test` (CI), the fuzzer mutates them.
var fuzzSeeds = []struct {
	route byte
	body  string
}{
	// Defect 1: a number beyond float64 made a record nobody could read or erase.
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1e999,"due_date":"2026-12-03","url":"https://x.example"}}}`},
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","data":{"invoice":{"amount":-1e400,"lines":[{"n":1e-999}]}}}`},
	// Defect 2: digits beyond float64's precision.
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","channels":["email"],"data":{"invoice":{"number":12345678901234567890,"period":"November 2026","amount":12345678901234567890.125,"due_date":"2026-12-03","url":"https://x.example"}}}`},
	// Defect 3: send_at far ahead.
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","send_at":"2027-09-27T09:00:00Z","data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`},
	// Defect 10: missing template data.
	{fuzzMessages, `{"type":"promo_offer","recipient_id":"fz-msg","channels":["sms"],"data":{}}`},
	{fuzzMessages, `{"type":"promo_offer","recipient_id":"fz-msg","channels":["sms","email"],"data":{"offer":{"title":"Allnet","price":"24,99","valid_until":"morgen","url":"u"}}}`},
	// Accepted ones, by e-mail, SMS and an inline recipient.
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","data":{"invoice":{"number":"RE-1","period":"November 2026","amount":29.98,"currency":"EUR","due_date":"2026-12-03","direct_debit":true,"url":"https://service.example.com/r/1"}}}`},
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","channels":["sms"],"data":{"invoice":{"period":"November 2026","amount":29.98,"due_date":"2026-12-03","url":"https://x.example"}}}`},
	{fuzzMessages, `{"type":"invoice","recipient":{"id":"fz-inline","kind":"customer","emails":[{"address":"inline@example.com"}],"contract":{"started_at":"2024-01-01"}},"channels":["email"],"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"https://x.example"}}}`},
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","idempotency_key":"k1","locale":"en","channels":["email"],"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":0,"due_date":"2026-12-03T10:00:00Z","url":"https://x.example"}}}`},
	{fuzzMessages, `{"type":"newsletter","recipient_id":"fz-msg","data":{"newsletter":{"list_name":"N","edition":"1","headline":"H","intro":"I","url":"u","items":[{"title":"a","text":"b","url":"c"},{"title":null}]}}}`},
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","data":{"invoice":{"number":"RE-\u0000\ud800","period":"\u2028","amount":1,"due_date":"2026-12-03","url":"javascript:alert(1)"}}}`},
	{fuzzMessages, `{"type":"invoice","recipient_id":"fz-msg","data":{"invoice":{"number":[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]],"period":{},"amount":true,"due_date":"","url":""}}}`},
	{fuzzMessages, `{}`},
	{fuzzMessages, `[]`},
	{fuzzMessages, ``},
	// Recipients.
	{fuzzPut, `{"kind":"customer","salutation":"Frau","first_name":"Anna","last_name":"Schmidt","emails":[{"address":"anna@example.com"}],"mobile":{"number":"+4915112345678"},"locale":"de","contract":{"started_at":"2024-01-01T00:00:00Z"}}`},
	{fuzzPut, `{"kind":"prospect","emails":[{"address":"ÄÖÜ@exämple.com"},{"address":"a@b"}],"mobile":{"number":"0151 1234567","verified_at":"2099-01-01T00:00:00Z"},"time_zone":"Mars/Olympus"}`},
	{fuzzPut, `{"kind":"customer","contract":{"started_at":"2024-01-01","ended_at":"2023-01-01"},"first_name":"` + strings.Repeat("x", 300) + `"}`},
	{fuzzPut, `{"kind":"customer","emails":null,"mobile":null,"company":1e999}`},
	// Consents.
	{fuzzConsents, `{"kind":"grant","purpose":"advertising","channel":"email","source":"web_form","text":"Ja, ich möchte Angebote per E-Mail.","ip":"203.0.113.7"}`},
	{fuzzConsents, `{"events":[{"kind":"doi_request","purpose":"newsletter:news","channel":"email","source":"web_form","text":"Ja"},{"kind":"doi_confirm","purpose":"newsletter:news","channel":"email","source":"email"}]}`},
	{fuzzConsents, `{"kind":"object","purpose":"advertising","channel":"all","source":"phone","at":"2099-01-01T00:00:00Z"}`},
	{fuzzConsents, `{"kind":"withdraw","purpose":"","channel":"fax","source":"letter","ip":"999.1.1.1"}`},
	{fuzzConsents, `{"events":[]}`},
	// Campaigns: defect 1 and 10 for the shared data, and accepted ones.
	{fuzzCampaigns, `{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"Allnet","price":1e999,"valid_until":"2026-12-31","url":"u"}},"audience":["fz-camp"]}`},
	{fuzzCampaigns, `{"name":"Winter","type":"promo_offer","channels":["email"],"data":{},"audience":["fz-camp"]}`},
	{fuzzCampaigns, `{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"Allnet","price":24.99,"valid_until":"2026-12-31","url":"https://x.example"}},"audience":["fz-camp","fz-camp","nobody"]}`},
	{fuzzCampaigns, `{"name":"Später","type":"invoice","data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"due_date":"2026-12-03","url":"u"}},"send_at":"09:00","throttle_per_minute":1,"quiet_hours":{"start":"22:00","end":"08:00"},"audience":["fz-camp"]}`},
	{fuzzCampaigns, `{"name":"x","type":"survey","send_at":"2027-12-31T23:59:59+14:00","audience":["a b"]}`},
	// Spliced into a valid body (route | slot<<2): the values of the defects.
	{fuzzMessages | 1<<2, `1e999`},
	{fuzzMessages | 1<<2, `12345678901234567890.125`},
	{fuzzMessages | 1<<2, `"29,98"`},
	{fuzzMessages | 2<<2, `12345678901234567890`},
	{fuzzMessages | 3<<2, `{}`},
	{fuzzMessages | 3<<2, `{"offer":{"title":"A","price":1e-999,"valid_until":"2026-12-31","url":"u"},"usage":{"period":"Mai"}}`},
	{fuzzMessages | 4<<2, `["sms","email","sms"]`},
	{fuzzMessages | 5<<2, `"2027-09-27T09:00:00Z"`},
	{fuzzMessages | 6<<2, `{"id":"fz-inline","kind":"customer","emails":[{"address":"i@example.com"}],"contract":{"started_at":"2024-01-01"}}`},
	{fuzzPut | 1<<2, `[{"address":"a@example.com","collected_in_sale":true}]`},
	{fuzzPut | 2<<2, `{"number":"+49 151 12345678","verified_at":"2026-01-01T00:00:00Z"}`},
	{fuzzPut | 3<<2, `"Zoë 🙂"`},
	{fuzzConsents | 1<<2, `"Ja, ich möchte Angebote erhalten."`},
	{fuzzConsents | 2<<2, `"1970-01-01T00:00:00Z"`},
	{fuzzConsents | 3<<2, `"::1"`},
	{fuzzCampaigns | 1<<2, `{"offer":{"title":"A","price":1e999,"valid_until":"2026-12-31","url":"u"}}`},
	{fuzzCampaigns | 2<<2, `"09:00"`},
	{fuzzCampaigns | 3<<2, `["fz-camp","fz-camp",""]`},
	{fuzzCampaigns | 5<<2, `{"start":"22:00","end":"08:00"}`},
}

// FuzzRequestBodies sends hostile bodies to the four routes that take
// producer data into Herold (built as `herold serve` builds it, on real
// Redis, SMTP and the Twilio fake) and checks what issue 14 asks of every
// one: never a 5xx, and every accepted body leaves something that can be
// read, delivered or cleanly failed (or canceled, when it waits), exported
// and erased. `go test` runs the seeds (CI); `go test -fuzz
// FuzzRequestBodies ./internal/api` fuzzes. With HEROLD_FUZZ_LOG set, each
// input appends "route status" to that file, for a status-code histogram.
func FuzzRequestBodies(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s.route, []byte(s.body))
	}
	// Herold's log goes to stderr from warnings up: the fuzz target may not
	// log through f, and an answer that fails the test says what it was.
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h := apptest.New(f, apptest.Options{Log: log, Env: map[string]string{
		"HEROLD_API_KEYS":            "fuzz:" + fuzzKey + ":*",
		"HEROLD_WORKER_CONCURRENCY":  "4",
		"HEROLD_CAMPAIGN_SENDERS":    "2",
		"HEROLD_CAMPAIGN_RETRY_BASE": "50ms",
		"HEROLD_CAMPAIGN_PAUSE_POLL": "100ms",
	}})
	fz := &fuzzer{h: h, f: f}
	if path := os.Getenv("HEROLD_FUZZ_LOG"); path != "" {
		lf, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { lf.Close() })
		fz.log = lf
	}
	f.Fuzz(func(t *testing.T, route byte, body []byte) {
		r, mode := route%fuzzRoutes, route>>2&7
		fz.run(t, r, splice(r, mode, body))
	})
}

type fuzzer struct {
	h   *apptest.Herold
	f   *testing.F
	mu  sync.Mutex
	log io.Writer
}

type fuzzAnswer struct {
	status int
	body   []byte
}

// do sends one request and fails on any 5xx.
func (fz *fuzzer) do(t *testing.T, method, path string, body []byte) fuzzAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, fz.h.URL+path, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+fuzzKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		t.Fatalf("%s %s: %d %s\nbody: %q", method, path, resp.StatusCode, b, body)
	}
	return fuzzAnswer{resp.StatusCode, b}
}

// recipient stores a customer every route's data can reach, fresh for each input.
func (fz *fuzzer) recipient(t *testing.T, id string) {
	t.Helper()
	r, err := recipient.Parse(id, recipient.Input{Kind: "customer", FirstName: "Anna", LastName: "Schmidt", Locale: "de",
		Emails:   []recipient.EmailInput{{Address: id + "@example.com", CollectedInSale: true}},
		Mobile:   &recipient.MobileInput{Number: "+4915112345678", VerifiedAt: "2026-01-01T10:00:00Z"},
		Contract: &recipient.ContractInput{StartedAt: "2024-01-01"}}, "DE")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fz.h.Store.PutRecipient(t.Context(), r); err != nil {
		t.Fatal(err)
	}
}

func (fz *fuzzer) run(t *testing.T, route byte, body []byte) {
	var a fuzzAnswer
	switch route {
	case fuzzMessages:
		fz.recipient(t, "fz-msg")
		if a = fz.do(t, "POST", "/v1/messages", body); a.status == http.StatusAccepted {
			fz.message(t, a)
		}
	case fuzzPut:
		if a = fz.do(t, "PUT", "/v1/recipients/fz-put", body); a.status < 300 {
			fz.must(t, "GET", "/v1/recipients/fz-put", http.StatusOK)
			fz.exportErase(t, "fz-put")
		}
	case fuzzConsents:
		fz.recipient(t, "fz-cons")
		if a = fz.do(t, "POST", "/v1/recipients/fz-cons/consents", body); a.status < 300 {
			fz.must(t, "GET", "/v1/recipients/fz-cons/consents", http.StatusOK)
		}
		fz.exportErase(t, "fz-cons")
	case fuzzCampaigns:
		fz.recipient(t, "fz-camp")
		if a = fz.do(t, "POST", "/v1/campaigns", body); a.status == http.StatusCreated {
			fz.campaign(t, a)
		}
		fz.exportErase(t, "fz-camp")
	}
	if fz.log != nil {
		fz.mu.Lock()
		fmt.Fprintf(fz.log, "%d %d\n", route, a.status)
		fz.mu.Unlock()
	}
}

func (fz *fuzzer) must(t *testing.T, method, path string, want int) fuzzAnswer {
	t.Helper()
	a := fz.do(t, method, path, nil)
	if a.status != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, a.status, a.body, want)
	}
	return a
}

// message follows an accepted message to a final status (or cancels it
// when it waits), then exports and erases its recipient.
func (fz *fuzzer) message(t *testing.T, a fuzzAnswer) {
	t.Helper()
	var acc struct{ ID string }
	if err := json.Unmarshal(a.body, &acc); err != nil || acc.ID == "" {
		t.Fatalf("202 without an id: %s", a.body)
	}
	var v struct {
		Status      string `json:"status"`
		RecipientID string `json:"recipient_id"`
		ErrorClass  string `json:"error_class"`
	}
	read := func() {
		g := fz.must(t, "GET", "/v1/messages/"+acc.ID, http.StatusOK)
		if err := json.Unmarshal(g.body, &v); err != nil {
			t.Fatalf("GET: %v: %s", err, g.body)
		}
	}
	read()
	deadline := time.Now().Add(5 * time.Second)
	for !final(v.Status) {
		if v.Status == "scheduled" || time.Now().After(deadline) {
			// It waits (send_at, quiet hours): canceling it is its clean end.
			c := fz.do(t, "DELETE", "/v1/messages/"+acc.ID, nil)
			if c.status != http.StatusOK && c.status != http.StatusConflict {
				t.Fatalf("cancel: %d %s", c.status, c.body)
			}
			if time.Now().After(deadline.Add(10 * time.Second)) {
				t.Fatalf("message %s still %s after 15s", acc.ID, v.Status)
			}
		}
		time.Sleep(10 * time.Millisecond)
		read()
	}
	if v.Status == "failed" && v.ErrorClass == "" {
		t.Fatalf("message %s failed without an error class", acc.ID)
	}
	fz.exportErase(t, v.RecipientID)
}

func final(s string) bool {
	switch s {
	case "delivered", "suppressed", "failed", "canceled":
		return true
	}
	return false
}

// campaign reads an accepted campaign, lets it finish or cancels it.
func (fz *fuzzer) campaign(t *testing.T, a fuzzAnswer) {
	t.Helper()
	var c struct{ ID, State string }
	if err := json.Unmarshal(a.body, &c); err != nil || c.ID == "" {
		t.Fatalf("201 without an id: %s", a.body)
	}
	path := "/v1/campaigns/" + c.ID
	deadline := time.Now().Add(3 * time.Second)
	for {
		g := fz.must(t, "GET", path, http.StatusOK)
		if err := json.Unmarshal(g.body, &c); err != nil {
			t.Fatal(err)
		}
		if c.State == "done" || c.State == "canceled" {
			break
		}
		if c.State == "scheduled" || time.Now().After(deadline) {
			fz.must(t, "POST", path+"/cancel", http.StatusOK)
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
	fz.must(t, "GET", path+"/recipients", http.StatusOK)
}

func (fz *fuzzer) exportErase(t *testing.T, id string) {
	t.Helper()
	if e := fz.do(t, "GET", "/v1/recipients/"+id+"/export", nil); e.status != http.StatusOK {
		if e.status == http.StatusNotFound {
			return // never stored (a refused PUT)
		}
		t.Fatalf("export %s: %d %s", id, e.status, e.body)
	}
	fz.must(t, "DELETE", "/v1/recipients/"+id, http.StatusNoContent)
}
