package dispatch

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/apikey"
	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/delivery"
	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/invalid"
	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
	"github.com/heroldhq/herold/internal/queue"
	"github.com/heroldhq/herold/internal/recipient"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/render"
	"github.com/heroldhq/herold/internal/store"
)

// Submission is one message a producer asks Herold to send.
type Submission struct {
	Type message.Type `json:"type"`
	// RecipientID names a stored recipient. With Recipient set it may be
	// empty (Recipient.ID names it then).
	RecipientID message.RecipientID `json:"recipient_id,omitempty"`
	// Recipient, if set, is upserted (store.PutRecipient) before the message
	// is accepted. It needs the recipients scope.
	Recipient *recipient.Input `json:"recipient,omitempty"`
	// Channels is the order of preference; empty: the type's channels in
	// catalog order. Every channel must belong to the type.
	Channels []message.Channel `json:"channels,omitempty"`
	// Data is the template data by data category, e.g. {"invoice": {...}};
	// every category must be declared by the type.
	Data   map[string]map[string]any `json:"data,omitempty"`
	Locale string                    `json:"locale,omitempty"` // "de" or "en"; empty: the recipient's
	// SendAt delays delivery; zero: now. It may lie up to the configured
	// tolerance in the past and up to the horizon ahead.
	SendAt time.Time `json:"send_at,omitzero"`
	// IdempotencyKey makes retries safe: the same key from the same API key
	// within the idempotency TTL returns the first message instead of sending again.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// CampaignID links the message to a campaign (optional).
	CampaignID string `json:"campaign_id,omitempty"`

	// Key is the API key that submits; its scopes are checked. nil means an
	// internal caller (e.g. the double opt-in pages), trusted to send any type.
	Key *apikey.Key `json:"-"`
}

// Accepted is the answer to an accepted Submission.
type Accepted struct {
	ID     string              `json:"id"`
	Status store.MessageStatus `json:"status"`
	SendAt time.Time           `json:"send_at,omitzero"`
	// Duplicate: an earlier request with the same idempotency key created
	// the message; nothing new was queued.
	Duplicate bool `json:"-"`
}

// ForbiddenError says which scope the API key lacks.
type ForbiddenError struct{ Scope string }

func (e *ForbiddenError) Error() string { return fmt.Sprintf("API key lacks scope %q", e.Scope) }

// Errors of Submit and Cancel besides *invalid.Error and ForbiddenError.
var (
	// ErrUnknownRecipient: the recipient does not exist (HTTP 422).
	ErrUnknownRecipient = errors.New("unknown recipient")
	// ErrIdempotencyMismatch: the idempotency key was used with another body (HTTP 409).
	ErrIdempotencyMismatch = errors.New("idempotency key already used with another request body")
	// ErrInProgress: a request with the same idempotency key is still being accepted (HTTP 409; retry).
	ErrInProgress = errors.New("a request with this idempotency key is in progress")
	// ErrNotCancelable: the message is being sent or was already settled (HTTP 409).
	ErrNotCancelable = errors.New("message can no longer be canceled")
)

// Enqueuer is the part of *asynq.Client that Submit uses.
type Enqueuer interface {
	EnqueueContext(ctx context.Context, task *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// TaskDeleter is the part of *asynq.Inspector that Cancel uses.
type TaskDeleter interface {
	DeleteTask(queue, id string) error
}

// ServiceOptions are the dependencies of NewService.
type ServiceOptions struct {
	Store     *store.Store
	Catalog   *policy.Catalog
	Client    Enqueuer
	Inspector TaskDeleter
	Queues    queue.Queues
	Settings  config.Dispatch
	MaxRetry  int           // HEROLD_MAX_RETRY
	RecordTTL time.Duration // HEROLD_RECORD_TTL
	Region    string        // HEROLD_DEFAULT_REGION, for inline recipients' phone numbers
	Locales   []string      // the locales Herold has templates for (render.Renderer.Locales)
	// Templates knows the data the templates need (render.Renderer.Needs): a
	// message lacking it is refused at intake. nil: not checked.
	Templates *render.Needs
	Log       *slog.Logger
	Now       func() time.Time // default time.Now
	// Events hears message.queued for every accepted message; nil: none.
	Events events.Publisher
}

// Service accepts messages: it validates, checks scopes and idempotency,
// writes the message record and enqueues its delivery task.
type Service struct {
	o ServiceOptions
}

// NewService returns a Service.
func NewService(o ServiceOptions) (*Service, error) {
	switch {
	case o.Store == nil || o.Catalog == nil || o.Client == nil:
		return nil, errors.New("dispatch service: Store, Catalog and Client are required")
	case o.RecordTTL <= 0:
		return nil, errors.New("dispatch service: RecordTTL must be positive")
	case o.Settings.IdempotencyTTL <= 0 || o.Settings.SendHorizon <= 0:
		return nil, errors.New("dispatch service: Settings.IdempotencyTTL and SendHorizon must be positive")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Region == "" {
		o.Region = "DE"
	}
	if o.Events == nil {
		o.Events = events.Nop{}
	}
	return &Service{o: o}, nil
}

var (
	idempotencyKeyPattern = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)
	messageIDPattern      = regexp.MustCompile(`^msg_[a-z2-7]{26}$`)
	campaignIDPattern     = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
)

// ValidMessageID reports whether id has the form of a message id, so the API
// can answer 404 without asking Redis.
func ValidMessageID(id string) bool { return messageIDPattern.MatchString(id) }

// NewMessageID returns a random message id: "msg_" and 26 base32 characters (130 bits).
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "msg_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// Submit accepts one message. In order, nothing written until the last step:
//  1. the fields are validated (an *invalid.Error naming every bad field);
//  2. the API key's scopes are checked (ForbiddenError naming the scope);
//  3. an idempotency key is claimed (SET NX): a repeat returns the first
//     message (Accepted.Duplicate), another body is ErrIdempotencyMismatch;
//  4. an inline recipient is upserted, or the recipient must exist (ErrUnknownRecipient);
//  5. the record is written (queued or scheduled) and the task enqueued with
//     the message id as asynq task id. If enqueueing fails the record is
//     deleted and the idempotency key released, so a retry starts afresh;
//  6. with HEROLD_REDIS_MIN_REPLICAS_ACK, the writes are confirmed by the
//     replicas (store.SyncMessage), else a *redisconn.NotAckedError: the
//     message is queued, but could be lost with the primary.
//
// The policy is not asked here: it decides at delivery time.
func (s *Service) Submit(ctx context.Context, sub Submission) (Accepted, error) {
	return s.submit(ctx, sub, nil)
}

// submit is Submit; with later set, a message due now is not enqueued but
// handed to later (with what undoes its acceptance), which enqueues it in a
// chunk with others and then calls s.accepted.
func (s *Service) submit(ctx context.Context, sub Submission, later func(pending)) (Accepted, error) {
	now := s.o.Now().UTC()
	v, err := s.validated(sub, now)
	if err != nil {
		return Accepted{}, err
	}
	return s.accept(ctx, sub, v, now, later)
}

// valid is what validate found in a good Submission.
type valid struct {
	spec   policy.TypeSpec
	rid    message.RecipientID
	inline *recipient.Recipient
}

func (s *Service) validated(sub Submission, now time.Time) (valid, error) {
	spec, rid, inline, err := s.validate(sub, now)
	return valid{spec, rid, inline}, err
}

// accept is Submit from step 2 on, for a Submission validate found good.
func (s *Service) accept(ctx context.Context, sub Submission, v valid, now time.Time, later func(pending)) (Accepted, error) {
	spec, rid, inline := v.spec, v.rid, v.inline
	if sub.Key != nil && sub.Recipient != nil && !sub.Key.Allows(apikey.ScopeRecipients) {
		return Accepted{}, &ForbiddenError{Scope: apikey.ScopeRecipients}
	}

	id := NewMessageID()
	var claim store.Idempotency
	claimed := false
	if sub.IdempotencyKey != "" {
		claim = store.Idempotency{BodyHash: bodyHash(sub), MessageID: id, At: now}
		prev, ok, err := s.o.Store.ClaimIdempotency(ctx, keyName(sub.Key), sub.IdempotencyKey, claim, s.o.Settings.IdempotencyTTL)
		switch {
		case errors.Is(err, store.ErrConflict):
			return Accepted{}, fmt.Errorf("submit: %w", ErrIdempotencyMismatch)
		case err != nil:
			return Accepted{}, fmt.Errorf("submit: %w", err)
		case !ok:
			rec, err := s.o.Store.GetMessage(ctx, prev.MessageID)
			if errors.Is(err, store.ErrNotFound) {
				return Accepted{}, fmt.Errorf("submit: %w", ErrInProgress)
			}
			if err != nil {
				return Accepted{}, fmt.Errorf("submit: %w", err)
			}
			// The first request may have been answered 503 because its
			// writes had not reached the replicas: confirm them now.
			if err := s.o.Store.SyncMessage(ctx, &rec, sub.IdempotencyKey, redisconn.AsynqQueueKey(s.o.Queues.Name(rec.Class))); err != nil {
				return Accepted{}, fmt.Errorf("submit: %w", err)
			}
			return Accepted{ID: rec.ID, Status: rec.Status, SendAt: rec.SendAt, Duplicate: true}, nil
		}
		claimed = true
	}
	release := func() {
		if !claimed {
			return
		}
		// The request failed before anything was queued: let the producer retry.
		if err := s.o.Store.ReleaseIdempotency(context.WithoutCancel(ctx), keyName(sub.Key), sub.IdempotencyKey, claim); err != nil {
			s.o.Log.ErrorContext(ctx, "release idempotency key", "message_id", id, "err", err)
		}
	}

	if inline != nil {
		if _, _, err := s.o.Store.PutRecipient(ctx, *inline); err != nil {
			release()
			if ve, ok := invalid.As(err); ok {
				return Accepted{}, ve.WithPrefix("recipient.")
			}
			return Accepted{}, fmt.Errorf("submit: upsert recipient %s: %w", rid, err)
		}
	} else if ok, err := s.o.Store.RecipientExists(ctx, rid); err != nil || !ok {
		release()
		if err == nil {
			return Accepted{}, fmt.Errorf("submit: recipient %s: %w", rid, ErrUnknownRecipient)
		}
		return Accepted{}, fmt.Errorf("submit: %w", err)
	}

	status := store.StatusQueued
	sendAt := time.Time{}
	if sub.SendAt.After(now) {
		status, sendAt = store.StatusScheduled, sub.SendAt.UTC()
	}
	rec := &store.MessageRecord{
		ID: id, Type: spec.Key, Class: spec.Class, RecipientID: rid,
		Channels: sub.Channels, Data: sub.Data, Locale: sub.Locale, SendAt: sendAt,
		CampaignID: sub.CampaignID, APIKey: keyName(sub.Key),
		Status: status, CreatedAt: now, UpdatedAt: now,
	}
	if err := s.o.Store.CreateMessage(ctx, rec, s.o.RecordTTL); err != nil {
		release()
		return Accepted{}, fmt.Errorf("submit: %w", err)
	}
	if later != nil && sendAt.IsZero() {
		later(pending{rec: rec, idempotencyKey: sub.IdempotencyKey, undo: func(ctx context.Context) {
			if derr := s.o.Store.DeleteMessage(ctx, id); derr != nil {
				s.o.Log.ErrorContext(ctx, "remove record of message not enqueued", "message_id", id, "err", derr)
			}
			release()
		}})
		return Accepted{ID: id, Status: status}, nil
	}
	task, err := queue.NewDeliverTask(s.o.Queues, id, spec.Class, s.o.MaxRetry)
	if err == nil {
		var opts []asynq.Option
		if !sendAt.IsZero() {
			opts = append(opts, asynq.ProcessAt(sendAt))
		}
		_, err = s.o.Client.EnqueueContext(ctx, task, opts...)
		if errors.Is(err, asynq.ErrTaskIDConflict) {
			err = nil // the id is fresh, so this cannot be another message: already accepted
		}
	}
	if err != nil {
		cleanup := context.WithoutCancel(ctx)
		if derr := s.o.Store.DeleteMessage(cleanup, id); derr != nil {
			s.o.Log.ErrorContext(ctx, "remove record of message not enqueued", "message_id", id, "err", derr)
		}
		release()
		return Accepted{}, fmt.Errorf("submit: enqueue %s: %w", id, err)
	}
	if err := s.o.Store.SyncMessage(ctx, rec, sub.IdempotencyKey, redisconn.AsynqQueueKey(s.o.Queues.Name(spec.Class))); err != nil {
		// Queued on the primary, not confirmed by its replicas: the
		// producer retries (the idempotency claim stays, so a retry with
		// the key gets this message).
		return Accepted{}, fmt.Errorf("submit: %w", err)
	}
	s.accepted(ctx, rec, slog.LevelInfo)
	return Accepted{ID: id, Status: status, SendAt: sendAt}, nil
}

// pending is a message accepted but not yet enqueued (a batch's).
type pending struct {
	rec            *store.MessageRecord
	idempotencyKey string
	undo           func(ctx context.Context) // deletes the record and frees the idempotency key
}

// accepted logs the message and tells the event hub, once it is queued.
func (s *Service) accepted(ctx context.Context, rec *store.MessageRecord, level slog.Level) {
	s.o.Log.Log(ctx, level, "message accepted", "message_id", rec.ID, "type", rec.Type,
		"recipient_id", rec.RecipientID, "status", rec.Status, "api_key", rec.APIKey)
	ev := events.Queued(rec.CreatedAt, events.Message{ID: rec.ID, RecipientID: string(rec.RecipientID), Type: string(rec.Type), CampaignID: rec.CampaignID})
	ev.ID = events.DerivedID(ev.Type, rec.ID)
	if err := s.o.Events.Publish(context.WithoutCancel(ctx), ev); err != nil {
		s.o.Log.WarnContext(ctx, "publish message.queued", "message_id", rec.ID, "err", err)
	}
}

// keyName is the name idempotency keys and records are scoped by.
func keyName(k *apikey.Key) string {
	if k == nil {
		return "internal"
	}
	return k.Name
}

// bodyHash fingerprints what a request asks for, so a reused idempotency key
// with another request is told apart from a retry. encoding/json sorts map
// keys, so the hash does not depend on the order of fields in the body.
func bodyHash(sub Submission) string {
	c := sub
	c.IdempotencyKey, c.Key = "", nil
	if !c.SendAt.IsZero() {
		c.SendAt = c.SendAt.UTC()
	}
	b, _ := json.Marshal(c) // a Submission always encodes: it came from JSON or Go values
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// validate checks everything that needs no I/O. It returns the type, the
// recipient id and the parsed inline recipient (nil without one).
func (s *Service) validate(sub Submission, now time.Time) (policy.TypeSpec, message.RecipientID, *recipient.Recipient, error) {
	var bad invalid.List
	in := delivery.Intake{Catalog: s.o.Catalog, Locales: s.o.Locales, Templates: s.o.Templates}
	spec, known := in.Type(&bad, sub.Type)
	if known && sub.Key != nil && !sub.Key.AllowsSend(string(spec.Key), string(spec.Class)) {
		// Checked before the other fields: a key that may not send the type
		// learns nothing more about it.
		return policy.TypeSpec{}, "", nil, &ForbiddenError{Scope: apikey.SendScope(string(spec.Key))}
	}

	var rid message.RecipientID
	var inline *recipient.Recipient
	switch {
	case sub.Recipient != nil:
		idStr := cmp.Or(string(sub.RecipientID), sub.Recipient.ID)
		if sub.RecipientID != "" && sub.Recipient.ID != "" && string(sub.RecipientID) != sub.Recipient.ID {
			bad.Add("recipient.id", "does not match recipient_id %q", sub.RecipientID)
		} else if idStr == "" {
			bad.Add("recipient_id", "missing: give recipient_id or recipient.id")
		} else if r, err := message.ParseRecipientID(idStr); err != nil {
			bad.Add("recipient_id", "%v", err)
		} else {
			r2 := *sub.Recipient
			r2.ID = ""
			parsed, err := recipient.Parse(string(r), r2, s.o.Region)
			if ve, ok := invalid.As(err); ok {
				bad.Merge(ve.WithPrefix("recipient."))
			} else if err != nil {
				bad.Add("recipient", "%v", err)
			} else {
				rid, inline = r, &parsed
			}
		}
	case sub.RecipientID == "":
		bad.Add("recipient_id", "missing: give recipient_id, or recipient to create or update the recipient inline")
	default:
		r, err := message.ParseRecipientID(string(sub.RecipientID))
		if err != nil {
			bad.Add("recipient_id", "%v", err)
		}
		rid = r
	}

	chans := in.Channels(&bad, spec, known, sub.Channels)
	in.Data(&bad, spec, known, sub.Data)
	in.TemplateData(&bad, spec, known, chans, sub.Locale, sub.Data)
	in.Locale(&bad, sub.Locale)
	in.SendAt(&bad, sub.SendAt, now, s.o.Settings.SendAtTolerance, s.o.Settings.SendHorizon, "HEROLD_SEND_HORIZON")
	if sub.IdempotencyKey != "" && !idempotencyKeyPattern.MatchString(sub.IdempotencyKey) {
		bad.Add("idempotency_key", "must be 1-255 printable ASCII characters without spaces")
	}
	if sub.CampaignID != "" && !campaignIDPattern.MatchString(sub.CampaignID) {
		bad.Add("campaign_id", "must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	if err := bad.Err(); err != nil {
		return policy.TypeSpec{}, "", nil, err
	}
	return spec, rid, inline, nil
}

// Get returns the record of message id (store.ErrNotFound if unknown).
func (s *Service) Get(ctx context.Context, id string) (store.MessageRecord, error) {
	if !ValidMessageID(id) {
		return store.MessageRecord{}, fmt.Errorf("get message: %w", store.ErrNotFound)
	}
	return s.o.Store.GetMessage(ctx, id)
}

// Cancel cancels message id if it is still scheduled or queued: the record
// becomes canceled (a worker that already dequeued the task sees it and sends
// nothing) and the task is deleted from its queue. A message being sent or
// already settled is ErrNotCancelable; canceling twice is fine.
func (s *Service) Cancel(ctx context.Context, id string) (store.MessageRecord, error) {
	if !ValidMessageID(id) {
		return store.MessageRecord{}, fmt.Errorf("cancel message: %w", store.ErrNotFound)
	}
	now := s.o.Now().UTC()
	rec, err := s.o.Store.UpdateMessage(ctx, id, s.o.RecordTTL, func(r *store.MessageRecord) error {
		switch {
		case r.Status == store.StatusCanceled:
			return store.ErrSkipUpdate
		case !r.Status.Pending():
			return fmt.Errorf("cancel message %s (status %s): %w", id, r.Status, ErrNotCancelable)
		}
		r.Status, r.UpdatedAt = store.StatusCanceled, now
		return nil
	})
	if err != nil {
		return rec, err
	}
	if s.o.Inspector != nil {
		err := s.o.Inspector.DeleteTask(s.o.Queues.Name(rec.Class), id)
		if err != nil && !errors.Is(err, asynq.ErrTaskNotFound) && !errors.Is(err, asynq.ErrQueueNotFound) {
			// The record says canceled, which the worker honours: deleting the
			// task only saves it a dequeue.
			s.o.Log.WarnContext(ctx, "delete canceled task", "message_id", id, "err", err)
		}
	}
	s.o.Log.InfoContext(ctx, "message canceled", "message_id", id, "recipient_id", rec.RecipientID)
	return rec, nil
}
