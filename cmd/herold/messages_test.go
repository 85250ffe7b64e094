package main

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/redistest"
)

// The dispatch issue's story through `herold serve`: an invoice posted to
// the messages API goes through asynq and the worker to a real SMTP server,
// and its record says delivered on basis contract; a billing key may not
// send an offer; no key gets 401.
func TestServeDeliversInvoiceByEmail(t *testing.T) {
	t.Parallel()
	sink, smtpEnv := smtpSinkEnv(t, "rechnung@example.com")
	crm, billing := "crm-key-0123456789abcdef", "billing-key-0123456789abcdef"
	env := commandEnv(t, "serve", map[string]string{
		"HEROLD_API_KEYS":  "crm:" + crm + ":recipients,billing:" + billing + ":send:invoice",
		"HEROLD_HASH_SALT": "e2e-salt-0123456789abcdef",
	})
	maps.Copy(env, smtpEnv)
	rdb, _ := redistest.Client(t)
	t.Cleanup(func() { _ = queue.Purge(context.Background(), rdb, queue.Queues{Suffix: env["HEROLD_QUEUE_SUFFIX"]}) })
	tb := runCommand(t, env, "serve")

	if code, body := tb.send(t, "PUT", "/v1/recipients/k-2001", crm,
		`{"kind":"customer","salutation":"Frau","last_name":"Schmidt","emails":[{"address":"anna@example.de"}],"contract":{"started_at":"2024-01-01"}}`); code != http.StatusCreated {
		t.Fatalf("create recipient: %d %v", code, body)
	}
	code, acc := tb.send(t, "POST", "/v1/messages", billing,
		`{"type":"invoice","recipient_id":"k-2001","data":{"invoice":{"number":"RE-77","period":"November 2026","amount":12.5,"currency":"EUR","due_date":"2026-12-03","url":"https://example.com/r/77"}}}`)
	if code != http.StatusAccepted {
		t.Fatalf("POST /v1/messages: %d %v", code, acc)
	}
	url, _ := acc["status_url"].(string)
	deadline := time.Now().Add(15 * time.Second)
	var rec map[string]any
	for {
		code, rec = tb.send(t, "GET", url, billing, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d %v", url, code, rec)
		}
		if s := rec["status"]; s != "queued" && s != "sending" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %v after 15s", rec["status"])
		}
		time.Sleep(20 * time.Millisecond)
	}
	dec, _ := rec["decision"].(map[string]any)
	if rec["status"] != "delivered" || rec["channel"] != "email" || dec["basis"] != "contract" {
		t.Fatalf("record %v, want delivered by email on basis contract", rec)
	}
	mails := sink.Mails()
	if len(mails) != 1 || !bytes.Contains(mails[0].Data, []byte("RE-77")) {
		t.Fatalf("SMTP sink got %d mails, want the invoice", len(mails))
	}

	if code, body := tb.send(t, "POST", "/v1/messages", billing, `{"type":"promo_offer","recipient_id":"k-2001"}`); code != http.StatusForbidden {
		t.Errorf("billing key sending promo_offer: %d %v, want 403", code, body)
	}
	if code, _ := tb.get(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("no key: %d, want 401", code)
	}
}
