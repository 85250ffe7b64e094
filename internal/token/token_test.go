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
