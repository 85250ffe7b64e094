package store

// Campaigns.
//
// # Keys
//
// Every key of a campaign shares the hash tag {c:<id>}, so the scripts and
// transactions below work on Redis Cluster.
//
//	<prefix>{c:<id>}:meta     hash {j: spec JSON, state, started, finished (unix ms)}
//	<prefix>{c:<id>}:n        hash of counters: audience, d (delivered), s.<reason>,
//	                          f.<error class>, dup.<chunk> (duplicates seen by a chunk), chunks_done
//	<prefix>{c:<id>}:aud      hash chunk name → recipient ids joined by "\n" (the queued audience)
//	<prefix>{c:<id>}:chunks   list of committed chunk names; a chunk's index is its place here
//	<prefix>{c:<id>}:done     bitmap of finished chunk indexes
//	<prefix>{c:<id>}:out      hash recipient id → compact outcome (also the per-recipient sent mark)
//	<prefix>{c:<id>}:later    sorted set recipient id → due time (unix ms): quiet hours, local
//	                          send times and retries wait here, each on its own
//	<prefix>{c:<id>}:tries    hash recipient id → delivery attempts that failed retryably
//	<prefix>{c:<id>}:sweeps   set of the asynq task ids of scheduled sweeps (cancel deletes them)
//	<prefix>campaigns         sorted set campaign id → creation time (unix ms): the index that
//	                          export and erasure walk (campaign_person.go); one global key
//	<prefix>{r:<id>}:adv      sorted set campaign id (its last 8 characters) → time of an advertising delivery (unix ms),
//	                          expiring after the catalog's frequency window
//
// A recipient costs about 10 B while queued (its id in a chunk) and one
// outcome entry (about 100-150 B) once done; see README "Campaigns".

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/policy"
)

// CampaignState is where a campaign stands. The strings are part of the API.
type CampaignState string

// The states of a campaign.
const (
	CampaignScheduled CampaignState = "scheduled"
	CampaignRunning   CampaignState = "running"
	CampaignPaused    CampaignState = "paused"
	CampaignDone      CampaignState = "done"
	CampaignCanceled  CampaignState = "canceled"
)

// Final reports whether the campaign will send nothing more.
func (s CampaignState) Final() bool { return s == CampaignDone || s == CampaignCanceled }

// Campaign is what a producer asked for. It does not change after creation;
// the state and the counters live beside it.
type Campaign struct {
	ID       string                    `json:"id"`
	Name     string                    `json:"name"`
	Type     message.Type              `json:"type"`
	Class    message.Class             `json:"class"`
	Channels []message.Channel         `json:"channels"`
	Data     map[string]map[string]any `json:"data,omitempty"`
	Locale   string                    `json:"locale,omitempty"`
	// SendAt is the producer's send_at as given: RFC 3339, or a local time
	// of day ("09:00", "2026-12-01T09:00") applied in each recipient's zone.
	SendAt   string    `json:"send_at,omitempty"`
	StartAt  time.Time `json:"start_at"` // when fan-out begins
	Throttle int       `json:"throttle_per_minute,omitempty"`
	// QuietStart and QuietEnd bound the quiet hours (HH:MM, recipient local time).
	QuietStart string    `json:"quiet_start"`
	QuietEnd   string    `json:"quiet_end"`
	CreatedAt  time.Time `json:"created_at"`
	CreatedBy  string    `json:"created_by,omitempty"` // API key name
}

// CampaignStatus is a campaign with its state and counters.
type CampaignStatus struct {
	Campaign
	State      CampaignState
	StartedAt  time.Time
	FinishedAt time.Time
	Counters   CampaignCounters
}

// CampaignCounters count a campaign's recipients. Delivered + suppressed +
// failed + duplicates + queued (+ canceled) = audience.
type CampaignCounters struct {
	Audience   int64            `json:"audience"`
	Queued     int64            `json:"queued"`
	Waiting    int64            `json:"waiting"` // of queued: delayed by quiet hours, local send time or a retry
	Delivered  int64            `json:"delivered"`
	Suppressed map[string]int64 `json:"suppressed"` // by reason
	Failed     map[string]int64 `json:"failed"`     // by error class
	Duplicates int64            `json:"duplicates"` // ids given twice: sent once
	Canceled   int64            `json:"canceled"`   // never sent because the campaign was canceled
	Chunks     int64            `json:"chunks"`
	ChunksDone int64            `json:"chunks_done"`
}

// OutcomeStatus is the status of one campaign recipient.
type OutcomeStatus byte

// The statuses of a campaign recipient, as stored (one byte).
const (
	OutcomeDelivered  OutcomeStatus = 'd'
	OutcomeSuppressed OutcomeStatus = 's'
	OutcomeFailed     OutcomeStatus = 'f'
	OutcomeWaiting    OutcomeStatus = 'w' // delayed, in the later set
	OutcomePending    OutcomeStatus = 'p' // claimed by a chunk or sweep that is sending it
)

// String returns the API name of the status.
func (o OutcomeStatus) String() string {
	switch o {
	case OutcomeDelivered:
		return "delivered"
	case OutcomeSuppressed:
		return "suppressed"
	case OutcomeFailed:
		return "failed"
	case OutcomeWaiting:
		return "waiting"
	case OutcomePending:
		return "sending"
	}
	return "queued"
}

// Outcome is the compact record of one campaign recipient: the decision as
// reason code, basis, rule and catalog version (the rest of the Decision is
// fixed by the catalog and rebuilt on read) and the delivery result.
type Outcome struct {
	Recipient  message.RecipientID
	Status     OutcomeStatus
	Origin     Owner // the chunk the recipient came from
	Channel    message.Channel
	Basis      policy.Basis
	Reason     policy.Reason
	Rule       string // the decision's full rule id, e.g. "promo_offer/email/consent"
	Catalog    string
	DecidedAt  time.Time
	DoneAt     time.Time
	Attempts   int
	ErrorClass string
	ProviderID string // the provider's id in full
}

// Owner is who works on a campaign's recipients: a chunk task, by its index,
// or the sweep of the later set. Stored as "c<index>" or "l".
type Owner struct {
	sweep bool
	chunk int64
}

// ChunkOwner is the owner of chunk index.
func ChunkOwner(index int64) Owner { return Owner{chunk: index} }

// SweepOwner is the owner of the sweeps of the later set.
func SweepOwner() Owner { return Owner{sweep: true} }

// Sweep reports whether o is the sweep.
func (o Owner) Sweep() bool { return o.sweep }

func (o Owner) String() string {
	if o.sweep {
		return "l"
	}
	return "c" + strconv.FormatInt(o.chunk, 10)
}

// parseOwner reads a stored owner; anything else is the zero Owner.
func parseOwner(s string) Owner {
	if s == "l" {
		return SweepOwner()
	}
	if n, err := strconv.ParseInt(strings.TrimPrefix(s, "c"), 10, 64); err == nil && strings.HasPrefix(s, "c") {
		return ChunkOwner(n)
	}
	return Owner{}
}

// CampaignMessageID is the message id of a campaign's message to recipient
// rid. It is derived, not drawn, so a message sent again after a crash
// carries the same id and Message-ID header.
func CampaignMessageID(campaignID string, rid message.RecipientID) string {
	h := sha256.Sum256([]byte(campaignID + "\x00" + string(rid)))
	return "cm." + campaignID + "." + hex.EncodeToString(h[:10])
}

// shortRule drops the "<type>/<channel>/" every rule id of a campaign's
// outcome starts with; fullRule puts it back.
func shortRule(rule string, t message.Type, ch message.Channel) string {
	return strings.TrimPrefix(rule, string(t)+"/"+string(ch)+"/")
}

func fullRule(rule string, t message.Type, ch message.Channel) string {
	if rule == "" || strings.Contains(rule, "/") {
		return rule
	}
	return string(t) + "/" + string(ch) + "/" + rule
}

// shortProviderID keeps only what follows the message id when the provider
// id starts with it (the SMTP Message-ID is "<message id>@<domain>").
func shortProviderID(pid, msgID string) string {
	if rest, ok := strings.CutPrefix(pid, msgID); ok {
		return "=" + rest
	}
	return pid
}

func fullProviderID(pid, msgID string) string {
	if rest, ok := strings.CutPrefix(pid, "="); ok {
		return msgID + rest
	}
	return pid
}

// encode writes the outcome as
// "d|c12|e|l|reason|rule|catalog|decided|done-decided|attempts|class|provider id":
// channel and basis as one letter, the reason left out when it is "allowed"
// (delivered and failed messages were allowed), times in unix seconds with
// the done time relative to the decision, the rule without the campaign's
// type and the channel, the provider id without the message id it starts
// with. Every byte counts a million times.
func (o Outcome) encode(campaignID string, t message.Type) string {
	var b strings.Builder
	b.Grow(64 + len(o.Rule) + len(o.ProviderID) + len(o.Catalog))
	b.WriteByte(byte(o.Status))
	reason := string(o.Reason)
	if o.Reason == policy.Allowed && o.Status != OutcomeSuppressed {
		reason = ""
	}
	done := ""
	if !o.DoneAt.IsZero() {
		done = strconv.FormatInt(o.DoneAt.Unix()-o.DecidedAt.Unix(), 10)
	}
	pid := o.ProviderID
	if pid != "" {
		pid = shortProviderID(pid, CampaignMessageID(campaignID, o.Recipient))
	}
	for _, f := range []string{o.Origin.String(), shortChannel(o.Channel), shortBasis(o.Basis), reason,
		shortRule(o.Rule, t, o.Channel), o.Catalog, unix(o.DecidedAt), done, strconv.Itoa(o.Attempts), o.ErrorClass, pid} {
		b.WriteByte('|')
		b.WriteString(f)
	}
	return b.String()
}

var basisCodes = map[policy.Basis]string{policy.Contract: "c", policy.LegitimateInterest: "l", policy.Consent: "k"}

// shortChannel is the channel's one-letter code from the channel registry.
func shortChannel(c message.Channel) string {
	if s, ok := c.Spec(); ok {
		return string(s.Code)
	}
	return string(c)
}

func longChannel(s string) message.Channel {
	if len(s) == 1 {
		if c, ok := message.ChannelByCode(s[0]); ok {
			return c
		}
	}
	return message.Channel(s)
}

func shortBasis(b policy.Basis) string {
	if s, ok := basisCodes[b]; ok {
		return s
	}
	return string(b)
}

func longBasis(s string) policy.Basis {
	for b, code := range basisCodes {
		if code == s {
			return b
		}
	}
	return policy.Basis(s)
}

func unix(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return strconv.FormatInt(t.Unix(), 10)
}

func fromUnix(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || s == "" {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// decodeOutcome reads a stored outcome of campaign campaignID (of type t),
// final or a pending/waiting mark.
func decodeOutcome(campaignID string, t message.Type, id message.RecipientID, v string) Outcome {
	o := Outcome{Recipient: id}
	if v == "" {
		return o
	}
	o.Status = OutcomeStatus(v[0])
	if o.Status == OutcomeWaiting || o.Status == OutcomePending {
		o.Origin = parseOwner(markOrigin(v))
		return o
	}
	f := strings.SplitN(v[1:], "|", 12)
	get := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	// f[0] is empty: the byte after the status is the first separator.
	o.Origin, o.Channel, o.Basis, o.Reason = parseOwner(get(1)), longChannel(get(2)), longBasis(get(3)), policy.Reason(get(4))
	if o.Reason == "" && o.Status != OutcomeSuppressed {
		o.Reason = policy.Allowed
	}
	o.Rule, o.Catalog, o.DecidedAt = fullRule(get(5), t, o.Channel), get(6), fromUnix(get(7))
	if d, err := strconv.ParseInt(get(8), 10, 64); err == nil && !o.DecidedAt.IsZero() {
		o.DoneAt = o.DecidedAt.Add(time.Duration(d) * time.Second)
	}
	o.Attempts, _ = strconv.Atoi(get(9))
	o.ErrorClass, o.ProviderID = get(10), get(11)
	if o.ProviderID != "" {
		o.ProviderID = fullProviderID(o.ProviderID, CampaignMessageID(campaignID, id))
	}
	return o
}

// markOrigin returns the chunk a stored value belongs to: "pc3" → "c3",
// "wc3" → "c3", "pl.c3" → "c3", "d|c3|…" → "c3".
func markOrigin(v string) string {
	if v == "" {
		return ""
	}
	switch v[0] {
	case 'p', 'w':
		rest := v[1:]
		if o, ok := strings.CutPrefix(rest, "l."); ok {
			return o
		}
		return rest
	}
	parts := strings.SplitN(v, "|", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}

func (s *Store) campaignKey(id, part string) string { return s.prefix + "{c:" + id + "}:" + part }

func (s *Store) advKey(id message.RecipientID) string { return s.recipientKey(string(id), "adv") }

// ThrottleKey is the rate limiter key of a campaign's throttle.
func (s *Store) ThrottleKey(id string) string { return s.campaignKey(id, "throttle") }

// CreateCampaign stores a new campaign in state scheduled. It returns
// ErrConflict if the id is taken.
func (s *Store) CreateCampaign(ctx context.Context, c Campaign) error {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("create campaign %s: encode: %w", c.ID, err)
	}
	ok, err := s.rdb.HSetNX(ctx, s.campaignKey(c.ID, "meta"), "j", b).Result()
	if err != nil {
		return fmt.Errorf("create campaign %s: %w", c.ID, err)
	}
	if !ok {
		return fmt.Errorf("create campaign %s: %w", c.ID, ErrConflict)
	}
	if err := s.rdb.HSet(ctx, s.campaignKey(c.ID, "meta"), "state", string(CampaignScheduled)).Err(); err != nil {
		return fmt.Errorf("create campaign %s: %w", c.ID, err)
	}
	// The index lets export and erasure find a person in every campaign
	// (campaign_person.go); written after the meta key, see personCampaigns.
	at := c.CreatedAt
	if at.IsZero() {
		at = s.now()
	}
	if err := s.rdb.ZAdd(ctx, s.campaignIndexKey(), redis.Z{Score: float64(at.UnixMilli()), Member: c.ID}).Err(); err != nil {
		return fmt.Errorf("create campaign %s: index: %w", c.ID, err)
	}
	return nil
}

// Campaign returns a campaign's spec and state.
func (s *Store) Campaign(ctx context.Context, id string) (Campaign, CampaignState, error) {
	v, err := s.rdb.HMGet(ctx, s.campaignKey(id, "meta"), "j", "state").Result()
	if err != nil {
		return Campaign{}, "", fmt.Errorf("load campaign %s: %w", id, err)
	}
	j, _ := v[0].(string)
	st, _ := v[1].(string)
	if j == "" {
		return Campaign{}, "", fmt.Errorf("load campaign %s: %w", id, ErrNotFound)
	}
	var c Campaign
	if err := decodeExact([]byte(j), &c); err != nil {
		return Campaign{}, "", fmt.Errorf("load campaign %s: %w: %w", id, ErrUndecodable, err)
	}
	return c, CampaignState(st), nil
}

// CampaignState returns only the state, for the engine's frequent checks.
func (s *Store) CampaignState(ctx context.Context, id string) (CampaignState, error) {
	st, err := s.rdb.HGet(ctx, s.campaignKey(id, "meta"), "state").Result()
	if errors.Is(err, redis.Nil) {
		return "", fmt.Errorf("campaign %s state: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("campaign %s state: %w", id, err)
	}
	return CampaignState(st), nil
}

// CampaignStatus returns the campaign with state and counters, in one round trip.
func (s *Store) CampaignStatus(ctx context.Context, id string) (CampaignStatus, error) {
	pipe := s.rdb.Pipeline()
	meta := pipe.HGetAll(ctx, s.campaignKey(id, "meta"))
	cnt := pipe.HGetAll(ctx, s.campaignKey(id, "n"))
	later := pipe.ZCard(ctx, s.campaignKey(id, "later"))
	chunks := pipe.LLen(ctx, s.campaignKey(id, "chunks"))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return CampaignStatus{}, fmt.Errorf("campaign %s status: %w", id, err)
	}
	m := meta.Val()
	if m["j"] == "" {
		return CampaignStatus{}, fmt.Errorf("campaign %s status: %w", id, ErrNotFound)
	}
	var st CampaignStatus
	if err := decodeExact([]byte(m["j"]), &st.Campaign); err != nil {
		return CampaignStatus{}, fmt.Errorf("campaign %s status: %w: %w", id, ErrUndecodable, err)
	}
	st.State = CampaignState(m["state"])
	st.StartedAt = fromMillis(m["started"])
	st.FinishedAt = fromMillis(m["finished"])
	c := &st.Counters
	c.Suppressed, c.Failed = map[string]int64{}, map[string]int64{}
	var finals int64
	for k, v := range cnt.Val() {
		n, _ := strconv.ParseInt(v, 10, 64)
		switch {
		case k == "audience":
			c.Audience = n
		case k == "chunks_done":
			c.ChunksDone = n
		case k == "chunks":
			if c.Chunks == 0 {
				c.Chunks = n
			}
		case k == "d":
			c.Delivered = n
			finals += n
		case strings.HasPrefix(k, "s."):
			c.Suppressed[k[2:]] = n
			finals += n
		case strings.HasPrefix(k, "f."):
			c.Failed[k[2:]] = n
			finals += n
		case strings.HasPrefix(k, "dup."):
			c.Duplicates += n
			finals += n
		}
	}
	if n := chunks.Val(); n > 0 {
		c.Chunks = n
	}
	c.Waiting = later.Val()
	rest := max(c.Audience-finals, 0)
	if st.State == CampaignCanceled {
		c.Canceled, c.Waiting = rest, 0
	} else {
		c.Queued = rest
	}
	return st, nil
}

func fromMillis(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

// transitionScript moves a campaign to ARGV[1] if its state is one of
// ARGV[3..]; ARGV[2] is now (unix ms). Starting stamps "started",
// finishing stamps "finished". Returns {ok (0/1), state before}.
var transitionScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return {0, ''} end
for i = 3, #ARGV do
  if cur == ARGV[i] then
    redis.call('HSET', KEYS[1], 'state', ARGV[1])
    if ARGV[1] == 'running' and not redis.call('HGET', KEYS[1], 'started') then
      redis.call('HSET', KEYS[1], 'started', ARGV[2])
    end
    if ARGV[1] == 'done' or ARGV[1] == 'canceled' then
      redis.call('HSET', KEYS[1], 'finished', ARGV[2])
    end
    return {1, cur}
  end
end
return {0, cur}
`)

// TransitionCampaign sets the state to `to` if it is one of from. It
// returns whether it did and the state found. ErrNotFound if there is no
// such campaign.
func (s *Store) TransitionCampaign(ctx context.Context, id string, to CampaignState, now time.Time, from ...CampaignState) (bool, CampaignState, error) {
	args := []any{string(to), now.UnixMilli()}
	for _, f := range from {
		args = append(args, string(f))
	}
	res, err := transitionScript.Run(ctx, s.rdb, []string{s.campaignKey(id, "meta")}, args...).Slice()
	if err != nil {
		return false, "", fmt.Errorf("campaign %s → %s: %w", id, to, err)
	}
	ok, _ := res[0].(int64)
	cur, _ := res[1].(string)
	if cur == "" {
		return false, "", fmt.Errorf("campaign %s → %s: %w", id, to, ErrNotFound)
	}
	return ok == 1, CampaignState(cur), nil
}

// Started reports whether the campaign ever ran (so resume knows whether to
// go back to running or to scheduled).
func (s *Store) CampaignStarted(ctx context.Context, id string) (bool, error) {
	n, err := s.rdb.HExists(ctx, s.campaignKey(id, "meta"), "started").Result()
	if err != nil {
		return false, fmt.Errorf("campaign %s: %w", id, err)
	}
	return n, nil
}

// StageChunk writes one chunk of an upload that is not committed yet: the
// engine does not see it until CommitChunks, so a failed upload leaves
// nothing half-written (DropChunks removes it).
func (s *Store) StageChunk(ctx context.Context, id, name string, ids []message.RecipientID) error {
	var b strings.Builder
	for i, r := range ids {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(string(r))
	}
	if err := s.rdb.HSet(ctx, s.campaignKey(id, "aud"), name, b.String()).Err(); err != nil {
		return fmt.Errorf("campaign %s: stage audience chunk: %w", id, err)
	}
	return nil
}

// DropChunks deletes staged chunks of a failed upload.
func (s *Store) DropChunks(ctx context.Context, id string, names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := s.rdb.HDel(ctx, s.campaignKey(id, "aud"), names...).Err(); err != nil {
		return fmt.Errorf("campaign %s: drop staged chunks: %w", id, err)
	}
	return nil
}

// commitScript appends staged chunks to the campaign if it still takes an
// audience. KEYS: meta, chunks, n, aud. ARGV[1] recipients in total, ARGV[2..]
// chunk names. Returns {state, index of the first new chunk} or {state, -1}
// when the campaign is final (the staged chunks are deleted then).
var commitScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return {'', -1} end
if st == 'done' or st == 'canceled' then
  for i = 2, #ARGV do redis.call('HDEL', KEYS[4], ARGV[i]) end
  return {st, -1}
end
local first = redis.call('LLEN', KEYS[2])
for i = 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('HINCRBY', KEYS[3], 'audience', ARGV[1])
return {st, first}
`)

// CommitChunks makes staged chunks part of the audience in one step. It
// returns the campaign state and the index of the first committed chunk; a
// final campaign takes no more audience (ErrConflict, chunks dropped).
func (s *Store) CommitChunks(ctx context.Context, id string, names []string, recipients int) (CampaignState, int64, error) {
	args := []any{recipients}
	for _, n := range names {
		args = append(args, n)
	}
	keys := []string{s.campaignKey(id, "meta"), s.campaignKey(id, "chunks"), s.campaignKey(id, "n"), s.campaignKey(id, "aud")}
	res, err := commitScript.Run(ctx, s.rdb, keys, args...).Slice()
	if err != nil {
		return "", 0, fmt.Errorf("campaign %s: commit audience: %w", id, err)
	}
	st, _ := res[0].(string)
	first, _ := res[1].(int64)
	switch {
	case st == "":
		return "", 0, fmt.Errorf("campaign %s: commit audience: %w", id, ErrNotFound)
	case first < 0:
		return CampaignState(st), 0, fmt.Errorf("campaign %s is %s: %w", id, st, ErrConflict)
	}
	return CampaignState(st), first, nil
}

// ChunkNames returns the committed chunk names from index start on.
func (s *Store) ChunkNames(ctx context.Context, id string, start int64) ([]string, error) {
	names, err := s.rdb.LRange(ctx, s.campaignKey(id, "chunks"), start, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: chunk names: %w", id, err)
	}
	return names, nil
}

// ChunkDone reports whether chunk index finished.
func (s *Store) ChunkDone(ctx context.Context, id string, index int64) (bool, error) {
	n, err := s.rdb.GetBit(ctx, s.campaignKey(id, "done"), index).Result()
	if err != nil {
		return false, fmt.Errorf("campaign %s: chunk %d done: %w", id, index, err)
	}
	return n == 1, nil
}

// ChunkRecipients returns the recipient ids of a committed chunk; an empty
// list once the campaign has finished and dropped its audience.
func (s *Store) ChunkRecipients(ctx context.Context, id, name string) ([]message.RecipientID, error) {
	v, err := s.rdb.HGet(ctx, s.campaignKey(id, "aud"), name).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("campaign %s: chunk %s: %w", id, name, err)
	}
	parts := strings.Split(v, "\n")
	ids := make([]message.RecipientID, len(parts))
	for i, p := range parts {
		ids[i] = message.RecipientID(p)
	}
	return ids, nil
}

// claimScript claims recipients for one sender and checks the campaign state
// in the same step. KEYS: meta, out, tries. ARGV[1] owner ("c12" for a chunk,
// "l" for a sweep of the later set), ARGV[2..] recipient ids.
//
// A chunk takes a recipient that has no entry yet or its own pending mark
// (a retry after a crash). A sweep takes waiting marks and sweep pending
// marks. The reply starts with the state; then one entry per id: "+<origin>
// <attempts>" when claimed, else the value found (the caller skips it).
// Nothing is claimed unless the campaign is running.
var claimScript = redis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
local res = {st or ''}
if st ~= 'running' then return res end
local owner = ARGV[1]
for i = 2, #ARGV do
  local id = ARGV[i]
  local v = redis.call('HGET', KEYS[2], id)
  local origin = nil
  if owner == 'l' then
    if v and string.sub(v, 1, 1) == 'w' then
      origin = string.sub(v, 2)
    elseif v and string.sub(v, 1, 3) == 'pl.' then
      origin = string.sub(v, 4)
    end
    if origin then redis.call('HSET', KEYS[2], id, 'pl.' .. origin) end
  elseif (not v) or v == 'p' .. owner then
    origin = owner
    if not v then redis.call('HSET', KEYS[2], id, 'p' .. owner) end
  end
  if origin then
    res[#res + 1] = '+' .. origin .. ' ' .. (redis.call('HGET', KEYS[3], id) or '0')
  else
    res[#res + 1] = v or ''
  end
end
return res
`)

// Claim is one recipient's answer from ClaimRecipients.
type Claim struct {
	Recipient message.RecipientID
	Claimed   bool
	Origin    Owner  // the chunk the recipient came from
	Attempts  int    // earlier attempts that failed retryably
	Found     string // the stored value when not claimed
}

// ClaimRecipients claims ids for owner and returns the campaign state. When
// the state is not running nothing is claimed and claims is nil.
func (s *Store) ClaimRecipients(ctx context.Context, id string, owner Owner, ids []message.RecipientID) (CampaignState, []Claim, error) {
	args := make([]any, 0, len(ids)+1)
	args = append(args, owner.String())
	for _, r := range ids {
		args = append(args, string(r))
	}
	keys := []string{s.campaignKey(id, "meta"), s.campaignKey(id, "out"), s.campaignKey(id, "tries")}
	res, err := claimScript.Run(ctx, s.rdb, keys, args...).StringSlice()
	if err != nil {
		return "", nil, fmt.Errorf("campaign %s: claim recipients: %w", id, err)
	}
	st := CampaignState(res[0])
	if st != CampaignRunning {
		return st, nil, nil
	}
	claims := make([]Claim, len(ids))
	for i, v := range res[1:] {
		c := Claim{Recipient: ids[i]}
		if rest, ok := strings.CutPrefix(v, "+"); ok {
			origin, n, _ := strings.Cut(rest, " ")
			c.Claimed, c.Origin = true, parseOwner(origin)
			c.Attempts, _ = strconv.Atoi(n)
		} else {
			c.Found = v
			c.Origin = parseOwner(markOrigin(v))
		}
		claims[i] = c
	}
	return st, claims, nil
}

// Finished is one recipient's final outcome to write, or (Due set) a delay.
type Finished struct {
	Outcome Outcome
	// Due, when set, puts the recipient in the later set until then instead
	// of finishing it.
	Due time.Time
	// Advertising counts the delivery for the frequency cap until Window passes.
	Advertising bool
	Window      time.Duration
	// Retry counts a retryable failure (attempts + 1) before the delay.
	Retry bool
}

// writeOutcomesScript records outcomes and delays atomically. A recipient
// that already has a final outcome is left alone and not counted again: after
// a crash the old and the new run of a chunk may both finish the same
// recipient (the message that was in flight), and the counters must still add
// up. KEYS: out, n, later, tries. ARGV: groups of five — recipient, value,
// counter field, due (unix ms, "" for a final outcome), retry ("1" or "0").
// Returns how many were written.
var writeOutcomesScript = redis.NewScript(`
local written = 0
for i = 1, #ARGV, 5 do
  local rid, val, cnt, due, retry = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
  local cur = redis.call('HGET', KEYS[1], rid)
  local c = cur and string.sub(cur, 1, 1)
  if not (c == 'd' or c == 's' or c == 'f') then
    redis.call('HSET', KEYS[1], rid, val)
    if due ~= '' then
      redis.call('ZADD', KEYS[3], due, rid)
      if retry == '1' then redis.call('HINCRBY', KEYS[4], rid, 1) end
    else
      redis.call('ZREM', KEYS[3], rid)
      redis.call('HDEL', KEYS[4], rid)
      redis.call('HINCRBY', KEYS[2], cnt, 1)
    end
    written = written + 1
  end
end
return written
`)

// WriteOutcomes records outcomes and delays in one script on the campaign's
// keys (outcome, counter and later-set entry change together; a recipient
// already finished is not counted twice), then the frequency-cap entries.
func (s *Store) WriteOutcomes(ctx context.Context, c Campaign, items []Finished) error {
	id := c.ID
	if len(items) == 0 {
		return nil
	}
	keys := []string{s.campaignKey(id, "out"), s.campaignKey(id, "n"), s.campaignKey(id, "later"), s.campaignKey(id, "tries")}
	args := make([]any, 0, 5*len(items))
	for _, it := range items {
		o := it.Outcome
		if !it.Due.IsZero() {
			retry := "0"
			if it.Retry {
				retry = "1"
			}
			args = append(args, string(o.Recipient), "w"+o.Origin.String(), "", it.Due.UnixMilli(), retry)
			continue
		}
		var cnt string
		switch o.Status {
		case OutcomeDelivered:
			cnt = "d"
		case OutcomeSuppressed:
			cnt = "s." + string(o.Reason)
		case OutcomeFailed:
			cnt = "f." + o.ErrorClass
		default:
			return fmt.Errorf("campaign %s: write outcome of %s: status %q is not final", id, o.Recipient, o.Status)
		}
		args = append(args, string(o.Recipient), o.encode(c.ID, c.Type), cnt, "", "0")
	}
	if err := writeOutcomesScript.Run(ctx, s.rdb, keys, args...).Err(); err != nil {
		return fmt.Errorf("campaign %s: write outcomes: %w", id, err)
	}
	// The frequency-cap entries live under each recipient's own hash tag.
	pipe := s.rdb.Pipeline()
	n := 0
	for _, it := range items {
		if it.Due.IsZero() && it.Advertising && it.Outcome.Status == OutcomeDelivered && it.Window > 0 {
			k := s.advKey(it.Outcome.Recipient)
			at := it.Outcome.DoneAt
			pipe.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMilli()), Member: advMember(id)})
			pipe.ZRemRangeByScore(ctx, k, "-inf", strconv.FormatInt(at.Add(-it.Window).UnixMilli(), 10))
			pipe.PExpire(ctx, k, it.Window)
			n++
		}
	}
	if n > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return fmt.Errorf("campaign %s: frequency cap entries: %w", id, err)
		}
	}
	return nil
}

// advMember is a campaign's entry in a recipient's frequency-cap set: the
// last 8 characters of its id (random hex), enough to tell this week's
// campaigns apart and keep a retried write idempotent.
func advMember(id string) string {
	if len(id) > 8 {
		return id[len(id)-8:]
	}
	return id
}

// SetDuplicates records how many duplicate ids chunk origin met. Setting
// (not adding) keeps the count right when a chunk runs again after a crash.
func (s *Store) SetDuplicates(ctx context.Context, id string, origin Owner, n int) error {
	if err := s.rdb.HSet(ctx, s.campaignKey(id, "n"), "dup."+origin.String(), n).Err(); err != nil {
		return fmt.Errorf("campaign %s: duplicates: %w", id, err)
	}
	return nil
}

// leaseScript takes up to ARGV[3] recipients due by ARGV[1] from the later
// set and moves their score to ARGV[2] (the lease's end), so no other sweep
// takes them meanwhile and a crashed sweep's recipients come back.
var leaseScript = redis.NewScript(`
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
`)

// LeaseDue takes up to n recipients due by now from the later set for lease.
func (s *Store) LeaseDue(ctx context.Context, id string, now time.Time, lease time.Duration, n int) ([]message.RecipientID, error) {
	res, err := leaseScript.Run(ctx, s.rdb, []string{s.campaignKey(id, "later")},
		now.UnixMilli(), now.Add(lease).UnixMilli(), n).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("campaign %s: lease due recipients: %w", id, err)
	}
	ids := make([]message.RecipientID, len(res))
	for i, r := range res {
		ids[i] = message.RecipientID(r)
	}
	return ids, nil
}

// ReleaseDue puts leased recipients back as due at `at` (a sweep that
// stopped for a pause), with their waiting marks.
func (s *Store) ReleaseDue(ctx context.Context, id string, at time.Time, claims []Claim) error {
	if len(claims) == 0 {
		return nil
	}
	out, later := s.campaignKey(id, "out"), s.campaignKey(id, "later")
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, c := range claims {
			if c.Claimed {
				p.HSet(ctx, out, string(c.Recipient), "w"+c.Origin.String())
			}
			p.ZAdd(ctx, later, redis.Z{Score: float64(at.UnixMilli()), Member: string(c.Recipient)})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("campaign %s: release due recipients: %w", id, err)
	}
	return nil
}

// DropLater removes ids from the later set (they were finished elsewhere).
func (s *Store) DropLater(ctx context.Context, id string, ids []message.RecipientID) error {
	if len(ids) == 0 {
		return nil
	}
	m := make([]any, len(ids))
	for i, r := range ids {
		m[i] = string(r)
	}
	if err := s.rdb.ZRem(ctx, s.campaignKey(id, "later"), m...).Err(); err != nil {
		return fmt.Errorf("campaign %s: drop later: %w", id, err)
	}
	return nil
}

// NextDue returns the earliest due time in the later set, if any.
func (s *Store) NextDue(ctx context.Context, id string) (time.Time, bool, error) {
	z, err := s.rdb.ZRangeWithScores(ctx, s.campaignKey(id, "later"), 0, 0).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("campaign %s: next due: %w", id, err)
	}
	if len(z) == 0 {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(int64(z[0].Score)).UTC(), true, nil
}

// finishChunkScript marks chunk ARGV[1] done once and, when every chunk is
// done and nothing waits, moves a running campaign to done.
// KEYS: done bitmap, n, chunks, later, meta. ARGV[1] index (or -1 for none),
// ARGV[2] now (unix ms). Returns 1 when the campaign just finished.
var finishChunkScript = redis.NewScript(`
if tonumber(ARGV[1]) >= 0 then
  if redis.call('SETBIT', KEYS[1], ARGV[1], 1) == 0 then
    redis.call('HINCRBY', KEYS[2], 'chunks_done', 1)
  end
end
if redis.call('HGET', KEYS[5], 'state') ~= 'running' then return 0 end
local done = tonumber(redis.call('HGET', KEYS[2], 'chunks_done') or '0')
local chunks = redis.call('LLEN', KEYS[3])
if chunks == 0 or done < chunks then return 0 end
if redis.call('ZCARD', KEYS[4]) > 0 then return 0 end
redis.call('HSET', KEYS[5], 'state', 'done', 'finished', ARGV[2])
return 1
`)

// FinishChunk marks chunk index done (index < 0: none, just check) and
// reports whether the campaign is done now.
func (s *Store) FinishChunk(ctx context.Context, id string, index int64, now time.Time) (bool, error) {
	keys := []string{s.campaignKey(id, "done"), s.campaignKey(id, "n"), s.campaignKey(id, "chunks"),
		s.campaignKey(id, "later"), s.campaignKey(id, "meta")}
	n, err := finishChunkScript.Run(ctx, s.rdb, keys, index, now.UnixMilli()).Int()
	if err != nil {
		return false, fmt.Errorf("campaign %s: finish chunk %d: %w", id, index, err)
	}
	return n == 1, nil
}

// ReleaseCampaign drops what a finished or canceled campaign no longer needs
// (audience, later set, chunk bookkeeping, throttle) and keeps the spec,
// counters and outcomes for ttl.
func (s *Store) ReleaseCampaign(ctx context.Context, id string, ttl time.Duration) error {
	pipe := s.rdb.Pipeline()
	pipe.Unlink(ctx, s.campaignKey(id, "aud"), s.campaignKey(id, "later"), s.campaignKey(id, "tries"),
		s.campaignKey(id, "done"), s.campaignKey(id, "sweeps"), "rate:"+s.ThrottleKey(id))
	for _, part := range []string{"meta", "n", "out", "chunks"} {
		pipe.PExpire(ctx, s.campaignKey(id, part), ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("campaign %s: release: %w", id, err)
	}
	return nil
}

// AddSweep remembers the task id of a scheduled sweep, so cancel can remove it.
func (s *Store) AddSweep(ctx context.Context, id, taskID string) error {
	if err := s.rdb.SAdd(ctx, s.campaignKey(id, "sweeps"), taskID).Err(); err != nil {
		return fmt.Errorf("campaign %s: remember sweep: %w", id, err)
	}
	return nil
}

// Sweeps returns the task ids of the sweeps scheduled so far.
func (s *Store) Sweeps(ctx context.Context, id string) ([]string, error) {
	ids, err := s.rdb.SMembers(ctx, s.campaignKey(id, "sweeps")).Result()
	if err != nil {
		return nil, fmt.Errorf("campaign %s: sweeps: %w", id, err)
	}
	return ids, nil
}

// CampaignOutcome returns one recipient's stored outcome (Status 0 if the
// recipient has not been reached yet or is not in the audience).
func (s *Store) CampaignOutcome(ctx context.Context, c Campaign, rid message.RecipientID) (Outcome, error) {
	id := c.ID
	v, err := s.rdb.HGet(ctx, s.campaignKey(id, "out"), string(rid)).Result()
	if errors.Is(err, redis.Nil) {
		return Outcome{Recipient: rid}, nil
	}
	if err != nil {
		return Outcome{}, fmt.Errorf("campaign %s: outcome: %w", id, err)
	}
	return decodeOutcome(id, c.Type, rid, v), nil
}

// CampaignOutcomes lists outcomes page by page (HSCAN order). cursor 0
// starts; the returned cursor is 0 at the end.
func (s *Store) CampaignOutcomes(ctx context.Context, c Campaign, cursor uint64, count int64) ([]Outcome, uint64, error) {
	id := c.ID
	kv, next, err := s.rdb.HScan(ctx, s.campaignKey(id, "out"), cursor, "", count).Result()
	if err != nil {
		return nil, 0, fmt.Errorf("campaign %s: outcomes: %w", id, err)
	}
	out := make([]Outcome, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, decodeOutcome(id, c.Type, message.RecipientID(kv[i]), kv[i+1]))
	}
	return out, next, nil
}

// CampaignMemory is what Redis holds for a campaign, in bytes (MEMORY USAGE).
type CampaignMemory struct {
	// Queued is the audience still to send: its chunks of ids.
	Queued int64
	// Kept is what stays once it is done: spec, counters, chunk list, outcomes.
	Kept int64
}

// CampaignMemory measures campaign id's keys, for `herold bench`.
func (s *Store) CampaignMemory(ctx context.Context, id string) (CampaignMemory, error) {
	var m CampaignMemory
	var err error
	if m.Queued, err = s.memoryUsage(ctx, s.campaignKey(id, "aud")); err != nil {
		return m, err
	}
	for _, part := range []string{"meta", "n", "out", "chunks"} {
		n, err := s.memoryUsage(ctx, s.campaignKey(id, part))
		if err != nil {
			return m, err
		}
		m.Kept += n
	}
	return m, nil
}

// AdvertisingMemory measures the frequency-cap entries of ids, for `herold bench`.
func (s *Store) AdvertisingMemory(ctx context.Context, ids []message.RecipientID) (int64, error) {
	var total int64
	for _, id := range ids {
		n, err := s.memoryUsage(ctx, s.advKey(id))
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// memoryUsage is MEMORY USAGE of key; 0 for a key that does not exist.
func (s *Store) memoryUsage(ctx context.Context, key string) (int64, error) {
	n, err := s.rdb.MemoryUsage(ctx, key, 0).Result()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("memory usage: %w", err)
	}
	return n, nil
}
