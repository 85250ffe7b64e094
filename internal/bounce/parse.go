package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // decodes ISO-8859-1 and other charsets of auto-reply subjects
	"github.com/emersion/go-message/mail"
)

// Kind is what a report says about a message.
type Kind string

// The kinds of reports.
const (
	// Hard is a permanent failure of the address (RFC 3463 5.1.x unknown
	// user or domain, 5.2.1 mailbox disabled, other 5.x.x).
	Hard Kind = "hard"
	// Soft is a temporary failure (4.x.x, mailbox full, message too big,
	// a policy rejection that is about the sender rather than the address).
	Soft Kind = "soft"
	// Complaint is an ARF feedback report of type abuse: the person marked
	// the message as spam.
	Complaint Kind = "complaint"
	// AutoReply is a vacation or other automatic answer (RFC 3834). It is
	// never a bounce.
	AutoReply Kind = "auto_reply"
	// Ignored is anything else: a successful delivery report, a feedback
	// report of another type, an ordinary mail.
	Ignored Kind = "ignored"
)

// ParseKind returns the kind named s, or an error naming s.
func ParseKind(s string) (Kind, error) {
	switch k := Kind(s); k {
	case Hard, Soft, Complaint, AutoReply, Ignored:
		return k, nil
	}
	return "", fmt.Errorf("unknown kind %q (want hard, soft, complaint, auto_reply or ignored)", s)
}

// Parsed is what a report says, without any address.
type Parsed struct {
	Kind         Kind   `json:"kind"`
	Status       string `json:"status,omitempty"`        // RFC 3463, e.g. "5.1.1"
	Action       string `json:"action,omitempty"`        // DSN action: failed, delayed, delivered, relayed, expanded
	Diagnostic   string `json:"diagnostic,omitempty"`    // sanitised: no addresses, no numbers
	FeedbackType string `json:"feedback_type,omitempty"` // ARF: abuse, fraud, virus, not-spam, other
	Format       string `json:"format"`                  // dsn, arf, auto_reply, plain
	// candidates are addresses that may be the VERP address: the DSN's own
	// recipients, ARF's Original-Mail-From, the original's Return-Path.
	candidates []string
	// recipient is the address the bounced or reported message went to (the
	// DSN's Final-Recipient, the reported original's To): in memory only,
	// for finding the person of a campaign message.
	recipient string
}

var (
	statusRe  = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	addressRe = regexp.MustCompile(`[^\s<>"'(),;:\[\]]+@[^\s<>"'(),;:\[\]]+`)
	// inTextRe is an address in free text, with its angle brackets.
	inTextRe     = regexp.MustCompile(`<?[^\s<>"'(),;:\[\]]+@[^\s<>"'(),;:\[\]]+>?`)
	numberRe     = regexp.MustCompile(`\+?\d[\d ()/.-]{6,}\d`)
	spaceRe      = regexp.MustCompile(`\s+`)
	autoSubjects = regexp.MustCompile(`(?i)^\s*(out of (the )?office|abwesenheit|automatische antwort|auto(matic)?[ -]?reply|autoresponse|vacation|urlaub|réponse automatique|absence|auto:)`)
	daemonFrom   = regexp.MustCompile(`(?i)^(mailer-daemon|postmaster|mail-daemon)@`)
)

// maxDiagnostic is the longest diagnostic kept, in runes.
const maxDiagnostic = 200

// Sanitize removes what may identify a person from a diagnostic text
// (addresses and anything that looks like a phone number), collapses
// white space and cuts it to 200 characters.
func Sanitize(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	s = inTextRe.ReplaceAllString(s, "[address]")
	s = numberRe.ReplaceAllStringFunc(s, func(m string) string {
		if statusRe.MatchString(m) || strings.Count(m, ".") == 3 {
			return m // an RFC 3463 code or an IPv4 address of a mail server, not a person's number
		}
		return "[number]"
	})
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.TrimSpace(spaceRe.ReplaceAllString(s, " "))
	if utf8.RuneCountInString(s) > maxDiagnostic {
		s = string([]rune(s)[:maxDiagnostic])
	}
	return s
}

// ErrMalformed means the report is not a MIME message at all.
var ErrMalformed = errors.New("not a MIME message")

// Parse reads a report (RFC 5322 message): a DSN (RFC 3464, multipart/report
// with message/delivery-status), an ARF feedback report (RFC 5965,
// message/feedback-report), an automatic reply (RFC 3834 Auto-Submitted,
// X-Autoreply and the like, or an out-of-office subject), or a plain
// non-delivery notice from a mailer daemon. A vacation reply is never a
// bounce, whatever its text says: only a DSN or a mailer daemon's notice is.
func Parse(raw []byte) (Parsed, error) {
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return Parsed{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	top := mail.Header{Header: e.Header}
	p := Parsed{Kind: Ignored, Format: "plain"}
	for _, h := range []string{"To", "Delivered-To", "X-Original-To", "Envelope-To"} {
		p.candidates = append(p.candidates, headerAddresses(top.Get(h))...)
	}
	var (
		dsn, arf []textproto.MIMEHeader
		text     strings.Builder
	)
	walkErr := e.Walk(func(path []int, part *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return err
		}
		mt, _, _ := part.Header.ContentType()
		switch mt {
		case "message/delivery-status", "message/global-delivery-status":
			dsn = append(dsn, headerBlocks(part.Body)...)
		case "message/feedback-report":
			arf = append(arf, headerBlocks(part.Body)...)
		case "message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers":
			blocks := headerBlocks(io.LimitReader(part.Body, 256<<10))
			if len(blocks) > 0 {
				p.candidates = append(p.candidates, headerAddresses(blocks[0].Get("Return-Path"))...)
				if p.recipient == "" {
					p.recipient = firstAddress(blocks[0].Get("To"))
				}
			}
		case "text/plain", "":
			if len(path) <= 1 && text.Len() < 64<<10 {
				b, _ := io.ReadAll(io.LimitReader(part.Body, 64<<10))
				text.Write(b)
			}
		}
		return nil
	})
	if walkErr != nil && len(dsn) == 0 && len(arf) == 0 {
		return Parsed{}, fmt.Errorf("%w: %v", ErrMalformed, walkErr)
	}
	switch {
	case len(dsn) > 0:
		p.Format = "dsn"
		classifyDSN(&p, dsn)
	case len(arf) > 0:
		p.Format = "arf"
		f := arf[0]
		p.FeedbackType = strings.ToLower(strings.TrimSpace(f.Get("Feedback-Type")))
		if p.FeedbackType == "abuse" {
			p.Kind = Complaint
		}
		p.candidates = append(p.candidates, headerAddresses(f.Get("Original-Mail-From"))...)
	case isAutoReply(top):
		p.Format, p.Kind = "auto_reply", AutoReply
	case daemonFrom.MatchString(firstAddress(top.Get("From"))):
		// A mailer daemon's notice without a DSN (old or minimal MTAs): only
		// an RFC 3463 code in its text counts, no guessing from words.
		if m := statusRe.FindString(text.String()); m != "" {
			p.Status = m
			p.Action = "failed"
			p.Kind = kindOf(m, "failed")
			p.Diagnostic = Sanitize(lineWith(text.String(), m))
		}
	}
	return p, nil
}

// classifyDSN takes the most severe recipient of a DSN: hard over soft over
// anything else. A DSN of a VERP message names one person, but an MTA may
// list an address twice (original and expanded).
func classifyDSN(p *Parsed, blocks []textproto.MIMEHeader) {
	rank := map[Kind]int{Ignored: 0, Soft: 1, Hard: 2}
	for i, b := range blocks {
		if i == 0 && b.Get("Final-Recipient") == "" && b.Get("Action") == "" {
			continue // the per-message block
		}
		action := strings.ToLower(strings.TrimSpace(b.Get("Action")))
		diag := b.Get("Diagnostic-Code")
		status := statusRe.FindString(b.Get("Status"))
		if status == "" {
			status = statusRe.FindString(diag)
		}
		k := kindOf(status, action)
		if rank[k] > rank[p.Kind] || p.Status == "" && k == p.Kind {
			p.Kind, p.Status, p.Action = k, status, action
			if a := firstAddress(b.Get("Final-Recipient")); a != "" {
				p.recipient = a
			} else if a := firstAddress(b.Get("Original-Recipient")); a != "" {
				p.recipient = a
			}
			if _, d, ok := strings.Cut(diag, ";"); ok {
				diag = d
			}
			p.Diagnostic = Sanitize(diag)
		}
	}
}

// kindOf classifies an RFC 3463 status of a DSN action (RFC 3464 2.3.3).
func kindOf(status, action string) Kind {
	switch action {
	case "delivered", "relayed", "expanded":
		return Ignored
	case "delayed":
		return Soft
	}
	m := statusRe.FindStringSubmatch(status)
	if m == nil {
		if action == "failed" {
			return Soft // failed without a code: count it, suppress only if it repeats
		}
		return Ignored
	}
	class, detail := m[1], m[2]+"."+m[3]
	switch {
	case class == "2":
		return Ignored
	case class == "4":
		return Soft
	case detail == "2.2", detail == "2.3", detail == "3.4":
		// Mailbox full, message too big: about this message or this moment,
		// not about the address (RFC 3463 3.3, 3.4).
		return Soft
	case m[2] == "7":
		// Security or policy (spam filter, blocked sender): about the sender's
		// reputation or the content, not the address. Counted as soft, so a
		// repeated rejection still suppresses.
		return Soft
	}
	return Hard
}

// isAutoReply reports RFC 3834's Auto-Submitted (anything but "no"), the
// headers that Exchange, Gmail and common vacation programs set, and the
// subjects of out-of-office replies.
func isAutoReply(h mail.Header) bool {
	if v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); v != "" && v != "no" {
		return true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Auto-Response", "X-Vacation"} {
		if h.Get(k) != "" {
			return true
		}
	}
	if p := strings.ToLower(h.Get("Precedence")); p == "auto_reply" {
		return true
	}
	subject, _ := h.Subject()
	return autoSubjects.MatchString(subject)
}

// headerBlocks reads the header blocks of a delivery-status or
// feedback-report body: blocks separated by blank lines.
func headerBlocks(r io.Reader) []textproto.MIMEHeader {
	tr := textproto.NewReader(bufio.NewReader(io.LimitReader(r, 1<<20)))
	var out []textproto.MIMEHeader
	for range 1000 {
		h, err := tr.ReadMIMEHeader()
		if len(h) > 0 {
			out = append(out, h)
		}
		if err != nil {
			break
		}
	}
	return out
}

// headerAddresses returns the addresses of a header value: "<a@b>", "rfc822;
// a@b" (DSN and ARF fields) or an address list.
func headerAddresses(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	if t, rest, ok := strings.Cut(v, ";"); ok && !strings.Contains(t, "@") {
		v = strings.TrimSpace(rest)
	}
	return addressRe.FindAllString(v, 10)
}

func firstAddress(v string) string {
	a := headerAddresses(v)
	if len(a) == 0 {
		return ""
	}
	return strings.Trim(a[0], "<>")
}

func lineWith(text, needle string) string {
	for line := range strings.SplitSeq(text, "\n") {
		if strings.Contains(line, needle) {
			return line
		}
	}
	return ""
}
