package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/token"
)

func newPreview(t *testing.T) *http.ServeMux {
	t.Helper()
	cat, err := policy.ParseCatalog(policy.DefaultCatalog())
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := token.NewSealer("preview-test-secret-0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	r, err := render.New(render.Options{Catalog: cat, Sealer: sealer, PublicURL: "https://herold.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	(&Preview{Renderer: r, Catalog: cat}).Routes(mux)
	return mux
}

func TestPreview(t *testing.T) {
	t.Parallel()
	mux := newPreview(t)
	tests := []struct {
		name   string
		body   string
		noKey  bool
		status int
		want   []string
	}{
		{"e-mail with sample data", `{"type":"promo_offer","channel":"email","locale":"en"}`, false, 200,
			[]string{`"subject": "Just for you: Allnet Flat 40 GB`, `"sample_data": true`, `"unsubscribe_url": "https://herold.example.com/unsubscribe/`, `"html": "\u003c!DOCTYPE html\u003e`}},
		{"sms with own data", `{"type":"invoice","channel":"sms","profile":{"first_name":"Ada"},"data":{"invoice":{"number":"R-1","period":"Mai 2026","amount":10,"due_date":"2026-06-01","url":"https://x.example.com/r"}}}`, false, 200,
			[]string{`"text": "Herold Mobil: Ihre Rechnung für Mai 2026 über 10,00 €`, `"sms_encoding": "GSM-7"`, `"sms_segments": 1`, `"locale": "de"`, `"sample_data": false`}},
		{"whatsapp", `{"type":"messenger_offer","channel":"whatsapp","locale":"de"}`, false, 200,
			[]string{`"content_variables"`, `"1": "Mia"`, `"rich": {`, `"content_type": "twilio/card"`, `"media": "https://www.example.com/bilder/allnet-40.jpg"`,
				`"type": "QUICK_REPLY"`, `"id": "STOP"`}},
		{"rcs card with its sms fallback", `{"type":"messenger_offer","channel":"rcs","locale":"en"}`, false, 200,
			[]string{`"title": "Allnet Flat 40 GB for €24.99 a month"`, `"fallback": "Hi Mia, our offer for you:`}},
		{"media the provider refuses", `{"type":"messenger_offer","channel":"whatsapp","data":{"offer":{"title":"5 GB","price":5,"valid_until":"2026-12-31","url":"https://www.example.com/o","image":"o.bmp"}}}`, false, 422,
			[]string{`"code": "media_refused"`, `https://www.example.com/o.bmp`}},
		{"every field wrong", `{"type":"fax_blast","channel":"fax","locale":"fr"}`, false, 400,
			[]string{`"field": "type"`, `unknown message type \"fax_blast\"`, `"field": "channel"`, `"field": "locale"`, `no templates for locale \"fr\"`}},
		{"channel the type may not use", `{"type":"newsletter","channel":"sms"}`, false, 400,
			[]string{`type newsletter may not use channel sms`}},
		{"missing fields", `{}`, false, 400, []string{`"field": "type"`, `"field": "channel"`, `required`}},
		{"unknown field", `{"type":"invoice","channel":"sms","colour":"red"}`, false, 400, []string{`"field": "colour"`}},
		{"missing data names the key", `{"type":"invoice","channel":"email","data":{"invoice":{"number":"R-1"}}}`, false, 422,
			[]string{`"code": "missing_data"`, `invoice.period`}},
		{"no key", `{"type":"invoice","channel":"sms"}`, true, 401, []string{`"unauthorized"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(http.MethodPost, "/v1/preview", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if !tt.noKey {
				req = req.WithContext(WithKey(req.Context(), apikey.Key{Name: "reader", Scopes: []string{"recipients"}}))
			}
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if !json.Valid(rec.Body.Bytes()) {
				t.Fatalf("body is not JSON: %s", rec.Body)
			}
			for _, w := range tt.want {
				if !strings.Contains(rec.Body.String(), w) {
					t.Errorf("body lacks %s:\n%s", w, rec.Body)
				}
			}
		})
	}
}
