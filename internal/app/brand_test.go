package app_test

import (
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"testing"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/dispatch"
)

// One brand setting names the sender of every mail, signs it, and heads
// every page; nobody meets "Herold" in one place and "Herold Mobil" in
// another.
func TestOneBrandForMailsAndPages(t *testing.T) {
	t.Parallel()
	h := apptest.New(t, apptest.Options{Env: map[string]string{
		"HEROLD_BRAND_NAME": "Nordlicht Telekom", "HEROLD_SMTP_FROM_NAME": "",
	}})
	putCustomer(t, h, "K-brand", "anna@example.com")
	if _, err := h.Messages.Submit(t.Context(), dispatch.Submission{Type: "invoice", RecipientID: "K-brand", Data: invoiceData()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the invoice mail", func() bool { return h.SMTP.Count() == 1 })
	raw := h.SMTP.Mails()[0].Data
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	from, err := (&mail.AddressParser{WordDecoder: &mime.WordDecoder{}}).Parse(msg.Header.Get("From"))
	if err != nil {
		t.Fatal(err)
	}
	if from.Name != "Nordlicht Telekom" {
		t.Errorf("From name %q, want the brand", from.Name)
	}
	if !strings.Contains(string(raw), "Nordlicht Telekom") || strings.Contains(strings.ReplaceAll(string(raw), "Herold Mobil GmbH", ""), "Herold Mobil") {
		t.Errorf("the mail is not signed by the brand alone:\n%s", raw)
	}

	res, err := http.Get(h.URL + "/subscribe/news")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "<title>") || !strings.Contains(string(page), "Nordlicht Telekom") {
		t.Errorf("sign-up page (%d) does not carry the brand:\n%s", res.StatusCode, page)
	}
}
