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
	"encoding/binary"
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
	Purpose   Purpose
	Recipient string
	Scope     string // list or consent purpose, e.g. "newsletter:news"
	Channel   string // channel the message went out on
	MessageID string
	Expires   time.Time // whole seconds; zero: never
	Nonce     string    // random; the key for single use
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
//
// The plaintext is a compact binary record, not JSON: the token ends up in
// SMS opt-out notices, where every character counts (about 90 characters for
// a typical unsubscribe token instead of 220).
func (s *Sealer) Seal(t Token) (string, error) {
	if t.Nonce == "" {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		t.Nonce = base64.RawURLEncoding.EncodeToString(b)
	}
	plain, err := encode(t)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
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
	t, err := decode(plain)
	if err != nil {
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

const formatV1 = 1

var purposeCodes = [...]Purpose{1: Unsubscribe, 2: Preferences, 3: Confirm}

// encode writes: version, purpose code, expiry in Unix seconds (0: none) as a
// uvarint, then recipient, scope, channel, message id and nonce, each as a
// uvarint length and its bytes.
func encode(t Token) ([]byte, error) {
	code := -1
	for i, p := range purposeCodes {
		if p != "" && p == t.Purpose {
			code = i
		}
	}
	if code < 0 {
		return nil, fmt.Errorf("seal token: unknown purpose %q", t.Purpose)
	}
	b := []byte{formatV1, byte(code)}
	var exp uint64
	if !t.Expires.IsZero() {
		if t.Expires.Unix() <= 0 {
			return nil, fmt.Errorf("seal token: expiry %s before 1970", t.Expires)
		}
		exp = uint64(t.Expires.Unix())
	}
	b = binary.AppendUvarint(b, exp)
	for _, f := range []string{t.Recipient, t.Scope, t.Channel, t.MessageID, t.Nonce} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

func decode(b []byte) (Token, error) {
	if len(b) < 2 || b[0] != formatV1 || int(b[1]) >= len(purposeCodes) || purposeCodes[b[1]] == "" {
		return Token{}, ErrInvalid
	}
	t := Token{Purpose: purposeCodes[b[1]]}
	b = b[2:]
	exp, n := binary.Uvarint(b)
	if n <= 0 {
		return Token{}, ErrInvalid
	}
	b = b[n:]
	if exp > 0 {
		t.Expires = time.Unix(int64(exp), 0).UTC()
	}
	for _, f := range []*string{&t.Recipient, &t.Scope, &t.Channel, &t.MessageID, &t.Nonce} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return Token{}, ErrInvalid
		}
		*f = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return Token{}, ErrInvalid
	}
	return t, nil
}
