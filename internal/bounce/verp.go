package bounce

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// sigLen is the length of a VERP signature in base32 characters: 50 bits.
// A forger gets one guess per SMTP transaction, so 2⁵⁰ guesses per message
// id are out of reach, and the address stays within RFC 5321's 64-octet
// local part for every id Herold makes (campaign message ids are 44 long).
const sigLen = 10

// maxLocal is RFC 5321's limit of a local part (4.5.3.1.1).
const maxLocal = 64

// idPattern is what an id must look like to travel in a local part
// unquoted: a dot-atom of lowercase letters, digits, '.', '_' and '-'
// (RFC 5322 3.2.3), lowercase so that an MTA that folds case breaks nothing.
var idPattern = regexp.MustCompile(`^[a-z0-9_-]+(\.[a-z0-9_-]+)*$`)

// ErrUnencodable means a message id cannot be put in a VERP address (an
// upper-case letter, a character outside the dot-atom, or too long): send
// that message with the plain From as its Return-Path.
var ErrUnencodable = errors.New("message id cannot be encoded in a VERP address")

var b32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// VERP makes and checks signed variable envelope return paths:
//
//	<local>+<message id>=<signature>@<domain>
//
// e.g. bounce+msg_3k…q=u7x2mdd4fa@bounces.example.com. The signature is an
// HMAC-SHA256 of the message id, so nobody can make an address that names
// another message.
type VERP struct {
	key    []byte
	local  string
	domain string
}

// NewVERP returns a VERP for domain with the local part prefix local,
// signing with key (at least 32 bytes).
func NewVERP(key []byte, local, domain string) (*VERP, error) {
	switch {
	case len(key) < 32:
		return nil, fmt.Errorf("bounce: VERP key has %d bytes, want at least 32", len(key))
	case local == "" || !idPattern.MatchString(local) || strings.ContainsAny(local, ".+="):
		return nil, fmt.Errorf("bounce: VERP local part %q: want a-z 0-9 _ -", local)
	case domain == "" || strings.ContainsAny(domain, "@ <>"):
		return nil, fmt.Errorf("bounce: VERP domain %q is not a domain", domain)
	}
	return &VERP{key: key, local: local, domain: strings.ToLower(domain)}, nil
}

// DeriveKey derives the VERP key from another secret (HEROLD_TOKEN_SECRET),
// so that a leaked VERP key does not reveal the link-token key.
func DeriveKey(secret string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("herold verp key v1"))
	return m.Sum(nil)
}

// Domain returns the VERP domain.
func (v *VERP) Domain() string { return v.domain }

func (v *VERP) sign(id string) string {
	m := hmac.New(sha256.New, v.key)
	m.Write([]byte("verp:v1:"))
	m.Write([]byte(id))
	return b32.EncodeToString(m.Sum(nil))[:sigLen]
}

// ReturnPath returns the VERP address for message id, or ErrUnencodable.
func (v *VERP) ReturnPath(id string) (string, error) {
	if !idPattern.MatchString(id) || len(v.local)+1+len(id)+1+sigLen > maxLocal {
		return "", fmt.Errorf("%q: %w", id, ErrUnencodable)
	}
	return v.local + "+" + id + "=" + v.sign(id) + "@" + v.domain, nil
}

// MessageID returns the message id a VERP address names, and false when
// addr is not one of this VERP's addresses or its signature is wrong. The
// comparison is in constant time and ignores the case of the local part
// and domain, which some MTAs change.
func (v *VERP) MessageID(addr string) (string, bool) {
	addr = strings.TrimSpace(strings.Trim(strings.TrimSpace(addr), "<>"))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], v.domain) {
		return "", false
	}
	local := strings.ToLower(addr[:at])
	rest, ok := strings.CutPrefix(local, v.local+"+")
	if !ok {
		return "", false
	}
	eq := strings.LastIndexByte(rest, '=')
	if eq < 0 {
		return "", false
	}
	id, sig := rest[:eq], rest[eq+1:]
	if !idPattern.MatchString(id) || !hmac.Equal([]byte(sig), []byte(v.sign(id))) {
		return "", false
	}
	return id, true
}
