package store

// Recipients, the consent ledger, suppression and indexes.
//
// # Keys
//
//	<prefix>{r:<id>}:profile   string: the Recipient as JSON, with suppression flags per contact point
//	<prefix>{r:<id>}:ledger    list: consent.Event JSON, appended only (RPUSH in a script that checks the profile)
//	<prefix>suppression        hash: <hmac>:<channel|all> → {"reason","at"}; kept after erasure
//	<prefix>idx:email          hash: <hmac of the address, case-folded> → recipient id
//	<prefix>idx:phone          hash: <hmac of the E.164 number> → recipient id
//
// <hmac> is hex HMAC-SHA256 keyed with HEROLD_HASH_SALT over "email:<address>"
// or "phone:<e164>": no clear address is kept outside the profile. The
// profile and the ledger share the recipient's hash tag, so facts load in one
// pipeline and an append is atomic with an erasure on Redis Cluster too; the
// three global hashes are single keys, always used in commands of their own.
// The consent state is never stored: it is folded from the ledger on every
// read (consent.Fold), so it cannot disagree with the events.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on hosts without a zoneinfo database
	"unicode"

	"github.com/nyaruka/phonenumbers"
	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/consent"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Limits of a recipient profile.
const (
	maxEmails     = 10
	maxTextLen    = 200
	maxWriteTries = 20
)

// Recipient is a person's full profile, as the API shows it. Only ID is safe
// to log (LogValue); everything else is personal data.
type Recipient struct {
	ID            message.RecipientID `json:"id"`
	Kind          policy.Kind         `json:"kind"`
	Salutation    string              `json:"salutation,omitempty"`
	FirstName     string              `json:"first_name,omitempty"`
	LastName      string              `json:"last_name,omitempty"`
	Company       string              `json:"company,omitempty"`
	Emails        []Email             `json:"emails"` // the first is the primary address
	Mobile        *Mobile             `json:"mobile,omitempty"`
	PostalAddress *PostalAddress      `json:"postal_address,omitempty"`
	Locale        string              `json:"locale,omitempty"`    // de or en
	TimeZone      string              `json:"time_zone,omitempty"` // IANA name
	Contract      *Contract           `json:"contract,omitempty"`
	OpenRequest   bool                `json:"open_request"`
	CreatedAt     time.Time           `json:"created_at"`
	UpdatedAt     time.Time           `json:"updated_at"`
}

// Email is one e-mail address of a recipient.
type Email struct {
	Address string `json:"address"` // domain in lower case
	// CollectedInSale says the address was obtained in a sale with the
	// objection notice given, a condition of UWG §7(3) for advertising by
	// e-mail without consent.
	CollectedInSale bool          `json:"collected_in_sale"`
	Suppressed      []Suppression `json:"suppressed,omitempty"` // read-only: set by erasure, bounces
}

// Mobile is a recipient's mobile number.
type Mobile struct {
	Number     string        `json:"number"`               // E.164
	VerifiedAt time.Time     `json:"verified_at,omitzero"` // when the number was confirmed, e.g. by an SMS code
	Suppressed []Suppression `json:"suppressed,omitempty"` // read-only: set by erasure, provider STOP
}

// Suppression records that a contact point must not be used on a channel
// ("all" for every channel), e.g. after a hard bounce or an erasure. It is
// kept on the profile so that facts load in one round trip; the suppression
// list (by salted hash) is the source it is derived from.
type Suppression struct {
	Channel string    `json:"channel"` // a message.Channel or "all"
	Reason  string    `json:"reason"`  // e.g. "erased", "hard_bounce", "provider_stop"
	At      time.Time `json:"at"`
}

// PostalAddress is a recipient's postal address.
type PostalAddress struct {
	Street     string `json:"street,omitempty"`
	Extra      string `json:"extra,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	City       string `json:"city,omitempty"`
	Country    string `json:"country,omitempty"` // ISO 3166-1 alpha-2
}

// Contract holds the dates of the recipient's contract; a zero EndedAt means
// it is still running.
type Contract struct {
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// LogValue keeps everything but the id out of logs.
func (r Recipient) LogValue() slog.Value { return r.ID.LogValue() }

// Address returns the contact point for ch: the primary e-mail address for
// email, the E.164 mobile number for sms, whatsapp and rcs, "" if none.
func (r Recipient) Address(ch message.Channel) string {
	switch ch.Contact() {
	case message.EmailAddress:
		if len(r.Emails) > 0 {
			return r.Emails[0].Address
		}
	case message.MobileNumber:
		if r.Mobile != nil {
			return r.Mobile.Number
		}
	}
	return ""
}

// SuppressedOn reports whether the contact point of ch is suppressed on ch.
func (r Recipient) SuppressedOn(ch message.Channel) bool {
	var list []Suppression
	switch ch.Contact() {
	case message.EmailAddress:
		if len(r.Emails) > 0 {
			list = r.Emails[0].Suppressed
		}
	case message.MobileNumber:
		if r.Mobile != nil {
			list = r.Mobile.Suppressed
		}
	}
	return slices.ContainsFunc(list, func(s Suppression) bool {
		return s.Channel == consent.AllChannels || s.Channel == string(ch)
	})
}

// Profile returns the contact category a template may use: salutation and names.
func (r Recipient) Profile() map[string]any {
	return map[string]any{
		"salutation": r.Salutation,
		"first_name": r.FirstName,
		"last_name":  r.LastName,
		"company":    r.Company,
	}
}

// RecipientInput is a recipient as a producer sends it (PUT body, inline
// recipients of a message). Times are RFC 3339 strings (contract dates may be
// plain dates, YYYY-MM-DD) so that a bad one is reported by field name.
// Read-only fields (suppressed, created_at, updated_at) are accepted so that a
// GET result can be sent back, and ignored.
type RecipientInput struct {
	ID            string          `json:"id,omitempty"`
	Kind          string          `json:"kind"`
	Salutation    string          `json:"salutation,omitempty"`
	FirstName     string          `json:"first_name,omitempty"`
	LastName      string          `json:"last_name,omitempty"`
	Company       string          `json:"company,omitempty"`
	Emails        []EmailInput    `json:"emails,omitempty"`
	Mobile        *MobileInput    `json:"mobile,omitempty"`
	PostalAddress *PostalAddress  `json:"postal_address,omitempty"`
	Locale        string          `json:"locale,omitempty"`
	TimeZone      string          `json:"time_zone,omitempty"`
	Contract      *ContractInput  `json:"contract,omitempty"`
	OpenRequest   bool            `json:"open_request,omitempty"`
	CreatedAt     json.RawMessage `json:"created_at,omitempty"` // ignored
	UpdatedAt     json.RawMessage `json:"updated_at,omitempty"` // ignored
}

// EmailInput is one e-mail address as sent.
type EmailInput struct {
	Address         string          `json:"address"`
	CollectedInSale bool            `json:"collected_in_sale,omitempty"`
	Suppressed      json.RawMessage `json:"suppressed,omitempty"` // ignored
}

// MobileInput is the mobile number as sent, in any format the default region understands.
type MobileInput struct {
	Number     string          `json:"number"`
	VerifiedAt string          `json:"verified_at,omitempty"`
	Suppressed json.RawMessage `json:"suppressed,omitempty"` // ignored
}

// ContractInput holds contract dates as sent.
type ContractInput struct {
	StartedAt string `json:"started_at,omitempty"`
	EndedAt   string `json:"ended_at,omitempty"`
}

// FieldError names one bad field of a recipient or consent event.
type FieldError struct {
	Field   string
	Message string
}

// ValidationError lists every bad field of an input. Nothing is written when
// a write fails with it.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// WithPrefix returns a copy whose field names start with prefix, e.g.
// "recipient." for a recipient inlined in a message.
func (e *ValidationError) WithPrefix(prefix string) *ValidationError {
	out := &ValidationError{Fields: slices.Clone(e.Fields)}
	for i := range out.Fields {
		out.Fields[i].Field = prefix + out.Fields[i].Field
	}
	return out
}

type fieldList []FieldError

func (f *fieldList) add(field, format string, args ...any) {
	*f = append(*f, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (f fieldList) err() error {
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

var (
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	regionPattern   = regexp.MustCompile(`^[A-Z]{2}$`)
	datePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	allowedLocales  = []string{"de", "en"}
	allowedNumTypes = []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE}
)

// ParseRecipient validates and normalises in for recipient id: e-mail
// addresses are checked with net/mail and get a lower-case domain, the mobile
// number is parsed with region as default (e.g. "DE") and turned into E.164,
// and must be a mobile number. On bad input it returns a *ValidationError
// naming each bad field. It does no I/O, so dispatch can use it for
// recipients given inline.
func ParseRecipient(id string, in RecipientInput, region string) (Recipient, error) {
	var bad fieldList
	rid, err := message.ParseRecipientID(id)
	if err != nil {
		bad.add("id", "%v", err)
	}
	if in.ID != "" && in.ID != id {
		bad.add("id", "does not match the id in the path")
	}
	r := Recipient{
		ID:          rid,
		Kind:        policy.Kind(in.Kind),
		Salutation:  strings.TrimSpace(in.Salutation),
		FirstName:   strings.TrimSpace(in.FirstName),
		LastName:    strings.TrimSpace(in.LastName),
		Company:     strings.TrimSpace(in.Company),
		Emails:      []Email{},
		Locale:      in.Locale,
		TimeZone:    in.TimeZone,
		OpenRequest: in.OpenRequest,
	}
	switch r.Kind {
	case policy.Customer, policy.Prospect:
	case "":
		bad.add("kind", "missing: customer or prospect")
	default:
		bad.add("kind", "%q is not customer or prospect", in.Kind)
	}
	checkText(&bad, "salutation", r.Salutation)
	checkText(&bad, "first_name", r.FirstName)
	checkText(&bad, "last_name", r.LastName)
	checkText(&bad, "company", r.Company)

	if len(in.Emails) > maxEmails {
		bad.add("emails", "at most %d addresses", maxEmails)
	}
	seen := map[string]bool{}
	for i, e := range in.Emails {
		field := fmt.Sprintf("emails[%d].address", i)
		addr, err := NormalizeEmail(e.Address)
		if err != nil {
			bad.add(field, "%v", err)
			continue
		}
		if key := strings.ToLower(addr); seen[key] {
			bad.add(field, "address given twice")
			continue
		} else {
			seen[key] = true
		}
		r.Emails = append(r.Emails, Email{Address: addr, CollectedInSale: e.CollectedInSale})
	}

	if in.Mobile != nil {
		num, err := NormalizeMobile(in.Mobile.Number, region)
		if err != nil {
			bad.add("mobile.number", "%v", err)
		}
		m := &Mobile{Number: num}
		if in.Mobile.VerifiedAt != "" {
			t, err := parseTime(in.Mobile.VerifiedAt, false)
			if err != nil {
				bad.add("mobile.verified_at", "%v", err)
			}
			m.VerifiedAt = t
		}
		r.Mobile = m
	}

	if pa := in.PostalAddress; pa != nil {
		p := PostalAddress{
			Street:     strings.TrimSpace(pa.Street),
			Extra:      strings.TrimSpace(pa.Extra),
			PostalCode: strings.TrimSpace(pa.PostalCode),
			City:       strings.TrimSpace(pa.City),
			Country:    strings.ToUpper(strings.TrimSpace(pa.Country)),
		}
		checkText(&bad, "postal_address.street", p.Street)
		checkText(&bad, "postal_address.extra", p.Extra)
		checkText(&bad, "postal_address.postal_code", p.PostalCode)
		checkText(&bad, "postal_address.city", p.City)
		if p.Country != "" && !countryPattern.MatchString(p.Country) {
			bad.add("postal_address.country", "%q is not a two-letter ISO 3166 country code", pa.Country)
		}
		if p != (PostalAddress{}) {
			r.PostalAddress = &p
		}
	}

	if r.Locale != "" && !slices.Contains(allowedLocales, r.Locale) {
		bad.add("locale", "%q is not de or en", in.Locale)
	}
	if r.TimeZone != "" {
		// "Local" and "" would mean the server's zone, not the person's.
		if _, err := time.LoadLocation(r.TimeZone); err != nil || r.TimeZone == "Local" {
			bad.add("time_zone", "%q is not an IANA time zone such as Europe/Berlin", in.TimeZone)
		}
	}

	if c := in.Contract; c != nil {
		var ct Contract
		var errStart, errEnd error
		if c.StartedAt != "" {
			if ct.StartedAt, errStart = parseTime(c.StartedAt, true); errStart != nil {
				bad.add("contract.started_at", "%v", errStart)
			}
		}
		if c.EndedAt != "" {
			if ct.EndedAt, errEnd = parseTime(c.EndedAt, true); errEnd != nil {
				bad.add("contract.ended_at", "%v", errEnd)
			}
		}
		switch {
		case errStart != nil || errEnd != nil:
		case ct.StartedAt.IsZero() && !ct.EndedAt.IsZero():
			bad.add("contract.started_at", "missing: a contract that ended must have started")
		case !ct.EndedAt.IsZero() && ct.EndedAt.Before(ct.StartedAt):
			bad.add("contract.ended_at", "before started_at")
		}
		if ct != (Contract{}) {
			r.Contract = &ct
		}
	}
	if err := bad.err(); err != nil {
		return Recipient{}, err
	}
	return r, nil
}

// Validate checks that r is a valid, normalised profile (as ParseRecipient
// returns it), naming each bad field.
func (r Recipient) Validate() error {
	_, err := ParseRecipient(string(r.ID), r.Input(), "ZZ")
	return err
}

// Input returns r as a producer would send it.
func (r Recipient) Input() RecipientInput {
	in := RecipientInput{
		Kind: string(r.Kind), Salutation: r.Salutation, FirstName: r.FirstName, LastName: r.LastName,
		Company: r.Company, PostalAddress: r.PostalAddress, Locale: r.Locale, TimeZone: r.TimeZone,
		OpenRequest: r.OpenRequest,
	}
	for _, e := range r.Emails {
		in.Emails = append(in.Emails, EmailInput{Address: e.Address, CollectedInSale: e.CollectedInSale})
	}
	if r.Mobile != nil {
		in.Mobile = &MobileInput{Number: r.Mobile.Number, VerifiedAt: formatTime(r.Mobile.VerifiedAt)}
	}
	if r.Contract != nil {
		in.Contract = &ContractInput{StartedAt: formatTime(r.Contract.StartedAt), EndedAt: formatTime(r.Contract.EndedAt)}
	}
	return in
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339Nano)
}

// DecodeRecipient strictly decodes a JSON recipient (unknown fields and wrong
// types are field errors) and parses it with ParseRecipient.
func DecodeRecipient(id string, body []byte, region string) (Recipient, error) {
	var in RecipientInput
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Recipient{}, jsonFieldError(err)
	}
	return ParseRecipient(id, in, region)
}

func jsonFieldError(err error) error {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &ValidationError{Fields: []FieldError{{Field: field, Message: fmt.Sprintf("must be %s, not %s", typ.Type, typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &ValidationError{Fields: []FieldError{{Field: name, Message: "unknown field"}}}
	default:
		return &ValidationError{Fields: []FieldError{{Field: "(body)", Message: "malformed JSON: " + err.Error()}}}
	}
}

func checkText(bad *fieldList, field, s string) {
	if len(s) > maxTextLen {
		bad.add(field, "longer than %d bytes", maxTextLen)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		bad.add(field, "contains control characters")
	}
}

// parseTime accepts RFC 3339 and, where dates are allowed, YYYY-MM-DD (midnight UTC).
func parseTime(s string, dateOK bool) (time.Time, error) {
	if dateOK && datePattern.MatchString(s) {
		t, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return time.Time{}, fmt.Errorf("%q is not a valid date", s)
		}
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		if dateOK {
			return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time or a YYYY-MM-DD date", s)
		}
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time such as 2025-01-31T09:14:00Z", s)
	}
	return t.UTC(), nil
}

// NormalizeEmail validates a bare address with net/mail (no display name)
// and returns it with the domain in lower case; the local part is kept, as
// RFC 5321 lets it be case-sensitive.
func NormalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing address")
	}
	if len(s) > 254 {
		return "", errors.New("address longer than 254 characters")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", errors.New("not a valid e-mail address (want a bare address such as name@example.de)")
	}
	at := strings.LastIndexByte(a.Address, '@')
	local, domain := a.Address[:at], strings.ToLower(a.Address[at+1:])
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", errors.New("not a valid e-mail address: the domain needs a dot, such as example.de")
	}
	return local + "@" + domain, nil
}

// NormalizeMobile parses a phone number (international, or national for
// region, e.g. "DE") and returns it in E.164. It must be a valid mobile
// number (or one that may be mobile, as in the US).
func NormalizeMobile(s, region string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("missing number")
	}
	region = strings.ToUpper(region)
	if !regionPattern.MatchString(region) {
		region = "ZZ" // unknown: only international numbers parse
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("not a phone number (%v); give it in international form, e.g. +49 151 23456789", err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", errors.New("not a valid phone number for its country")
	}
	if !slices.Contains(allowedNumTypes, phonenumbers.GetNumberType(num)) {
		return "", errors.New("not a mobile number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// ---- storage

func (s *Store) profileKey(id message.RecipientID) string {
	return s.recipientKey(string(id), "profile")
}

// GetRecipient returns the profile of id, or an error wrapping ErrNotFound.
func (s *Store) GetRecipient(ctx context.Context, id message.RecipientID) (Recipient, error) {
	b, err := s.rdb.Get(ctx, s.profileKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return Recipient{}, fmt.Errorf("get recipient %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Recipient{}, fmt.Errorf("get recipient %s: %w", id, err)
	}
	r, err := decodeProfile(b)
	if err != nil {
		return Recipient{}, fmt.Errorf("get recipient %s: %w", id, err)
	}
	return r, nil
}

func decodeProfile(b []byte) (Recipient, error) {
	var r Recipient
	if err := json.Unmarshal(b, &r); err != nil {
		return Recipient{}, fmt.Errorf("decode profile: %w", err)
	}
	if r.Emails == nil {
		r.Emails = []Email{}
	}
	return r, nil
}

// PutRecipient creates or replaces the profile r (as ParseRecipient returns
// it) and reports whether it was created. created_at survives a replace;
// suppression flags come from the suppression list, whatever r holds, so an
// erased person's address comes back suppressed. The e-mail and phone indexes
// follow the new addresses. An invalid r is a *ValidationError, and nothing
// is written.
func (s *Store) PutRecipient(ctx context.Context, r Recipient) (Recipient, bool, error) {
	if err := r.Validate(); err != nil {
		return Recipient{}, false, fmt.Errorf("put recipient %s: %w", r.ID, err)
	}
	stored, created, err := s.writeProfile(ctx, r, nil)
	if err != nil {
		return Recipient{}, false, fmt.Errorf("put recipient %s: %w", r.ID, err)
	}
	return stored, created, nil
}

// PatchRecipient applies a JSON merge patch (RFC 7396) to the profile of id:
// members replace fields, null removes them, arrays such as emails are
// replaced as a whole. A new mobile number loses the old one's verified_at
// unless the patch sets it. The result is validated like a PUT (region is the
// default phone region) and stored with PutRecipient's rules. Unknown
// recipient: ErrNotFound; bad result: *ValidationError, nothing written.
func (s *Store) PatchRecipient(ctx context.Context, id message.RecipientID, patch map[string]any, region string) (Recipient, error) {
	for try := 0; try < maxWriteTries; try++ {
		cur, err := s.GetRecipient(ctx, id)
		if err != nil {
			return Recipient{}, fmt.Errorf("patch recipient: %w", err)
		}
		doc, err := toMap(cur)
		if err != nil {
			return Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		merged, err := json.Marshal(mergePatch(doc, patch))
		if err != nil {
			return Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		next, err := DecodeRecipient(string(id), merged, region)
		if err != nil {
			return Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		if next.Mobile != nil && cur.Mobile != nil && next.Mobile.Number != cur.Mobile.Number && !patchSetsVerifiedAt(patch) {
			next.Mobile.VerifiedAt = time.Time{} // a verification proves only the number it was sent to
		}
		updatedAt := cur.UpdatedAt
		stored, _, err := s.writeProfile(ctx, next, &updatedAt)
		if errors.Is(err, ErrConflict) {
			continue // somebody wrote in between: patch the newer version
		}
		if err != nil {
			return Recipient{}, fmt.Errorf("patch recipient %s: %w", id, err)
		}
		return stored, nil
	}
	return Recipient{}, fmt.Errorf("patch recipient %s: %w", id, ErrConflict)
}

func patchSetsVerifiedAt(patch map[string]any) bool {
	m, ok := patch["mobile"].(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["verified_at"]
	return ok
}

// writeProfile stores r, keeping created_at, with suppression flags from the
// suppression list, and updates the indexes. With ifUpdatedAt it writes only
// while the stored profile exists and still has that updated_at (else
// ErrNotFound or ErrConflict).
func (s *Store) writeProfile(ctx context.Context, r Recipient, ifUpdatedAt *time.Time) (Recipient, bool, error) {
	sup, err := s.suppressionsFor(ctx, r)
	if err != nil {
		return Recipient{}, false, err
	}
	var old *Recipient
	stored, err := s.updateProfile(ctx, r.ID, func(cur *Recipient, now time.Time) (*Recipient, error) {
		if ifUpdatedAt != nil {
			if cur == nil {
				return nil, ErrNotFound
			}
			if !cur.UpdatedAt.Equal(*ifUpdatedAt) {
				return nil, ErrConflict
			}
		}
		old = cur
		next := cloneRecipient(r) // the caller's r stays as it was
		next.CreatedAt, next.UpdatedAt = now, now
		if cur != nil {
			next.CreatedAt = cur.CreatedAt
		}
		s.applySuppressions(&next, sup)
		return &next, nil
	})
	if err != nil {
		return Recipient{}, false, err
	}
	if err := s.reindex(ctx, old, &stored); err != nil {
		return Recipient{}, false, err
	}
	// A suppression recorded while we wrote must not be lost: SuppressAddress
	// writes the list before the profile, so reading the list after our write
	// sees every suppression whose profile flag we may have overwritten.
	after, err := s.suppressionsFor(ctx, stored)
	if err != nil {
		return Recipient{}, false, err
	}
	check := cloneRecipient(stored)
	s.applySuppressions(&check, after)
	if !sameFlags(stored, check) {
		if stored, err = s.refreshSuppressions(ctx, r.ID); err != nil {
			return Recipient{}, false, err
		}
	}
	return stored, old == nil, nil
}

func toMap(r Recipient) (map[string]any, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

// mergePatch applies an RFC 7396 merge patch.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// updateProfile runs fn on the current profile (nil if none) in an
// optimistic transaction and stores what it returns. fn may be called more
// than once. It returns the stored profile.
func (s *Store) updateProfile(ctx context.Context, id message.RecipientID, fn func(cur *Recipient, now time.Time) (*Recipient, error)) (Recipient, error) {
	key := s.profileKey(id)
	var stored Recipient
	txf := func(tx *redis.Tx) error {
		var cur *Recipient
		b, err := tx.Get(ctx, key).Bytes()
		switch {
		case errors.Is(err, redis.Nil):
		case err != nil:
			return err
		default:
			r, err := decodeProfile(b)
			if err != nil {
				return err
			}
			cur = &r
		}
		next, err := fn(cur, s.now().UTC())
		if err != nil {
			return err
		}
		if next == nil {
			return nil
		}
		out, err := json.Marshal(next)
		if err != nil {
			return err
		}
		if _, err := tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.Set(ctx, key, out, 0)
			return nil
		}); err != nil {
			return err
		}
		stored = *next
		return nil
	}
	for try := 0; try < maxWriteTries; try++ {
		err := s.rdb.Watch(ctx, txf, key)
		if errors.Is(err, redis.TxFailedErr) {
			continue
		}
		if err != nil {
			return Recipient{}, err
		}
		return stored, nil
	}
	return Recipient{}, ErrConflict
}
