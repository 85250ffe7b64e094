package email

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/heroldhq/herold/channels"
)

// dkimHeaders are signed on every message; the list headers are added when
// present, because mailbox providers ignore one-click unsubscribe (RFC 8058
// section 4) unless List-Unsubscribe and List-Unsubscribe-Post are signed.
var dkimHeaders = []string{"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}

// ComposeConfig is what every message built for one sender shares.
type ComposeConfig struct {
	From     string // envelope and header sender, e.g. "news@example.com"
	FromName string // display name; umlauts are encoded as RFC 2047 words

	// UnsubscribeMailto is the mailto target used in List-Unsubscribe when
	// the rendered message names none (Outbound.UnsubscribeMailto).
	UnsubscribeMailto string

	// DKIM signing, when DKIMKey (PEM, RSA or Ed25519, PKCS#1 or PKCS#8) is set.
	DKIMKey      []byte
	DKIMSelector string
	DKIMDomain   string // default: the From address's domain

	// Now returns the Date header's time; default time.Now.
	Now func() time.Time
}

// Composer builds the MIME message for an Outbound. The SMTP sender and the
// outbox use the same Composer, so a message in the outbox has exactly the
// headers it would have had on the wire.
type Composer struct {
	from, fromName string
	domain         string
	mailto         string
	dkimDomain     string
	dkimSelector   string
	dkimKey        crypto.Signer
	now            func() time.Time
}

// NewComposer checks cfg and returns a Composer.
func NewComposer(cfg ComposeConfig) (*Composer, error) {
	addr, err := mail.ParseAddress(cfg.From)
	if err != nil || addr.Name != "" {
		return nil, fmt.Errorf("email: from address %q is not a plain address like news@example.com", cfg.From)
	}
	_, domain, _ := strings.Cut(addr.Address, "@")
	c := &Composer{
		from:     addr.Address,
		fromName: oneLine(cfg.FromName),
		domain:   domain,
		now:      cfg.Now,
	}
	if c.now == nil {
		c.now = time.Now
	}
	if cfg.UnsubscribeMailto != "" {
		m, err := mailtoURI(cfg.UnsubscribeMailto)
		if err != nil {
			return nil, fmt.Errorf("email: unsubscribe mailto: %w", err)
		}
		c.mailto = m
	}
	if len(cfg.DKIMKey) > 0 {
		key, err := gomail.PrivKeyFromPEM(cfg.DKIMKey)
		if err != nil {
			return nil, fmt.Errorf("email: DKIM key: %w", err)
		}
		if cfg.DKIMSelector == "" {
			return nil, errors.New("email: a DKIM key needs a selector")
		}
		c.dkimKey = key
		c.dkimSelector = cfg.DKIMSelector
		c.dkimDomain = cfg.DKIMDomain
		if c.dkimDomain == "" {
			c.dkimDomain = domain
		}
		// Fail at start-up, not on the first message.
		if _, err := dkim.NewSigner(c.dkimOptions(nil)); err != nil {
			return nil, fmt.Errorf("email: DKIM: %w", err)
		}
	}
	return c, nil
}

// From returns the sender address.
func (c *Composer) From() string { return c.from }

// MessageID returns the Message-ID (without angle brackets) for a Herold
// message id: stable across retries, so a receiver can drop duplicates.
func (c *Composer) MessageID(id string) string {
	var b strings.Builder
	for _, r := range id {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-_+=", r):
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("herold")
	}
	return b.String() + "@" + c.domain
}

// Message builds the MIME message for m: text with an HTML alternative,
// UTF-8 quoted-printable bodies, RFC 2047 encoded headers, a stable Message-ID
// and, for messages with an UnsubscribeURL, List-Unsubscribe and
// List-Unsubscribe-Post (RFC 8058), and List-Id (RFC 2919) when set.
//
// Errors are permanent (the same Outbound fails the same way every time) and
// never contain the address.
func (c *Composer) Message(m channels.Outbound) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(c.fromName, c.from); err != nil {
		return nil, channels.Permanent(fmt.Errorf("email: from address: %w", err))
	}
	if _, err := mail.ParseAddress(m.To); err != nil || strings.ContainsAny(m.To, "\r\n<>,") {
		// net/mail's and go-mail's errors quote the address: keep them out.
		return nil, channels.Permanent(fmt.Errorf("email: recipient: %w", channels.ErrInvalidAddress))
	}
	if err := msg.To(m.To); err != nil {
		return nil, channels.Permanent(fmt.Errorf("email: recipient: %w", channels.ErrInvalidAddress))
	}
	if m.Text == "" && m.HTML == "" {
		return nil, channels.Permanent(errors.New("email: message has neither text nor HTML"))
	}
	msg.Subject(oneLine(m.Subject))
	msg.SetDateWithValue(c.now())
	msg.SetMessageIDWithValue(c.MessageID(m.MessageID))
	signed := dkimHeaders

	if m.UnsubscribeURL != "" {
		https, err := headerURI(m.UnsubscribeURL)
		if err != nil {
			return nil, channels.Permanent(fmt.Errorf("email: unsubscribe URL: %w", err))
		}
		mailto := c.mailto
		if m.UnsubscribeMailto != "" {
			if mailto, err = mailtoURI(m.UnsubscribeMailto); err != nil {
				return nil, channels.Permanent(fmt.Errorf("email: unsubscribe mailto: %w", err))
			}
		}
		value := "<" + https + ">"
		if mailto != "" {
			value = "<" + mailto + ">, " + value
		}
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribe, value)
		msg.SetGenHeaderPreformatted(gomail.HeaderListUnsubscribePost, "List-Unsubscribe=One-Click")
		signed = append(signed[:len(signed):len(signed)], "List-Unsubscribe", "List-Unsubscribe-Post")
	}
	if m.ListID != "" {
		id := strings.Trim(oneLine(m.ListID), "<> ")
		if id == "" || strings.ContainsAny(id, "<> \t") {
			return nil, channels.Permanent(errors.New("email: list id must be a dot-atom like news.example.com"))
		}
		msg.SetGenHeaderPreformatted(gomail.Header("List-Id"), "<"+id+">")
		signed = append(signed[:len(signed):len(signed)], "List-Id")
	}

	switch {
	case m.Text != "" && m.HTML != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	case m.Text != "":
		msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	default:
		msg.SetBodyString(gomail.TypeTextHTML, m.HTML)
	}

	// A fixed boundary, so that writing the message again (to sign it, then
	// to send it) gives the same bytes.
	msg.SetBoundary(boundary(c.MessageID(m.MessageID)))
	if c.dkimKey != nil {
		if err := c.sign(msg, signed); err != nil {
			return nil, fmt.Errorf("email: DKIM: %w", err)
		}
	}
	return msg, nil
}

// sign adds a DKIM-Signature over the headers named by keys and the body.
//
// go-msgauth signs rather than go-mail's own signer: go-mail v0.8.1 folds a
// long h= tag in the middle of a header name, and relaxed canonicalization
// then turns that fold into a space the signer did not hash, so signatures
// over the list headers fail to verify.
func (c *Composer) sign(msg *gomail.Msg, keys []string) error {
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return err
	}
	s, err := dkim.NewSigner(c.dkimOptions(keys))
	if err != nil {
		return err
	}
	if _, err := s.Write(buf.Bytes()); err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	value := strings.TrimPrefix(s.Signature(), "DKIM-Signature:")
	value = strings.TrimRight(strings.TrimPrefix(value, " "), "\r\n")
	msg.SetGenHeaderPreformatted("DKIM-Signature", value)
	return nil
}

func (c *Composer) dkimOptions(keys []string) *dkim.SignOptions {
	if keys == nil {
		keys = dkimHeaders
	}
	return &dkim.SignOptions{
		Domain:                 c.dkimDomain,
		Selector:               c.dkimSelector,
		Signer:                 c.dkimKey,
		Hash:                   crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             keys,
	}
}

// boundary derives a MIME boundary from the Message-ID.
func boundary(id string) string {
	sum := sha256.Sum256([]byte(id))
	return "herold-" + hex.EncodeToString(sum[:16])
}

// oneLine replaces line breaks and other control characters by spaces, so a
// value cannot start a header of its own.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// headerURI checks that u is an absolute http(s) URL that can stand in <…>.
func headerURI(u string) (string, error) {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return "", errors.New("not an absolute https URL")
	}
	if strings.ContainsAny(u, "<> \t\r\n\"") {
		return "", errors.New("URL holds characters not allowed in a header")
	}
	return u, nil
}

// mailtoURI accepts "mailto:addr?…" or a bare address and returns a mailto URI.
func mailtoURI(s string) (string, error) {
	if !strings.HasPrefix(s, "mailto:") {
		s = "mailto:" + s
	}
	p, err := url.Parse(s)
	if err != nil || p.Opaque == "" || !strings.Contains(p.Opaque, "@") {
		return "", errors.New("not a mailto: address")
	}
	if strings.ContainsAny(s, "<> \t\r\n\"") {
		return "", errors.New("mailto holds characters not allowed in a header")
	}
	return s, nil
}
