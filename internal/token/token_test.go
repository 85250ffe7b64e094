package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSealOpen(t *testing.T) {
	t.Parallel()
	s, err := NewSealer(strings.Repeat("k", 32))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	raw, err := s.Seal(Token{Purpose: Confirm, Recipient: "cust-42", Scope: "newsletter:news", Expires: now.Add(48 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "cust-42") {
		t.Fatalf("token reveals the recipient id: %s", raw)
	}
	got, err := s.Open(raw, Confirm, now)
	if err != nil || got.Recipient != "cust-42" || got.Scope != "newsletter:news" || got.Nonce == "" {
		t.Fatalf("Open = %+v, %v", got, err)
	}
	if _, err := s.Open(raw, Unsubscribe, now); !errors.Is(err, ErrPurpose) {
		t.Errorf("other purpose: err = %v, want ErrPurpose", err)
	}
	if _, err := s.Open(raw, Confirm, now.Add(48*time.Hour)); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: err = %v, want ErrExpired", err)
	}
	forged := []byte(raw)
	forged[10] ^= 1
	if _, err := s.Open(string(forged), Confirm, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("forged: err = %v, want ErrInvalid", err)
	}
	other, _ := NewSealer(strings.Repeat("x", 32))
	if _, err := other.Open(raw, Confirm, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("other secret: err = %v, want ErrInvalid", err)
	}
	if _, err := NewSealer("short"); err == nil {
		t.Error("short secret accepted")
	}
}

func TestRoundTripAndLength(t *testing.T) {
	t.Parallel()
	s, _ := NewSealer(strings.Repeat("k", 32))
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	want := Token{Purpose: Unsubscribe, Recipient: "cust-000042", Scope: "advertising", Channel: "sms",
		MessageID: "", Expires: now.Add(365 * 24 * time.Hour), Nonce: "n0nce"}
	raw, err := s.Seal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(raw, Unsubscribe, now)
	if err != nil || got != want {
		t.Fatalf("Open = %+v, %v; want %+v", got, err, want)
	}
	// The token rides in SMS opt-out notices: keep it short.
	if len(raw) > 100 {
		t.Errorf("sms unsubscribe token is %d characters, want at most 100", len(raw))
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	t.Parallel()
	for _, b := range [][]byte{nil, {1}, {2, 1, 0}, {1, 9, 0}, {1, 1, 0, 5, 'a'}, {1, 1, 0, 0, 0, 0, 0, 0, 1}} {
		if _, err := decode(b); err == nil {
			t.Errorf("decode(%v) accepted", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := NewSealer(strings.Repeat("k", 32))
	f.Add([]byte{1, 1, 0, 1, 'r', 0, 0, 0, 1, 'n'})
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decode(b)
		if err != nil {
			return
		}
		raw, err := s.Seal(tok)
		if err != nil {
			return
		}
		if back, err := s.Open(raw, tok.Purpose, time.Time{}); err != nil && err != ErrExpired || err == nil && back != tok {
			t.Fatalf("round trip of %+v: %+v, %v", tok, back, err)
		}
	})
}
