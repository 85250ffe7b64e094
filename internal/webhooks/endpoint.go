package webhooks

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/invalid"
)

// AllEvents in an endpoint's event types subscribes it to every type.
const AllEvents = "*"

// SecretPrefix starts every signing secret (Standard Webhooks).
const SecretPrefix = "whsec_"

// Endpoint is a producer's receiver of events.
type Endpoint struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	EventTypes  []string `json:"event_types"` // event types, or ["*"]
	Enabled     bool     `json:"enabled"`
	// BatchSize 1 sends one event object per call; more sends a JSON array
	// of up to BatchSize events.
	BatchSize int `json:"batch_size"`
	// RatePerSecond caps the calls to this endpoint, for all processes
	// together; 0 means HEROLD_WEBHOOKS_DEFAULT_RATE.
	RatePerSecond float64   `json:"rate_per_second,omitempty"`
	Secrets       []Secret  `json:"secrets"` // newest first; all that have not expired sign
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// Secret is one signing secret. After a rotation the previous secret keeps
// signing until ExpiresAt, so a receiver can switch over without losing a
// call: Standard Webhooks lets a request carry several signatures.
type Secret struct {
	Value     string    `json:"value"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at,omitzero"` // zero: the current secret
}

// Wants reports whether the endpoint subscribes to t.
func (e *Endpoint) Wants(t events.Type) bool {
	for _, s := range e.EventTypes {
		if s == AllEvents || s == string(t) {
			return true
		}
	}
	return false
}

// signing returns the secrets that sign at now.
func (e *Endpoint) signing(now time.Time) []Secret {
	out := make([]Secret, 0, len(e.Secrets))
	for _, s := range e.Secrets {
		if s.ExpiresAt.IsZero() || now.Before(s.ExpiresAt) {
			out = append(out, s)
		}
	}
	return out
}

// EndpointInput is the body of a create or update. On create URL and
// EventTypes are required; on update every nil field stays as it is.
type EndpointInput struct {
	URL           *string   `json:"url"`
	Description   *string   `json:"description"`
	EventTypes    *[]string `json:"event_types"`
	Enabled       *bool     `json:"enabled"`
	BatchSize     *int      `json:"batch_size"`
	RatePerSecond *float64  `json:"rate_per_second"`
	// Secret lets the producer bring its own secret on create (whsec_ and
	// base64 of 24 to 64 bytes); empty: Herold draws one.
	Secret *string `json:"secret"`
}

// Errors besides *invalid.Error, which names every bad field of an input.
var (
	ErrNotFound = errors.New("not found")
	// ErrLimit means HEROLD_WEBHOOKS_MAX_ENDPOINTS endpoints exist already.
	ErrLimit = errors.New("too many webhook endpoints")
	// ErrBusy means a replay was asked for a delivery that is still being tried.
	ErrBusy = errors.New("delivery is still being tried")
	// ErrPrivateAddress is returned when a webhook URL resolves to a loopback,
	// private or link-local address and HEROLD_WEBHOOKS_ALLOW_PRIVATE is off.
	ErrPrivateAddress = errors.New("address is loopback, private or link-local")
)

// apply validates in and applies it to e (a new endpoint when create). It
// returns an *invalid.Error naming every bad field.
func (h *Hub) apply(e *Endpoint, in EndpointInput, create bool) error {
	var bad invalid.List
	add := bad.Add
	switch {
	case in.URL != nil:
		if err := checkURL(*in.URL, h.cfg.AllowPrivate); err != nil {
			add("url", "%v", err)
		} else {
			e.URL = *in.URL
		}
	case create:
		add("url", "required")
	}
	if in.Description != nil {
		if len(*in.Description) > 256 {
			add("description", "at most 256 characters")
		} else {
			e.Description = *in.Description
		}
	}
	switch {
	case in.EventTypes != nil:
		types, err := checkTypes(*in.EventTypes)
		if err != nil {
			add("event_types", "%v", err)
		} else {
			e.EventTypes = types
		}
	case create:
		add("event_types", "required: a list of event types, or [\"*\"] for all")
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	} else if create {
		e.Enabled = true
	}
	switch {
	case in.BatchSize != nil && (*in.BatchSize < 1 || *in.BatchSize > h.cfg.MaxBatch):
		add("batch_size", "want 1..%d, got %d", h.cfg.MaxBatch, *in.BatchSize)
	case in.BatchSize != nil:
		e.BatchSize = *in.BatchSize
	case create:
		e.BatchSize = 1
	}
	if r := in.RatePerSecond; r != nil {
		if *r != 0 && (*r < 0.01 || *r > h.cfg.MaxRate) {
			add("rate_per_second", "want 0 (the default, %g) or 0.01..%g, got %g", h.cfg.DefaultRate, h.cfg.MaxRate, *r)
		} else {
			e.RatePerSecond = *r
		}
	}
	if in.Secret != nil {
		switch {
		case !create:
			add("secret", "cannot be changed; rotate it with POST /v1/webhooks/{id}/rotate-secret")
		default:
			if err := checkSecret(*in.Secret); err != nil {
				add("secret", "%v", err)
			}
		}
	}
	return bad.Err()
}

func checkTypes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, errors.New(`must not be empty: a list of event types, or ["*"] for all`)
	}
	out := make([]string, 0, len(in))
	for _, s := range in {
		if s == AllEvents {
			if len(in) > 1 {
				return nil, errors.New(`"*" stands alone`)
			}
			return []string{AllEvents}, nil
		}
		if _, err := events.ParseType(s); err != nil {
			return nil, err
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out, nil
}

// checkURL refuses what is not an absolute http(s) URL, and, unless
// allowPrivate, plain http, loopback and private IP literals and local host
// names. The resolved address is checked again when dialling (see guard.go),
// since a public name can resolve to a private address.
func checkURL(raw string, allowPrivate bool) error {
	if len(raw) > 2048 {
		return errors.New("at most 2048 characters")
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %v", err)
	case u.Scheme != "https" && u.Scheme != "http":
		return fmt.Errorf("must be an https URL, not %q", u.Scheme)
	case u.Host == "" || u.Hostname() == "":
		return errors.New("has no host")
	case u.User != nil:
		return errors.New("must not hold a user or password: authenticate the receiver by the signature")
	case u.Fragment != "":
		return errors.New("must not have a #fragment")
	}
	if allowPrivate {
		return nil
	}
	if u.Scheme != "https" {
		return errors.New("must be https (http only with HEROLD_WEBHOOKS_ALLOW_PRIVATE)")
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if ip, err := netip.ParseAddr(host); err == nil {
		if !publicIP(ip) {
			return fmt.Errorf("%s: %w (allowed only with HEROLD_WEBHOOKS_ALLOW_PRIVATE)", host, ErrPrivateAddress)
		}
		return nil
	}
	for _, local := range []string{"localhost", ".localhost", ".local", ".internal", ".lan", ".home.arpa"} {
		if host == strings.TrimPrefix(local, ".") || strings.HasSuffix(host, local) {
			return fmt.Errorf("%s is a local name (allowed only with HEROLD_WEBHOOKS_ALLOW_PRIVATE)", host)
		}
	}
	if !strings.Contains(host, ".") {
		return fmt.Errorf("%s is not a fully qualified host name", host)
	}
	return nil
}

func checkSecret(s string) error {
	b64, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return fmt.Errorf("must start with %s", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return errors.New("must be whsec_ and standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return fmt.Errorf("must hold 24 to 64 bytes, not %d", len(key))
	}
	return nil
}

// NewSecret returns a random signing secret: whsec_ and base64 of 32 bytes.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return SecretPrefix + base64.StdEncoding.EncodeToString(b)
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func newID(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + strings.ToLower(b32.EncodeToString(b))
}

// validID reports whether id has the form of one of newID's, so lookups of
// garbage never reach Redis.
func validID(prefix, id string) bool {
	rest, ok := strings.CutPrefix(id, prefix)
	if !ok || len(rest) != 26 {
		return false
	}
	for _, r := range rest {
		if !(r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
			return false
		}
	}
	return true
}
