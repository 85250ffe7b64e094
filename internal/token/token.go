// Package token makes the links Herold puts in messages and pages:
// unsubscribe, preference centre and double opt-in confirmation.
//
// A token is sealed with AES-256-GCM under a key derived (HMAC-SHA256) from the
// configured secret: it is authenticated, so it cannot be forged or altered,
// and encrypted, so it never reveals the recipient's id or address to whoever
// sees the URL. Tokens carry their expiry; single use (confirmation links) is
// the caller's job, keyed by Token.Nonce.
package token

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Purpose says what a token may be used for; a token of one purpose is
// rejected by every other endpoint.
type Purpose string

// The token purposes.
const (
	Unsubscribe Purpose = "unsubscribe" // one-click: Scope names the list or purpose
	Preferences Purpose = "preferences" // the preference centre
	Confirm     Purpose = "confirm"     // double opt-in: Scope names the list
)

// Errors of Open. Callers show the person one neutral page for all of them.
var (
	ErrInvalid = errors.New("token invalid")
	ErrExpired = errors.New("token expired")
	ErrPurpose = errors.New("token for another purpose")
)

// Token is what a link carries.
type Token struct {
	Purpose   Purpose   `json:"p"`
	Recipient string    `json:"r"`
	Scope     string    `json:"s,omitempty"` // list or consent purpose, e.g. "newsletter:news"
	Channel   string    `json:"c,omitempty"` // channel the message went out on
	MessageID string    `json:"m,omitempty"`
	Expires   time.Time `json:"e"`
	Nonce     string    `json:"n"` // random; the key for single use
}

// Sealer seals and opens tokens with one secret.
type Sealer struct{ aead cipher.AEAD }

// NewSealer derives the key from secret (at least 32 bytes).
func NewSealer(secret string) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("token secret too short: %d bytes, want at least 32", len(secret))
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("herold token key v1"))
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal returns t as a URL-safe string. It fills Nonce when empty.
func (s *Sealer) Seal(t Token) (string, error) {
	if t.Nonce == "" {
		b := make([]byte, 12)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		t.Nonce = base64.RawURLEncoding.EncodeToString(b)
	}
	plain, err := json.Marshal(t)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := s.aead.Seal(nonce, nonce, plain, []byte("herold"))
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// Open checks and decrypts raw, and accepts it only for purpose and before its expiry at now.
func (s *Sealer) Open(raw string, purpose Purpose, now time.Time) (Token, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil || len(b) < s.aead.NonceSize()+s.aead.Overhead() {
		return Token{}, ErrInvalid
	}
	ns := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, b[:ns], b[ns:], []byte("herold"))
	if err != nil {
		return Token{}, ErrInvalid
	}
	var t Token
	if err := json.Unmarshal(plain, &t); err != nil {
		return Token{}, ErrInvalid
	}
	if t.Purpose != purpose {
		return Token{}, ErrPurpose
	}
	if !t.Expires.IsZero() && !now.Before(t.Expires) {
		return Token{}, ErrExpired
	}
	return t, nil
}
