package store_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/privacy"
	"github.com/heroldhq/herold/internal/store"
)

// oldPoison is the record Herold wrote before issue 14 for a message posted
// with "amount": 1e999: valid JSON that no float64 decoder reads. It made
// GET, cancel, export and erasure of the person answer 500.
const oldPoison = `{"id":"msg_poison","type":"invoice","class":"transactional","recipient_id":"c-1",` +
	`"data":{"invoice":{"amount":1e999,"number":12345678901234567890}},"status":"queued",` +
	`"provider_message_id":"prov-1","created_at":"2026-11-25T09:00:00Z","updated_at":"2026-11-25T09:00:00Z"}`

// broken is a record no version of Herold can read.
const broken = `{"id":"msg_broken","recipient_id":"c-1","status":5,"provider_message_id":"prov-2"}`

// TestNoRecordBlocksExportOrErasure: a record that does not decode is
// exported as its stored bytes and deleted by the erasure, and its id is
// logged; records with numbers beyond float64 decode again.
func TestNoRecordBlocksExportOrErasure(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	b := setupRecipients(t)
	if _, _, err := b.s.PutRecipient(ctx, customer(t, "c-1")); err != nil {
		t.Fatal(err)
	}
	for id, raw := range map[string]string{"msg_poison": oldPoison, "msg_broken": broken} {
		if err := b.s.PutRawMessage(ctx, id, "c-1", raw, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	// Provider index entries, as the worker writes them once a provider answered.
	for pid, id := range map[string]string{"prov-1": "msg_poison", "prov-2": "msg_broken"} {
		if err := b.rdb.Set(ctx, b.prefix+"msgprov:"+pid, id, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}

	rec, err := b.s.GetMessage(ctx, "msg_poison")
	if err != nil {
		t.Fatalf("the record of a message with 1e999 in its data: %v", err)
	}
	if got := rec.Data["invoice"]["number"]; got != json.Number("12345678901234567890") {
		t.Errorf("number decoded as %#v, want the json.Number 12345678901234567890", got)
	}
	if _, err := b.s.GetMessage(ctx, "msg_broken"); err == nil || !strings.Contains(err.Error(), store.ErrUndecodable.Error()) {
		t.Errorf("broken record: %v, want ErrUndecodable", err)
	}

	var logged bytes.Buffer
	rights := privacy.New(b.s, nil, privacy.WithLog(slog.New(slog.NewTextHandler(&logged, nil))))
	exp, err := rights.Export(ctx, "c-1", time.Now())
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if len(exp.Messages) != 1 || exp.Messages[0].ID != "msg_poison" {
		t.Errorf("exported messages %+v, want msg_poison", exp.Messages)
	}
	if len(exp.Undecodable) != 1 || exp.Undecodable[0].ID != "msg_broken" || exp.Undecodable[0].Raw != broken {
		t.Errorf("exported undecodable records %+v, want msg_broken as stored", exp.Undecodable)
	}
	if !strings.Contains(logged.String(), "record_id=msg_broken") {
		t.Errorf("the id of the undecodable record was not logged: %s", logged.String())
	}

	if err := rights.Erase(ctx, "c-1"); err != nil {
		t.Fatalf("erase: %v", err)
	}
	if got, want := b.keys(t), []string{b.prefix + "suppression"}; !slices.Equal(got, want) {
		t.Errorf("keys after erase: %v, want %v", got, want)
	}
}
