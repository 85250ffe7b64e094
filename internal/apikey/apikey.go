// Package apikey authenticates producers' API keys and says what each may do.
//
// Keys are kept only as SHA-256 hashes and compared in constant time. A key
// carries scopes:
//
//	send:<type>          send messages of one type, e.g. send:invoice
//	send:class:<class>   send every type of a queue class, e.g. send:class:transactional
//	send:*               send every type
//	recipients           manage recipients and their consent ledger; list, look up and
//	                     import them; read newsletter lists' members
//	segments             save, change, delete and evaluate segments (count, sample)
//	suppressions         list, look up and import suppression list entries
//	compliance           lift suppression entries (with a reason, audited) and export
//	                     the audit trail; granted on purpose only: * includes it, no
//	                     other scope does
//	decisions            ask the policy (POST /v1/decisions) without sending
//	campaigns            create and steer campaigns
//	webhooks             manage webhook endpoints, their secrets and deliveries
//	bounces              report bounces and complaints (an MTA's key)
//	*                    everything
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
)

// Well-known scopes.
const (
	ScopeAll        = "*"
	ScopeRecipients = "recipients"
	ScopeDecisions  = "decisions"
	ScopeCampaigns  = "campaigns"
	ScopeWebhooks   = "webhooks"
	ScopeBounces    = "bounces"
	ScopeSendAll    = "send:*"

	ScopeSegments     = "segments"
	ScopeSuppressions = "suppressions"
	ScopeCompliance   = "compliance"
)

// SendScope is the scope that allows sending messages of type t.
func SendScope(t string) string { return "send:" + t }

// SendClassScope is the scope that allows sending every type of class c.
func SendClassScope(c string) string { return "send:class:" + c }

// Key is one configured API key, without its secret.
type Key struct {
	Name   string   `json:"name" yaml:"name"`
	Hash   [32]byte `json:"-" yaml:"-"`
	Scopes []string `json:"scopes" yaml:"scopes"`
}

// Allows reports whether k holds scope, directly or through a wildcard.
func (k Key) Allows(scope string) bool {
	if slices.Contains(k.Scopes, ScopeAll) || slices.Contains(k.Scopes, scope) {
		return true
	}
	return strings.HasPrefix(scope, "send:") && slices.Contains(k.Scopes, ScopeSendAll)
}

// AllowsSend reports whether k may send a message of type t in class c.
func (k Key) AllowsSend(t, c string) bool {
	return k.Allows(SendScope(t)) || k.Allows(SendClassScope(c))
}

// Hash returns the SHA-256 of a secret key, as stored.
func Hash(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }

// HashHex returns Hash as hex, for key files that must not hold the secret.
func HashHex(secret string) string { h := Hash(secret); return hex.EncodeToString(h[:]) }

// Generate returns a new random secret key with a recognisable prefix.
func Generate() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate api key: %w", err)
	}
	return "hrld_" + base64.RawURLEncoding.EncodeToString(b), nil
}

// Ring is the set of configured keys. It is read-only after New.
type Ring struct{ keys []Key }

// New returns a Ring, rejecting keys without a name or scopes, and duplicate names or secrets.
func New(keys []Key) (*Ring, error) {
	names := map[string]bool{}
	hashes := map[[32]byte]bool{}
	for i, k := range keys {
		switch {
		case k.Name == "":
			return nil, fmt.Errorf("api key %d: missing name", i)
		case len(k.Scopes) == 0:
			return nil, fmt.Errorf("api key %q: no scopes", k.Name)
		case names[k.Name]:
			return nil, fmt.Errorf("api key %q: name used twice", k.Name)
		case hashes[k.Hash]:
			return nil, fmt.Errorf("api key %q: same secret as another key", k.Name)
		}
		for _, s := range k.Scopes {
			if err := ValidateScope(s); err != nil {
				return nil, fmt.Errorf("api key %q: %w", k.Name, err)
			}
		}
		names[k.Name], hashes[k.Hash] = true, true
	}
	return &Ring{keys: slices.Clone(keys)}, nil
}

// ValidateScope rejects scopes that grant nothing, so a typo is caught at start-up.
func ValidateScope(s string) error {
	switch {
	case s == ScopeAll, s == ScopeRecipients, s == ScopeDecisions, s == ScopeCampaigns, s == ScopeSendAll,
		s == ScopeWebhooks, s == ScopeBounces, s == ScopeSegments, s == ScopeSuppressions, s == ScopeCompliance:
		return nil
	case strings.HasPrefix(s, "send:class:"):
		switch strings.TrimPrefix(s, "send:class:") {
		case "transactional", "service", "marketing":
			return nil
		}
	case strings.HasPrefix(s, "send:") && len(s) > len("send:"):
		return nil
	}
	return fmt.Errorf("unknown scope %q (want send:<type>, send:class:<class>, send:*, recipients, decisions, campaigns, webhooks, bounces, segments, suppressions, compliance or *)", s)
}

// Authenticate returns the key whose secret is token. It compares against
// every key in constant time, so timing does not tell how close a guess was.
func (r *Ring) Authenticate(token string) (Key, bool) {
	h := Hash(token)
	var found Key
	ok := 0
	for _, k := range r.keys {
		if subtle.ConstantTimeCompare(h[:], k.Hash[:]) == 1 {
			found, ok = k, 1
		}
	}
	return found, ok == 1
}

// Len returns the number of keys.
func (r *Ring) Len() int { return len(r.keys) }
