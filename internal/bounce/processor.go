package bounce

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/invalid"
)

// Report is what the delivery core is told about a bounce or complaint.
type Report struct {
	ReportID    string `json:"report_id"` // the stored report, for Get and GET /v1/bounces/{id}
	MessageID   string `json:"message_id"`
	RecipientID string `json:"recipient_id,omitempty"` // only when the sender named it (HTTP); else the core looks it up
	Kind        Kind   `json:"kind"`                   // Hard, Soft or Complaint
	Status      string `json:"status,omitempty"`
	Action      string `json:"action,omitempty"`
	Diagnostic  string `json:"diagnostic,omitempty"` // sanitised
	ReceivedAt  time.Time
	// Address is the address the message went to, as the report names it:
	// personal data, never stored or logged; only for finding the person of
	// a campaign message (whose id does not name them).
	Address string `json:"-"`
}

// Effects applies a report to the ledger, the suppression list and the
// message record. It lives in the delivery core, so that what a hard bounce
// means is decided in one place: hard → suppress the address and mark the
// message bounced; soft → count, suppress after HEROLD_BOUNCE_SOFT_LIMIT
// within HEROLD_BOUNCE_SOFT_WINDOW; complaint → an objection to advertising
// on e-mail with source "complaint". Bounced is called once per stored
// report (duplicates are dropped before), only for Hard, Soft and Complaint
// reports whose VERP signature verified. An error makes the report
// temporarily failed (SMTP 451, HTTP 503), so the sender tries again.
type Effects interface {
	Bounced(ctx context.Context, r Report) error
}

// Observer is told about every processed report, for metrics. matched is
// false when no valid VERP address named a message.
type Observer interface {
	BounceReport(kind string, matched bool)
}

// Stored is a processed report as kept in Redis.
type Stored struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"received_at"`
	Source     string    `json:"source"` // smtp or http
	Parsed
	MessageID string `json:"message_id,omitempty"` // empty: no valid VERP address (forged or unknown)
	Duplicate bool   `json:"duplicate,omitempty"`  // set on the answer to a copy of an earlier report
	// Raw is the report as received. It holds personal data (the original
	// message, the address in the diagnostic): it expires after
	// HEROLD_BOUNCE_REPORT_TTL and is shown only to the recipients scope.
	Raw []byte `json:"raw,omitempty"`
}

// Options are a Processor's dependencies.
type Options struct {
	Redis    redis.UniversalClient
	Prefix   string
	VERP     *VERP
	Effects  Effects
	Observer Observer // optional
	// ReportTTL is how long reports are kept (HEROLD_BOUNCE_REPORT_TTL).
	ReportTTL time.Duration
	// MaxSize is the largest report accepted (HEROLD_BOUNCE_MAX_SIZE).
	MaxSize int64
	Log     *slog.Logger
	Now     func() time.Time
}

// Processor parses, stores and applies reports. Safe for concurrent use.
type Processor struct {
	o Options
}

// ErrTooLarge means a report exceeds HEROLD_BOUNCE_MAX_SIZE.
var ErrTooLarge = errors.New("report too large")

// ErrNotFound means no stored report has the id (or it expired).
var ErrNotFound = errors.New("not found")

// NewProcessor returns a Processor.
func NewProcessor(o Options) (*Processor, error) {
	switch {
	case o.Redis == nil:
		return nil, errors.New("bounce: no Redis client")
	case o.VERP == nil:
		return nil, errors.New("bounce: no VERP")
	case o.Effects == nil:
		return nil, errors.New("bounce: no effects")
	case o.ReportTTL <= 0:
		return nil, errors.New("bounce: report TTL must be positive")
	case o.MaxSize <= 0:
		return nil, errors.New("bounce: max size must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Processor{o: o}, nil
}

// VERP returns the processor's VERP, whose domain the SMTP listener serves.
func (p *Processor) VERP() *VERP { return p.o.VERP }

// MaxSize returns the largest report accepted.
func (p *Processor) MaxSize() int64 { return p.o.MaxSize }

// Keys, single-key commands only:
//
//	<prefix>bounce:report:<id>    hash j (JSON Stored without Raw), raw (bytes); TTL report TTL
//	<prefix>bounce:seen:<sha256>  string: report id of the first copy; same TTL
func (p *Processor) reportKey(id string) string { return p.o.Prefix + "bounce:report:" + id }
func (p *Processor) seenKey(hash string) string { return p.o.Prefix + "bounce:seen:" + hash }
func newReportID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "rpt_" + b32.EncodeToString(b)
}

var reportIDPattern = regexp.MustCompile(`^rpt_[a-z2-7]{26}$`)

// Process parses raw (one report as received), finds its VERP address among
// rcpts (the SMTP envelope recipients) and the addresses in the report,
// stores it and, for a hard or soft bounce or a complaint naming a message
// by a valid VERP address, calls Effects. A copy of an earlier report
// (same bytes) returns the earlier one with Duplicate set, with no effect.
// An unparseable report is stored too, as Ignored.
func (p *Processor) Process(ctx context.Context, source string, rcpts []string, raw []byte) (Stored, error) {
	if int64(len(raw)) > p.o.MaxSize {
		return Stored{}, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(raw), p.o.MaxSize)
	}
	parsed, err := Parse(raw)
	if err != nil {
		parsed = Parsed{Kind: Ignored, Format: "malformed"}
	}
	return p.handle(ctx, source, append(rcpts, parsed.candidates...), parsed, raw, "", sha256.Sum256(raw))
}

// Submission is a report an MTA has parsed itself and posts (POST /v1/bounces).
type Submission struct {
	// VERP is the address the bounce was sent to (the envelope recipient).
	VERP        string `json:"verp"`
	Kind        string `json:"kind"`
	Status      string `json:"status"`
	Action      string `json:"action"`
	Diagnostic  string `json:"diagnostic"`
	RecipientID string `json:"recipient_id"`
	// Raw is the report itself, optional with Kind set. Without Kind it is
	// parsed as Process would.
	Raw string `json:"raw"`
}

var recipientIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// Submit takes a Submission. The VERP address must verify, as in Process:
// an API key may report bounces, but only for messages Herold sent. Bad
// fields are an *invalid.Error; nothing is stored then.
func (p *Processor) Submit(ctx context.Context, s Submission) (Stored, error) {
	var bad invalid.List
	add := func(f, m string) { bad.Add(f, "%s", m) }
	if s.VERP == "" {
		add("verp", "required: the address the bounce was sent to")
	}
	if int64(len(s.Raw)) > p.o.MaxSize {
		add("raw", fmt.Sprintf("exceeds %d bytes", p.o.MaxSize))
	}
	if s.RecipientID != "" && !recipientIDPattern.MatchString(s.RecipientID) {
		add("recipient_id", "must be 1-128 characters A-Z a-z 0-9 . _ : -")
	}
	var parsed Parsed
	if s.Kind == "" {
		if s.Raw == "" {
			add("kind", "required unless raw holds the report")
		}
	} else {
		k, err := ParseKind(s.Kind)
		if err != nil {
			add("kind", err.Error())
		}
		if s.Status != "" && !statusRe.MatchString(s.Status) {
			add("status", "must be an RFC 3463 status such as 5.1.1")
		}
		if a := strings.ToLower(s.Action); a != "" && a != "failed" && a != "delayed" && a != "delivered" && a != "relayed" && a != "expanded" {
			add("action", "want failed, delayed, delivered, relayed or expanded")
		}
		parsed = Parsed{Kind: k, Status: statusRe.FindString(s.Status), Action: strings.ToLower(s.Action),
			Diagnostic: Sanitize(s.Diagnostic), Format: "submitted"}
	}
	if err := bad.Err(); err != nil {
		return Stored{}, err
	}
	raw := []byte(s.Raw)
	if s.Kind == "" {
		var err error
		if parsed, err = Parse(raw); err != nil {
			add("raw", err.Error())
			return Stored{}, bad.Err()
		}
	}
	canon, _ := json.Marshal(struct {
		S Submission `json:"submission"`
		P Parsed     `json:"parsed"`
	}{s, parsed})
	if len(raw) == 0 {
		raw = canon
	}
	return p.handle(ctx, "http", []string{s.VERP}, parsed, raw, s.RecipientID, sha256.Sum256(canon))
}

func (p *Processor) handle(ctx context.Context, source string, addrs []string, parsed Parsed, raw []byte, recipientID string, sum [32]byte) (Stored, error) {
	st := Stored{ID: newReportID(), ReceivedAt: p.o.Now().UTC(), Source: source, Parsed: parsed}
	for _, a := range addrs {
		if id, ok := p.o.VERP.MessageID(a); ok {
			st.MessageID = id
			break
		}
	}
	hash := hex.EncodeToString(sum[:])
	first, err := p.o.Redis.SetArgs(ctx, p.seenKey(hash), st.ID, redis.SetArgs{Mode: "NX", TTL: p.o.ReportTTL, Get: true}).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return Stored{}, fmt.Errorf("bounce: dedupe: %w", err)
	}
	if first != "" {
		prev, err := p.Get(ctx, first)
		if err == nil {
			prev.Duplicate, prev.Raw = true, nil
			return prev, nil
		}
		// The first copy was not stored (its effects failed): treat this as new.
		if err := p.o.Redis.Set(ctx, p.seenKey(hash), st.ID, p.o.ReportTTL).Err(); err != nil {
			return Stored{}, fmt.Errorf("bounce: dedupe: %w", err)
		}
	}
	forget := func() { p.o.Redis.Del(context.WithoutCancel(ctx), p.seenKey(hash)) }
	j, err := json.Marshal(st)
	if err != nil {
		forget()
		return Stored{}, err
	}
	if _, err := p.o.Redis.TxPipelined(ctx, func(pp redis.Pipeliner) error {
		pp.HSet(ctx, p.reportKey(st.ID), "j", j, "raw", raw)
		pp.Expire(ctx, p.reportKey(st.ID), p.o.ReportTTL)
		return nil
	}); err != nil {
		forget()
		return Stored{}, fmt.Errorf("bounce: store report: %w", err)
	}
	if p.o.Observer != nil {
		p.o.Observer.BounceReport(string(st.Kind), st.MessageID != "")
	}
	log := p.o.Log.With("report_id", st.ID, "kind", st.Kind, "format", st.Format, "status", st.Status, "message_id", st.MessageID)
	switch {
	case st.MessageID == "":
		log.InfoContext(ctx, "bounce: report names no message by a valid VERP address; no effect")
	case st.Kind == Hard || st.Kind == Soft || st.Kind == Complaint:
		r := Report{ReportID: st.ID, MessageID: st.MessageID, RecipientID: recipientID, Kind: st.Kind, Status: st.Status,
			Action: st.Action, Diagnostic: st.Diagnostic, ReceivedAt: st.ReceivedAt, Address: parsed.recipient}
		if err := p.o.Effects.Bounced(ctx, r); err != nil {
			// Keep the stored report for inspection, but let the copy the
			// sender retries with be processed again.
			forget()
			return Stored{}, fmt.Errorf("bounce: apply %s report %s: %w", st.Kind, st.ID, err)
		}
		log.InfoContext(ctx, "bounce: report applied")
	default:
		log.InfoContext(ctx, "bounce: report needs no effect")
	}
	return st, nil
}

// Get returns a stored report with its raw bytes.
func (p *Processor) Get(ctx context.Context, id string) (Stored, error) {
	if !reportIDPattern.MatchString(id) {
		return Stored{}, fmt.Errorf("report %s: %w", id, ErrNotFound)
	}
	v, err := p.o.Redis.HMGet(ctx, p.reportKey(id), "j", "raw").Result()
	if err != nil {
		return Stored{}, fmt.Errorf("report %s: %w", id, err)
	}
	j, _ := v[0].(string)
	if j == "" {
		return Stored{}, fmt.Errorf("report %s: %w", id, ErrNotFound)
	}
	var st Stored
	if err := json.Unmarshal([]byte(j), &st); err != nil {
		return Stored{}, fmt.Errorf("report %s: decode: %w", id, err)
	}
	raw, _ := v[1].(string)
	st.Raw = []byte(raw)
	return st, nil
}
