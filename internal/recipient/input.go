package recipient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones validate the same on hosts without a zoneinfo database
	"unicode"

	"github.com/nyaruka/phonenumbers"

	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// Input is a recipient as a producer sends it (PUT body, inline
// recipients of a message). Times are RFC 3339 strings (contract dates may be
// plain dates, YYYY-MM-DD) so that a bad one is reported by field name.
// Read-only fields (suppressed, created_at, updated_at) are accepted so that a
// GET result can be sent back, and ignored.
type Input struct {
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
	Attributes    map[string]any  `json:"attributes,omitempty"`
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

var (
	countryPattern  = regexp.MustCompile(`^[A-Z]{2}$`)
	regionPattern   = regexp.MustCompile(`^[A-Z]{2}$`)
	datePattern     = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	allowedLocales  = []string{"de", "en"}
	allowedNumTypes = []phonenumbers.PhoneNumberType{phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE}
)

// Parse validates and normalises in for recipient id: e-mail
// addresses are checked with net/mail and get a lower-case domain, the mobile
// number is parsed with region as default (e.g. "DE") and turned into E.164,
// and must be a mobile number. On bad input it returns a *ValidationError
// naming each bad field. It does no I/O, so dispatch can use it for
// recipients given inline.
func Parse(id string, in Input, region string) (Recipient, error) {
	var bad invalid.List
	rid, err := message.ParseRecipientID(id)
	if err != nil {
		bad.Add("id", "%v", err)
	}
	if in.ID != "" && in.ID != id {
		bad.Add("id", "does not match the id in the path")
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
		bad.Add("kind", "missing: customer or prospect")
	default:
		bad.Add("kind", "%q is not customer or prospect", in.Kind)
	}
	checkText(&bad, "salutation", r.Salutation)
	checkText(&bad, "first_name", r.FirstName)
	checkText(&bad, "last_name", r.LastName)
	checkText(&bad, "company", r.Company)

	if len(in.Emails) > maxEmails {
		bad.Add("emails", "at most %d addresses", maxEmails)
	}
	seen := map[string]bool{}
	for i, e := range in.Emails {
		field := fmt.Sprintf("emails[%d].address", i)
		addr, err := NormalizeEmail(e.Address)
		if err != nil {
			bad.Add(field, "%v", err)
			continue
		}
		if key := strings.ToLower(addr); seen[key] {
			bad.Add(field, "address given twice")
			continue
		} else {
			seen[key] = true
		}
		r.Emails = append(r.Emails, Email{Address: addr, CollectedInSale: e.CollectedInSale})
	}

	if in.Mobile != nil {
		num, err := NormalizeMobile(in.Mobile.Number, region)
		if err != nil {
			bad.Add("mobile.number", "%v", err)
		}
		m := &Mobile{Number: num}
		if in.Mobile.VerifiedAt != "" {
			t, err := parseTime(in.Mobile.VerifiedAt, false)
			if err != nil {
				bad.Add("mobile.verified_at", "%v", err)
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
			bad.Add("postal_address.country", "%q is not a two-letter ISO 3166 country code", pa.Country)
		}
		if p != (PostalAddress{}) {
			r.PostalAddress = &p
		}
	}

	if r.Locale != "" && !slices.Contains(allowedLocales, r.Locale) {
		bad.Add("locale", "%q is not de or en", in.Locale)
	}
	if r.TimeZone != "" {
		// "Local" and "" would mean the server's zone, not the person's.
		if _, err := time.LoadLocation(r.TimeZone); err != nil || r.TimeZone == "Local" {
			bad.Add("time_zone", "%q is not an IANA time zone such as Europe/Berlin", in.TimeZone)
		}
	}

	if c := in.Contract; c != nil {
		var ct Contract
		var errStart, errEnd error
		if c.StartedAt != "" {
			if ct.StartedAt, errStart = parseTime(c.StartedAt, true); errStart != nil {
				bad.Add("contract.started_at", "%v", errStart)
			}
		}
		if c.EndedAt != "" {
			if ct.EndedAt, errEnd = parseTime(c.EndedAt, true); errEnd != nil {
				bad.Add("contract.ended_at", "%v", errEnd)
			}
		}
		switch {
		case errStart != nil || errEnd != nil:
		case ct.StartedAt.IsZero() && !ct.EndedAt.IsZero():
			bad.Add("contract.started_at", "missing: a contract that ended must have started")
		case !ct.EndedAt.IsZero() && ct.EndedAt.Before(ct.StartedAt):
			bad.Add("contract.ended_at", "before started_at")
		}
		if ct != (Contract{}) {
			r.Contract = &ct
		}
	}
	r.Attributes = parseAttributes(&bad, in.Attributes)
	if err := bad.Err(); err != nil {
		return Recipient{}, err
	}
	return r, nil
}

// Validate checks that r is a valid, normalised profile (as Parse returns
// it), naming each bad field.
func (r Recipient) Validate() error {
	_, err := Parse(string(r.ID), r.Input(), "ZZ")
	return err
}

// Input returns r as a producer would send it.
func (r Recipient) Input() Input {
	in := Input{
		Kind: string(r.Kind), Salutation: r.Salutation, FirstName: r.FirstName, LastName: r.LastName,
		Company: r.Company, PostalAddress: r.PostalAddress, Locale: r.Locale, TimeZone: r.TimeZone,
		OpenRequest: r.OpenRequest,
	}
	if len(r.Attributes) > 0 {
		in.Attributes = r.Attributes.Clone()
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

// Decode strictly decodes a JSON recipient (unknown fields and wrong types
// are field errors) and parses it with Parse.
func Decode(id string, body []byte, region string) (Recipient, error) {
	var in Input
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return Recipient{}, jsonFieldError(err)
	}
	return Parse(id, in, region)
}

func jsonFieldError(err error) error {
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return &invalid.Error{Fields: []invalid.Field{{Field: field, Message: fmt.Sprintf("must be %s, not %s", typ.Type, typ.Value)}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &invalid.Error{Fields: []invalid.Field{{Field: name, Message: "unknown field"}}}
	default:
		return &invalid.Error{Fields: []invalid.Field{{Field: "(body)", Message: "malformed JSON: " + err.Error()}}}
	}
}

func checkText(bad *invalid.List, field, s string) {
	if len(s) > maxTextLen {
		bad.Add(field, "longer than %d bytes", maxTextLen)
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		bad.Add(field, "contains control characters")
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
	// GetNumberType matches the number against its region's patterns, as
	// IsValidNumber does: UNKNOWN is an invalid number. Asking once halves
	// the cost of a bulk import's numbers.
	switch typ := phonenumbers.GetNumberType(num); {
	case typ == phonenumbers.UNKNOWN:
		return "", errors.New("not a valid phone number for its country")
	case !slices.Contains(allowedNumTypes, typ):
		return "", errors.New("not a mobile number")
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}
