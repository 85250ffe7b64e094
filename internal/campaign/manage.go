package campaign

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/store"
	"github.com/hibiken/asynq"
)

// ErrState means the campaign's state does not allow the operation (pause a
// finished campaign, upload to a canceled one).
var ErrState = errors.New("not possible in the campaign's state")

// NewID returns a new campaign id.
func NewID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("campaign id: %w", err)
	}
	return "cmp_" + hex.EncodeToString(b), nil
}

// Create stores a validated campaign with its inline audience and schedules
// its start. c.StartAt must be set (see SendAt.Start).
func (e *Engine) Create(ctx context.Context, c store.Campaign, audience []message.RecipientID) error {
	return e.CreateWith(ctx, c, audience, CreateOptions{})
}

// CreateOptions are what a campaign may be created with besides its spec
// and inline ids.
type CreateOptions struct {
	// Draft: the campaign waits for Start (audience, dry runs) instead of
	// starting at its start time.
	Draft bool
	// Segment names a saved segment whose members join the audience. It is
	// evaluated when the campaign starts; that snapshot is the audience (and
	// every member is still decided again when its message goes out).
	Segment string
}

// CreateWith is Create with options: a draft, an audience from a segment.
// An unknown segment is an *invalid.Error on field "segment".
func (e *Engine) CreateWith(ctx context.Context, c store.Campaign, audience []message.RecipientID, o CreateOptions) error {
	if o.Segment != "" {
		if _, err := e.st.Segment(ctx, o.Segment, 0); errors.Is(err, store.ErrNotFound) {
			var bad invalid.List
			bad.Add("segment", "no segment %q (create it with POST /v1/segments)", o.Segment)
			return bad.Err()
		} else if err != nil {
			return err
		}
	}
	if err := e.st.CreateCampaign(ctx, c); err != nil {
		return err
	}
	if o.Draft {
		// Created scheduled without a start task, then made a draft: nothing
		// can start it in between.
		if _, _, err := e.st.TransitionCampaign(ctx, c.ID, store.CampaignDraft, e.now(), store.CampaignScheduled); err != nil {
			return err
		}
	}
	if o.Segment != "" {
		if err := e.st.SetCampaignSegment(ctx, c.ID, o.Segment); err != nil {
			return err
		}
	}
	if len(audience) > 0 {
		if _, err := e.stageAndCommit(ctx, c.ID, uploadPrefix(), func(add func(message.RecipientID) error) error {
			for _, id := range audience {
				if err := add(id); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if !o.Draft {
		if err := e.enqueueStart(ctx, c.ID, c.StartAt); err != nil {
			return err
		}
	}
	// With HEROLD_REDIS_MIN_REPLICAS_ACK the 201 waits for the replicas.
	return e.st.SyncCampaign(ctx, c.ID, redisconn.AsynqQueueKey(e.cfg.Queue))
}

// StartNow runs the start of a scheduled campaign now instead of at its
// start time: its start task is moved up (or enqueued, if it is gone).
func (e *Engine) StartNow(ctx context.Context, id string) error {
	if _, st, err := e.st.Campaign(ctx, id); err != nil {
		return err
	} else if st != store.CampaignScheduled {
		return fmt.Errorf("start campaign %s (%s): %w", id, st, ErrState)
	}
	err := e.insp.RunTask(e.cfg.Queue, startTaskID(id))
	if errors.Is(err, asynq.ErrTaskNotFound) || errors.Is(err, asynq.ErrQueueNotFound) {
		return e.enqueueStart(ctx, id, e.now())
	}
	if err != nil {
		return fmt.Errorf("start campaign %s: %w", id, err)
	}
	return nil
}

// Status returns a campaign with its state and counters.
func (e *Engine) Status(ctx context.Context, id string) (store.CampaignStatus, error) {
	return e.st.CampaignStatus(ctx, id)
}

// Pause stops sending within a batch (about a second): chunk tasks stop and
// come back every HEROLD_CAMPAIGN_PAUSE_POLL to see whether it runs again.
func (e *Engine) Pause(ctx context.Context, id string) (store.CampaignState, error) {
	ok, cur, err := e.st.TransitionCampaign(ctx, id, store.CampaignPaused, e.now(), store.CampaignScheduled, store.CampaignRunning)
	if err != nil {
		return "", err
	}
	if !ok && cur != store.CampaignPaused {
		return cur, fmt.Errorf("pause campaign %s (%s): %w", id, cur, ErrState)
	}
	e.log.InfoContext(ctx, "campaign paused", "campaign_id", id)
	if ok {
		e.tell(ctx, events.CampaignPaused, id, nil)
	}
	return store.CampaignPaused, nil
}

// Resume lets a paused campaign go on (or wait for its start again, if it
// never started). Its waiting tasks notice within HEROLD_CAMPAIGN_PAUSE_POLL.
func (e *Engine) Resume(ctx context.Context, id string) (store.CampaignState, error) {
	started, err := e.st.CampaignStarted(ctx, id)
	if err != nil {
		return "", err
	}
	to := store.CampaignScheduled
	if started {
		to = store.CampaignRunning
	}
	ok, cur, err := e.st.TransitionCampaign(ctx, id, to, e.now(), store.CampaignPaused)
	if err != nil {
		return "", err
	}
	if !ok {
		if cur == store.CampaignRunning || cur == store.CampaignScheduled {
			return cur, nil
		}
		return cur, fmt.Errorf("resume campaign %s (%s): %w", id, cur, ErrState)
	}
	e.log.InfoContext(ctx, "campaign resumed", "campaign_id", id)
	if started {
		// A sweep that gave up while paused is not retried by asynq: make sure one runs.
		if err := e.sweepLater(ctx, id); err != nil {
			return to, err
		}
	}
	return to, nil
}

// Cancel ends a campaign for good: nothing more is sent, its queued tasks are
// deleted, its audience and waiting set are dropped. Tasks running at that
// moment stop at their next batch; their messages in flight still complete
// and are counted.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	ok, cur, err := e.st.TransitionCampaign(ctx, id, store.CampaignCanceled, e.now(),
		store.CampaignDraft, store.CampaignScheduled, store.CampaignRunning, store.CampaignPaused)
	if err != nil {
		return err
	}
	if !ok && cur != store.CampaignCanceled {
		return fmt.Errorf("cancel campaign %s (%s): %w", id, cur, ErrState)
	}
	if e.insp != nil {
		ids := []string{startTaskID(id)}
		names, err := e.st.ChunkNames(ctx, id, 0)
		if err != nil {
			return err
		}
		for i := range names {
			ids = append(ids, chunkTaskID(id, int64(i)))
		}
		sweeps, err := e.st.Sweeps(ctx, id)
		if err != nil {
			return err
		}
		ids = append(ids, sweeps...)
		for _, tid := range ids {
			// Not found: already done or running (it stops by itself).
			_ = e.insp.DeleteTask(e.cfg.Queue, tid)
		}
	}
	e.forget(id)
	e.log.InfoContext(ctx, "campaign canceled", "campaign_id", id)
	return e.st.ReleaseCampaign(ctx, id, e.cfg.RecordTTL)
}

// RecipientOutcome is one recipient's outcome as the API shows it.
type RecipientOutcome struct {
	RecipientID message.RecipientID `json:"recipient_id"`
	MessageID   string              `json:"message_id"`
	Status      string              `json:"status"`
	Channel     message.Channel     `json:"channel,omitempty"`
	Decision    *policy.Decision    `json:"decision,omitempty"`
	Attempts    int                 `json:"attempts,omitempty"`
	ErrorClass  string              `json:"error_class,omitempty"`
	ProviderID  string              `json:"provider_message_id,omitempty"`
	DoneAt      time.Time           `json:"done_at,omitzero"`
}

// Outcome returns one recipient's outcome with its decision rebuilt: the
// stored reason, basis, rule and catalog version, the catalog's data
// categories and opt-out notice, and the evidence of a replay of the
// decision against the ledger as it stood at the decision time.
func (e *Engine) Outcome(ctx context.Context, id string, rid message.RecipientID) (RecipientOutcome, error) {
	c, _, err := e.st.Campaign(ctx, id)
	if err != nil {
		return RecipientOutcome{}, err
	}
	o, err := e.st.CampaignOutcome(ctx, c, rid)
	if err != nil {
		return RecipientOutcome{}, err
	}
	if o.Status == 0 {
		return RecipientOutcome{}, fmt.Errorf("campaign %s recipient %s: %w", id, rid, store.ErrNotFound)
	}
	out := e.outcomeView(c, o)
	if out.Decision != nil {
		if snaps, err := e.st.LoadFactsBatch(ctx, []message.RecipientID{rid}); err == nil && snaps[0].Found {
			replay := policy.Decide(e.cat, snaps[0].Facts(c.Type, o.Channel, o.DecidedAt, e.zones.Of(snaps[0].Recipient)))
			d := out.Decision
			if replay.Allowed == d.Allowed && replay.Reason == d.Reason && replay.Rule == d.Rule {
				d.Evidence, d.DataCategories, d.SMSFallback = replay.Evidence, replay.DataCategories, replay.SMSFallback
			}
		}
	}
	return out, nil
}

// Outcomes lists outcomes page by page; cursor "" starts, "" at the end.
func (e *Engine) Outcomes(ctx context.Context, id, cursor string, limit int) ([]RecipientOutcome, string, error) {
	c, _, err := e.st.Campaign(ctx, id)
	if err != nil {
		return nil, "", err
	}
	var cur uint64
	if cursor != "" {
		if _, err := fmt.Sscan(cursor, &cur); err != nil {
			return nil, "", fmt.Errorf("cursor %q: %w", cursor, ErrBadCursor)
		}
	}
	os, next, err := e.st.CampaignOutcomes(ctx, c, cur, int64(limit))
	if err != nil {
		return nil, "", err
	}
	out := make([]RecipientOutcome, len(os))
	for i, o := range os {
		out[i] = e.outcomeView(c, o)
	}
	nc := ""
	if next != 0 {
		nc = fmt.Sprint(next)
	}
	return out, nc, nil
}

// ErrBadCursor means a listing cursor that this API did not hand out.
var ErrBadCursor = errors.New("invalid cursor")

func (e *Engine) outcomeView(c store.Campaign, o store.Outcome) RecipientOutcome {
	v := RecipientOutcome{RecipientID: o.Recipient, MessageID: store.CampaignMessageID(c.ID, o.Recipient), Status: o.Status.String(),
		Channel: o.Channel, Attempts: o.Attempts, ErrorClass: o.ErrorClass, ProviderID: o.ProviderID, DoneAt: o.DoneAt}
	if o.Status == store.OutcomeDelivered || o.Status == store.OutcomeSuppressed || o.Status == store.OutcomeFailed {
		d := &policy.Decision{
			Allowed: o.Status != store.OutcomeSuppressed, Basis: o.Basis, Reason: o.Reason, Rule: o.Rule,
			DecidedAt: o.DecidedAt, CatalogVersion: o.Catalog, Type: c.Type, Channel: o.Channel, Recipient: o.Recipient,
		}
		if spec, ok := e.cat.Type(c.Type); ok && d.Allowed {
			d.OptOutNotice = spec.OptOutNotice
			d.DataCategories = spec.DataCategories
		}
		v.Decision = d
	}
	return v
}

// ---- audience upload

// Format is an audience upload's format.
type Format string

// The upload formats.
const (
	NDJSON Format = "ndjson" // one {"recipient_id": "…"} per line
	CSV    Format = "csv"    // one id per line, in the recipient_id (or id) column if there is a header, else the first
)

// maxLine is the longest audience line accepted.
const maxLine = 64 << 10

// maxReported is how many bad lines an upload report lists.
const maxReported = 1000

// LineError is one bad line of an upload.
type LineError struct {
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// UploadReport says what an upload did.
type UploadReport struct {
	Accepted  int         `json:"accepted"`
	Rejected  int         `json:"rejected"`
	Errors    []LineError `json:"errors,omitempty"`
	Truncated bool        `json:"errors_truncated,omitempty"` // more bad lines than listed
	Audience  int64       `json:"audience"`                   // the campaign's audience after the upload
}

// ErrNothingValid means an upload without one good line; nothing was stored.
var ErrNothingValid = errors.New("no valid audience line")

// Upload streams an audience file into the campaign: lines are read one at a
// time and stored a chunk at a time, so the file is never held in memory.
// Bad lines are reported with their numbers and skipped; the good ones are
// added in one step at the end (an upload that breaks off adds nothing).
func (e *Engine) Upload(ctx context.Context, id string, r io.Reader, format Format) (UploadReport, error) {
	var rep UploadReport
	bad := func(line int, format string, args ...any) {
		rep.Rejected++
		if len(rep.Errors) < maxReported {
			rep.Errors = append(rep.Errors, LineError{Line: line, Message: fmt.Sprintf(format, args...)})
		} else {
			rep.Truncated = true
		}
	}
	if _, st, err := e.st.Campaign(ctx, id); err != nil {
		return rep, err
	} else if st.Final() {
		return rep, fmt.Errorf("upload to campaign %s (%s): %w", id, st, ErrState)
	}
	total, err := e.stageAndCommit(ctx, id, uploadPrefix(), func(add func(message.RecipientID) error) error {
		return scanAudience(r, format, bad, func(s string) error {
			rep.Accepted++
			return add(message.RecipientID(s))
		})
	})
	if errors.Is(err, ErrNothingValid) && rep.Rejected > 0 {
		return rep, err
	}
	rep.Audience = total
	if err == nil {
		err = e.st.SyncCampaign(ctx, id, redisconn.AsynqQueueKey(e.cfg.Queue))
	}
	return rep, err
}

// uploadPrefix starts the chunk names of one upload: random, so two uploads
// at once never stage under the same names.
func uploadPrefix() string {
	return "u" + rand.Text()[:8] + "."
}

// stageAndCommit stages the ids that fill adds, chunk by chunk, as chunks
// named prefix<n>, then commits them in one step and enqueues their chunks
// if the campaign already runs.
func (e *Engine) stageAndCommit(ctx context.Context, id, prefix string, fill func(add func(message.RecipientID) error) error) (int64, error) {
	var names []string
	buf := make([]message.RecipientID, 0, e.cfg.ChunkSize)
	count := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		name := fmt.Sprintf("%s%d", prefix, len(names))
		if err := e.st.StageChunk(ctx, id, name, buf); err != nil {
			return err
		}
		names = append(names, name)
		count += len(buf)
		buf = buf[:0]
		return nil
	}
	err := fill(func(rid message.RecipientID) error {
		buf = append(buf, rid)
		if len(buf) == cap(buf) {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err == nil && count == 0 {
		err = ErrNothingValid
	}
	if err != nil {
		if derr := e.st.DropChunks(context.WithoutCancel(ctx), id, names); derr != nil {
			e.log.ErrorContext(ctx, "drop staged audience", "campaign_id", id, "err", derr)
		}
		return 0, err
	}
	st, first, err := e.st.CommitChunks(ctx, id, names, count)
	if errors.Is(err, store.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", err, ErrState)
	}
	if err != nil {
		return 0, err
	}
	if st == store.CampaignRunning || st == store.CampaignPaused {
		// The start task has already enqueued the chunks it saw.
		if err := e.enqueueChunks(ctx, id, first, names); err != nil {
			return 0, err
		}
	}
	status, err := e.st.CampaignStatus(ctx, id)
	if err != nil {
		return 0, err
	}
	return status.Counters.Audience, nil
}

// scanAudience reads r line by line and calls ok with each valid recipient
// id, bad with each bad line. Only a read error or an error of ok ends it.
func scanAudience(r io.Reader, format Format, bad func(line int, format string, args ...any), ok func(string) error) error {
	br := bufio.NewReaderSize(r, maxLine)
	column := -1 // CSV: the id column, once known
	for line := 1; ; line++ {
		raw, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// Skip the rest of an overlong line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read audience: %w", err)
			}
			bad(line, "line longer than %d bytes", maxLine)
			if errors.Is(err, io.EOF) {
				return nil
			}
			continue
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read audience: %w", err)
		}
		text := strings.TrimSpace(strings.TrimPrefix(string(bytes.TrimRight(raw, "\r\n")), "\ufeff"))
		if text != "" {
			var id string
			var perr error
			switch format {
			case CSV:
				id, perr = csvID(text, &column, line)
			default:
				id, perr = ndjsonID(text)
			}
			switch {
			case perr != nil:
				bad(line, "%v", perr)
			case id != "":
				if _, verr := message.ParseRecipientID(id); verr != nil {
					bad(line, "recipient_id: %v", verr)
				} else if err := ok(id); err != nil {
					return err
				}
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
	}
}

func ndjsonID(text string) (string, error) {
	var v struct {
		RecipientID *string `json:"recipient_id"`
	}
	dec := json.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("not a JSON object: %v", err)
	}
	if dec.More() {
		return "", errors.New("more than one JSON value on the line")
	}
	if v.RecipientID == nil {
		return "", errors.New(`recipient_id: missing (want {"recipient_id": "…"})`)
	}
	return *v.RecipientID, nil
}

// csvID returns the id of a CSV line. The first line may be a header naming
// a recipient_id or id column; without one the first column holds the ids.
// It returns "" for the header line.
func csvID(text string, column *int, line int) (string, error) {
	rec, err := csv.NewReader(strings.NewReader(text)).Read()
	if err != nil {
		return "", fmt.Errorf("malformed CSV: %v", err)
	}
	if *column < 0 {
		*column = 0
		if line == 1 {
			for i, f := range rec {
				if f = strings.ToLower(strings.TrimSpace(f)); f == "recipient_id" || f == "id" {
					*column = i
					return "", nil
				}
			}
		}
	}
	if *column >= len(rec) {
		return "", fmt.Errorf("recipient_id: missing (column %d)", *column+1)
	}
	return strings.TrimSpace(rec[*column]), nil
}
