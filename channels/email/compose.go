package email

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	gomail "github.com/wneessen/go-mail"

	"github.com/heroldhq/herold/channels"
)

// Identity is who a message comes from: the From address (also the envelope
// sender) with its display name, and where replies go.
type Identity struct {
	From     string // plain address, e.g. rechnung@example.com
	FromName string // display name; umlauts are encoded as RFC 2047 words
	ReplyTo  string // plain address; empty: replies go to From
}

// ComposeConfig is what every message built for one sender shares.
type ComposeConfig struct {
	From     string // default sender, e.g. "news@example.com"
	FromName string // its display name
	ReplyTo  string // default Reply-To; empty: none

	// Classes sets the sender per queue class (transactional, service,
	// marketing) and Types per message type (invoice → rechnung@…); a type
	// wins over its class, a class over the default, and an empty field
	// keeps what the level below says.
	Classes map[string]Identity
	Types   map[string]Identity

	// UnsubscribeMailto is the mailto target used in List-Unsubscribe when
	// the rendered message names none (Outbound.UnsubscribeMailto).
	UnsubscribeMailto string

	// DKIM signing, when DKIMKey (PEM, RSA or Ed25519, PKCS#1 or PKCS#8) is set.
	DKIMKey      []byte
	DKIMSelector string
	DKIMDomain   string // default: the domain of each message's From address

	// ReturnPath, when set, gives the envelope sender (Return-Path) of one
	// message from its id: a signed VERP address whose bounces come back to
	// Herold and name the message. An id it cannot encode returns an error,
	// and that message keeps its From address as envelope sender.
	ReturnPath func(messageID string) (string, error)

	// Now returns the Date header's time; default time.Now.
	Now func() time.Time
}

// Composer builds the MIME message for an Outbound. The SMTP sender and the
// outbox use the same Composer, so a message in the outbox has exactly the
// bytes it would have had on the wire.
//
// go-mail encodes what needs encoding (the From and Reply-To headers, the
// subject as RFC 2047 words, the bodies as quoted-printable); the Composer
// keeps what it encoded, since a campaign sends the same sender, subject and
// most body lines thousands of times, and joins the pieces itself
// (BenchmarkCompose has the figures).
type Composer struct {
	domain       string // of Message-IDs: the default sender's
	mailto       string
	dkimDomain   string
	dkimSelector string
	dkimKey      crypto.Signer
	returnPath   func(string) (string, error)
	now          func() time.Time

	base    Identity
	classes map[string]Identity
	types   map[string]Identity
	senders sync.Map // senderKey → *sender

	subjects memo // subject → its header field
	lines    memo // body line → quoted-printable
}

// sender is an Identity as it goes on the wire.
type sender struct {
	envelope string // MAIL FROM
	header   string // From and Reply-To fields
	dkim     string // d= domain
	replyTo  bool
}

type senderKey struct{ class, typ string }

// NewComposer checks cfg and returns a Composer.
func NewComposer(cfg ComposeConfig) (*Composer, error) {
	base := Identity{From: cfg.From, FromName: cfg.FromName, ReplyTo: cfg.ReplyTo}
	if err := checkIdentity("from address", base, true); err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(base.From, "@")
	c := &Composer{domain: domain, now: cfg.Now, base: base, returnPath: cfg.ReturnPath,
		classes: maps.Clone(cfg.Classes), types: maps.Clone(cfg.Types),
		subjects: memo{max: 1024}, lines: memo{max: 16384}}
	if c.now == nil {
		c.now = time.Now
	}
	for _, set := range []struct {
		what string
		m    map[string]Identity
	}{{"class", cfg.Classes}, {"type", cfg.Types}} {
		for _, k := range slices.Sorted(maps.Keys(set.m)) {
			if err := checkIdentity(set.what+" "+k, set.m[k], false); err != nil {
				return nil, err
			}
		}
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
		c.dkimKey, c.dkimSelector, c.dkimDomain = key, cfg.DKIMSelector, strings.ToLower(cfg.DKIMDomain)
		// Fail at start-up, not on the first message.
		if _, err := dkim.NewSigner(c.dkimOptions(domain, dkimKeys(false, false))); err != nil {
			return nil, fmt.Errorf("email: DKIM: %w", err)
		}
	}
	return c, nil
}

// checkIdentity checks the addresses of id; full: From is required.
func checkIdentity(what string, id Identity, full bool) error {
	if id.From != "" || full {
		if a, err := mail.ParseAddress(id.From); err != nil || a.Name != "" || a.Address != id.From {
			return fmt.Errorf("email: %s %q is not a plain address like news@example.com", what, id.From)
		}
	}
	if id.ReplyTo != "" {
		if a, err := mail.ParseAddress(id.ReplyTo); err != nil || a.Name != "" || a.Address != id.ReplyTo {
			return fmt.Errorf("email: %s: reply-to %q is not a plain address like service@example.com", what, id.ReplyTo)
		}
	}
	return nil
}

// Sender returns who a message of the class and type comes from.
func (c *Composer) Sender(class, typ string) Identity {
	id := c.base
	for _, over := range []Identity{c.classes[class], c.types[typ]} {
		id.From = cmpOr(over.From, id.From)
		id.FromName = cmpOr(over.FromName, id.FromName)
		id.ReplyTo = cmpOr(over.ReplyTo, id.ReplyTo)
	}
	return id
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// From returns the default sender address.
func (c *Composer) From() string { return c.base.From }

// sender returns the encoded sender of class and type.
func (c *Composer) sender(class, typ string) (*sender, error) {
	k := senderKey{class, typ}
	if s, ok := c.senders.Load(k); ok {
		return s.(*sender), nil
	}
	id := c.Sender(class, typ)
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.FromFormat(oneLine(id.FromName), id.From); err != nil {
		return nil, fmt.Errorf("email: from address: %w", err)
	}
	if id.ReplyTo != "" {
		if err := msg.ReplyTo(id.ReplyTo); err != nil {
			return nil, fmt.Errorf("email: reply-to address: %w", err)
		}
	}
	head, err := fields(msg, "From", "Reply-To")
	if err != nil {
		return nil, err
	}
	_, domain, _ := strings.Cut(id.From, "@")
	s := &sender{envelope: id.From, header: head, dkim: cmpOr(c.dkimDomain, strings.ToLower(domain)), replyTo: id.ReplyTo != ""}
	actual, _ := c.senders.LoadOrStore(k, s)
	return actual.(*sender), nil
}

// fields writes msg with go-mail and returns its header fields of the given
// names, as go-mail formatted them (encoded and folded).
func fields(msg *gomail.Msg, names ...string) (string, error) {
	var buf bytes.Buffer
	msg.SetBodyString(gomail.TypeTextPlain, "")
	if _, err := msg.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("email: %w", err)
	}
	head, _, _ := bytes.Cut(buf.Bytes(), []byte("\r\n\r\n"))
	var out strings.Builder
	for _, name := range names {
		for _, f := range splitFields(string(head) + "\r\n") {
			if k, _, _ := strings.Cut(f, ":"); strings.EqualFold(k, name) {
				out.WriteString(f)
			}
		}
	}
	return out.String(), nil
}

// splitFields cuts a header block into fields, each with its continuation
// lines and final CRLF.
func splitFields(head string) []string {
	var out []string
	for head != "" {
		end := 0
		for {
			i := strings.Index(head[end:], "\r\n")
			if i < 0 {
				end = len(head)
				break
			}
			end += i + 2
			if end >= len(head) || (head[end] != ' ' && head[end] != '\t') {
				break
			}
		}
		out = append(out, head[:end])
		head = head[end:]
	}
	return out
}

// subject returns the Subject field for s as go-mail writes it.
func (c *Composer) subject(s string) (string, error) {
	if f, ok := c.subjects.get(s); ok {
		return f, nil
	}
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.Subject(oneLine(s))
	f, err := fields(msg, "Subject")
	if err != nil {
		return "", err
	}
	c.subjects.put(s, f)
	return f, nil
}

// MessageID returns the Message-ID (without angle brackets) for a Herold
// message id: stable across retries, so a receiver can drop duplicates.
func (c *Composer) MessageID(id string) string {
	var b strings.Builder
	b.Grow(len(id) + 1 + len(c.domain))
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
	b.WriteByte('@')
	b.WriteString(c.domain)
	return b.String()
}

// Message is one composed e-mail: the envelope and the bytes of the message
// (CRLF line ends, not yet dot-stuffed).
type Message struct {
	From, To  string // envelope
	MessageID string // without angle brackets
	Data      []byte
}

// Compose builds the MIME message for m: From and Reply-To of its class and
// type, text with an HTML alternative, UTF-8 quoted-printable bodies, RFC
// 2047 encoded headers, a stable Message-ID, for messages with an
// UnsubscribeURL List-Unsubscribe and List-Unsubscribe-Post (RFC 8058),
// List-Id (RFC 2919) when set, and a DKIM signature when configured. The
// bytes are appended to buf (which may be nil), so a sender can reuse one.
//
// Errors are permanent (the same Outbound fails the same way every time) and
// never contain the address.
func (c *Composer) Compose(buf []byte, m channels.Outbound) (Message, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" || strings.ContainsAny(m.To, "\r\n<>,") {
		// net/mail's and go-mail's errors quote the address: keep them out.
		return Message{}, channels.Permanent(fmt.Errorf("email: recipient: %w", channels.ErrInvalidAddress))
	}
	if m.Text == "" && m.HTML == "" {
		return Message{}, channels.Permanent(errors.New("email: message has neither text nor HTML"))
	}
	snd, err := c.sender(m.Class, m.Type)
	if err != nil {
		return Message{}, channels.Permanent(err)
	}
	subject, err := c.subject(m.Subject)
	if err != nil {
		return Message{}, channels.Permanent(err)
	}
	var unsubscribe, listID string
	if m.UnsubscribeURL != "" {
		https, err := headerURI(m.UnsubscribeURL)
		if err != nil {
			return Message{}, channels.Permanent(fmt.Errorf("email: unsubscribe URL: %w", err))
		}
		mailto := c.mailto
		if m.UnsubscribeMailto != "" {
			if mailto, err = mailtoURI(m.UnsubscribeMailto); err != nil {
				return Message{}, channels.Permanent(fmt.Errorf("email: unsubscribe mailto: %w", err))
			}
		}
		unsubscribe = "<" + https + ">"
		if mailto != "" {
			unsubscribe = "<" + mailto + ">, " + unsubscribe
		}
	}
	if m.ListID != "" {
		if listID = strings.Trim(oneLine(m.ListID), "<> "); listID == "" || strings.ContainsAny(listID, "<> \t") {
			return Message{}, channels.Permanent(errors.New("email: list id must be a dot-atom like news.example.com"))
		}
	}

	id := c.MessageID(m.MessageID)
	start := len(buf)
	b := buf
	b = append(b, snd.header...)
	b = append(b, "To: "...)
	b = append(b, to.String()...)
	b = append(b, "\r\n"...)
	b = append(b, subject...)
	b = append(b, "Date: "...)
	b = c.now().AppendFormat(b, time.RFC1123Z)
	b = append(b, "\r\nMessage-ID: <"...)
	b = append(b, id...)
	b = append(b, ">\r\nMIME-Version: 1.0\r\n"...)
	if unsubscribe != "" {
		b = append(b, "List-Unsubscribe: "...)
		b = append(b, unsubscribe...)
		b = append(b, "\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"...)
	}
	if listID != "" {
		b = append(b, "List-Id: <"...)
		b = append(b, listID...)
		b = append(b, ">\r\n"...)
	}
	switch {
	case m.Text != "" && m.HTML != "":
		// The framing of go-mail (and mime/multipart) for text with an HTML alternative.
		bd := boundary(id)
		b = append(b, "Content-Type: multipart/alternative;\r\n boundary="...)
		b = append(b, bd...)
		b = append(b, "\r\n\r\n--"...)
		b = append(b, bd...)
		b = append(b, "\r\n"+partHeader("text/plain")...)
		b = c.quotedPrintable(b, m.Text)
		b = append(b, "\r\n--"...)
		b = append(b, bd...)
		b = append(b, "\r\n"+partHeader("text/html")...)
		b = c.quotedPrintable(b, m.HTML)
		b = append(b, "\r\n--"...)
		b = append(b, bd...)
		b = append(b, "--\r\n"...)
	case m.Text != "":
		b = append(b, partHeader("text/plain")...)
		b = endLine(c.quotedPrintable(b, m.Text))
	default:
		b = append(b, partHeader("text/html")...)
		b = endLine(c.quotedPrintable(b, m.HTML))
	}
	if c.dkimKey != nil {
		if b, err = c.sign(b, start, snd.dkim, snd.replyTo, unsubscribe != ""); err != nil {
			return Message{}, fmt.Errorf("email: DKIM: %w", err)
		}
	}
	envelope := snd.envelope
	if c.returnPath != nil && m.MessageID != "" {
		if rp, err := c.returnPath(m.MessageID); err == nil {
			envelope = rp
		}
	}
	return Message{From: envelope, To: to.Address, MessageID: id, Data: b[start:]}, nil
}

// partHeader is the header of a body part, as go-mail writes it.
func partHeader(contentType string) string {
	return "Content-Transfer-Encoding: quoted-printable\r\nContent-Type: " + contentType + "; charset=UTF-8\r\n\r\n"
}

// endLine ends the message with a line break, which the SMTP data phase
// would add anyway: the outbox file and the wire then hold the same bytes.
func endLine(b []byte) []byte {
	if !bytes.HasSuffix(b, []byte("\r\n")) {
		b = append(b, "\r\n"...)
	}
	return b
}

// dkimKeys lists the signed header fields. Those a receiver shows or acts
// on are listed once more than they occur ("oversigned", RFC 6376 section
// 8.15), so that a copy with another From, Subject or unsubscribe target
// added in transit fails to verify; mailbox providers ignore one-click
// unsubscribe (RFC 8058 section 4) unless the list headers are signed.
func dkimKeys(replyTo, list bool) []string {
	keys := []string{"From", "From", "To", "To", "Subject", "Subject", "Date", "Date",
		"Message-ID", "MIME-Version", "Content-Type", "Reply-To"}
	if replyTo {
		keys = append(keys, "Reply-To")
	}
	keys = append(keys, "List-Unsubscribe", "List-Unsubscribe-Post")
	if list {
		keys = append(keys, "List-Unsubscribe", "List-Unsubscribe-Post")
	}
	return append(keys, "List-Id")
}

// sign puts a DKIM-Signature over b[start:] in front of it.
func (c *Composer) sign(b []byte, start int, domain string, replyTo, list bool) ([]byte, error) {
	s, err := dkim.NewSigner(c.dkimOptions(domain, dkimKeys(replyTo, list)))
	if err != nil {
		return nil, err
	}
	if _, err := s.Write(b[start:]); err != nil {
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	return slices.Insert(b, start, []byte(s.Signature())...), nil
}

func (c *Composer) dkimOptions(domain string, keys []string) *dkim.SignOptions {
	return &dkim.SignOptions{
		Domain:                 domain,
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
