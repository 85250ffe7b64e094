// Package stats keeps the few figures the operator console charts over
// time, shared by every process of one Herold: final outcomes per message
// class and status, messages suppressed per reason, bounces and complaints
// per kind against the e-mails delivered, each hour; and each campaign's
// deliveries per minute.
//
// Stats is an events.Publisher: the send path tells it what happened and
// it only adds to counters in memory. Flush (every few seconds from Run,
// and once more when Run ends) adds them to Redis hashes, one per hour and
// one per campaign, in one pipeline, so no delivery ever waits for a chart;
// a process that crashes loses at most the counts since its last flush.
// internal/metrics counts the same for Prometheus, per process and since
// its start; these figures are the console's, kept for Retention.
//
// Like every event, the counters hold codes only (class, status, reason,
// bounce kind) and campaign ids, never an address or a recipient.
package stats

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/events"
	"github.com/heroldhq/herold/internal/message"
)

// Retention is how long an hour's and a campaign's counters are kept: the
// console's longest chart is 7 days.
const Retention = 8 * 24 * time.Hour

// FlushEvery is how often Run writes the counts to Redis.
const FlushEvery = 5 * time.Second

// maxRatePoints bounds a campaign's per-minute chart (the last 6 hours of
// a longer campaign).
const maxRatePoints = 360

// Statuses counted per class: the final outcomes of an attempt and what
// providers and bounce reports say later about a delivered message.
const (
	Delivered   = "delivered"
	Suppressed  = "suppressed"
	Failed      = "failed"
	Undelivered = "undelivered"
	Bounced     = "bounced"
)

// Statuses lists them in the order the charts show them.
func Statuses() []string { return []string{Delivered, Suppressed, Failed, Undelivered, Bounced} }

// Options configures New.
type Options struct {
	Redis  redis.UniversalClient
	Prefix string // the store's key prefix
	// ClassOf is the class of a message type (the catalog's); a type it
	// does not know is counted under "other".
	ClassOf func(message.Type) (message.Class, bool)
	Now     func() time.Time // default time.Now
}

// Stats counts events per hour and campaign minute. Build it with New; it
// is safe for concurrent use.
type Stats struct {
	rdb     redis.UniversalClient
	prefix  string
	classOf func(message.Type) (message.Class, bool)
	now     func() time.Time

	mu      sync.Mutex
	hours   map[hourField]int64
	minutes map[minuteKey]int64
}

// hourField is one counter of one hour. Its strings are codes the events
// already hold, so counting allocates only a map entry.
type hourField struct {
	hour int64 // Unix seconds of the hour's start
	kind byte  // 'm' message status per class, 'r' suppression reason, 'b' bounce kind, 'e' e-mails delivered
	a, b string
}

func (f hourField) name() string {
	switch f.kind {
	case 'm':
		return "m:" + f.a + ":" + f.b
	case 'e':
		return "e"
	}
	return string(f.kind) + ":" + f.a
}

type minuteKey struct {
	campaign string
	minute   int64 // Unix seconds of the minute's start
}

// New returns Stats over rdb.
func New(o Options) *Stats {
	s := &Stats{rdb: o.Redis, prefix: o.Prefix, classOf: o.ClassOf, now: o.Now,
		hours: map[hourField]int64{}, minutes: map[minuteKey]int64{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.classOf == nil {
		s.classOf = func(message.Type) (message.Class, bool) { return "", false }
	}
	return s
}

func (s *Stats) hourKey(hour int64) string {
	return s.prefix + "stats:h:" + strconv.FormatInt(hour, 10)
}
func (s *Stats) campaignKey(id string) string {
	return s.prefix + "stats:c:{" + id + "}"
}

// Publish counts evs. It never fails and never calls Redis.
func (s *Stats) Publish(_ context.Context, evs ...events.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range evs {
		s.count(&evs[i])
	}
	return nil
}

func (s *Stats) count(e *events.Event) {
	at := e.At
	if at.IsZero() {
		at = s.now()
	}
	hour := at.Truncate(time.Hour).Unix()
	status := ""
	switch e.Type {
	case events.MessageDelivered:
		status = Delivered
		if e.Data.Channel == string(message.Email) {
			s.hours[hourField{hour: hour, kind: 'e'}]++
		}
		if e.Data.CampaignID != "" {
			s.minutes[minuteKey{e.Data.CampaignID, at.Truncate(time.Minute).Unix()}]++
		}
	case events.MessageSuppressed:
		status = Suppressed
		s.hours[hourField{hour: hour, kind: 'r', a: e.Data.Reason}]++
	case events.MessageFailed:
		status = Failed
	case events.MessageUndelivered:
		status = Undelivered
	case events.MessageBounced, events.MessageComplained:
		if e.Data.Bounce != nil {
			s.hours[hourField{hour: hour, kind: 'b', a: e.Data.Bounce.Kind}]++
		}
		if e.Type == events.MessageBounced {
			status = Bounced
		}
	}
	if status == "" {
		return
	}
	class := "other"
	if c, ok := s.classOf(message.Type(e.Data.MessageType)); ok {
		class = string(c)
	}
	s.hours[hourField{hour: hour, kind: 'm', a: class, b: status}]++
}

// Flush adds the counts so far to Redis in one pipeline. Counts it could
// not write are kept for the next flush.
func (s *Stats) Flush(ctx context.Context) error {
	s.mu.Lock()
	hours, minutes := s.hours, s.minutes
	if len(hours) == 0 && len(minutes) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.hours, s.minutes = map[hourField]int64{}, map[minuteKey]int64{}
	s.mu.Unlock()
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		keys := map[string]bool{}
		for f, n := range hours {
			k := s.hourKey(f.hour)
			p.HIncrBy(ctx, k, f.name(), n)
			keys[k] = true
		}
		for m, n := range minutes {
			k := s.campaignKey(m.campaign)
			p.HIncrBy(ctx, k, strconv.FormatInt(m.minute, 10), n)
			keys[k] = true
		}
		for k := range keys {
			p.Expire(ctx, k, Retention)
		}
		return nil
	})
	if err != nil {
		// Put them back: a chart that is late beats one that lies.
		s.mu.Lock()
		for f, n := range hours {
			s.hours[f] += n
		}
		for m, n := range minutes {
			s.minutes[m] += n
		}
		s.mu.Unlock()
		return fmt.Errorf("stats: flush: %w", err)
	}
	return nil
}

// Run flushes every FlushEvery until ctx is done, then once more (within
// five seconds). Errors are told to onErr (nil: dropped) and retried with
// the next flush.
func (s *Stats) Run(ctx context.Context, onErr func(error)) {
	t := time.NewTicker(FlushEvery)
	defer t.Stop()
	report := func(err error) {
		if err != nil && onErr != nil {
			onErr(err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			report(s.Flush(fctx))
			cancel()
			return
		case <-t.C:
			report(s.Flush(ctx))
		}
	}
}

// Series is one statistic over time: one value per bucket from Start on.
type Series struct {
	Class, Status string // of Deliveries
	Start         time.Time
	Step          time.Duration
	Values        []float64
}

// Count is one number of a statistic with what it counts.
type Count struct {
	Key   string // a reason, a bounce kind
	Value float64
}

// hoursSince reads every hour from since's to now's, oldest first.
func (s *Stats) hoursSince(ctx context.Context, since time.Time) ([]int64, []map[string]string, error) {
	var hours []int64
	last := s.now().Truncate(time.Hour).Unix()
	for h := since.Truncate(time.Hour).Unix(); h <= last; h += 3600 {
		hours = append(hours, h)
	}
	cmds := make([]*redis.MapStringStringCmd, len(hours))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, h := range hours {
			cmds[i] = p.HGetAll(ctx, s.hourKey(h))
		}
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("stats: read hours: %w", err)
	}
	out := make([]map[string]string, len(hours))
	for i, c := range cmds {
		out[i] = c.Val()
	}
	return hours, out, nil
}

// Deliveries returns one series per class and status with any count since
// since, in buckets of step (a multiple of an hour) ending now, ordered by
// class and then as Statuses.
func (s *Stats) Deliveries(ctx context.Context, since time.Time, step time.Duration) ([]Series, error) {
	step = max(step.Truncate(time.Hour), time.Hour)
	hours, vals, err := s.hoursSince(ctx, since)
	if err != nil || len(hours) == 0 {
		return nil, err
	}
	start := time.Unix(hours[0], 0).UTC()
	n := int((time.Duration(hours[len(hours)-1]-hours[0])*time.Second)/step) + 1
	byKey := map[[2]string][]float64{}
	for i, h := range hours {
		b := int((time.Duration(h-hours[0]) * time.Second) / step)
		for field, v := range vals[i] {
			class, status, ok := strings.Cut(strings.TrimPrefix(field, "m:"), ":")
			if !ok || !strings.HasPrefix(field, "m:") {
				continue
			}
			k := [2]string{class, status}
			if byKey[k] == nil {
				byKey[k] = make([]float64, n)
			}
			x, _ := strconv.ParseFloat(v, 64)
			byKey[k][b] += x
		}
	}
	order := Statuses()
	keys := slices.SortedFunc(maps.Keys(byKey), func(a, b [2]string) int {
		if a[0] != b[0] {
			return strings.Compare(a[0], b[0])
		}
		return slices.Index(order, a[1]) - slices.Index(order, b[1])
	})
	out := make([]Series, 0, len(keys))
	for _, k := range keys {
		out = append(out, Series{Class: k[0], Status: k[1], Start: start, Step: step, Values: byKey[k]})
	}
	return out, nil
}

// sums adds up the fields of kind since since, largest first.
func (s *Stats) sums(ctx context.Context, since time.Time, kind byte) ([]Count, error) {
	_, vals, err := s.hoursSince(ctx, since)
	if err != nil {
		return nil, err
	}
	sum := map[string]float64{}
	prefix := string(kind) + ":"
	for _, m := range vals {
		for field, v := range m {
			if key, ok := strings.CutPrefix(field, prefix); ok {
				x, _ := strconv.ParseFloat(v, 64)
				sum[key] += x
			}
		}
	}
	out := make([]Count, 0, len(sum))
	for _, k := range slices.Sorted(maps.Keys(sum)) {
		out = append(out, Count{Key: k, Value: sum[k]})
	}
	slices.SortStableFunc(out, func(a, b Count) int {
		switch {
		case a.Value > b.Value:
			return -1
		case a.Value < b.Value:
			return 1
		}
		return 0
	})
	return out, nil
}

// Suppressions returns the messages the policy suppressed since since, per
// reason code, largest first.
func (s *Stats) Suppressions(ctx context.Context, since time.Time) ([]Count, error) {
	return s.sums(ctx, since, 'r')
}

// BounceRates returns, per bounce kind (hard, soft, complaint) reported
// since since, its share of the e-mails delivered since then (0..1; with no
// e-mail delivered, none).
func (s *Stats) BounceRates(ctx context.Context, since time.Time) ([]Count, error) {
	_, vals, err := s.hoursSince(ctx, since)
	if err != nil {
		return nil, err
	}
	var delivered float64
	kinds := map[string]float64{}
	for _, m := range vals {
		for field, v := range m {
			x, _ := strconv.ParseFloat(v, 64)
			if field == "e" {
				delivered += x
			} else if k, ok := strings.CutPrefix(field, "b:"); ok {
				kinds[k] += x
			}
		}
	}
	if delivered == 0 {
		return nil, nil
	}
	var out []Count
	for _, k := range []string{"hard", "soft", "complaint"} {
		out = append(out, Count{Key: k, Value: kinds[k] / delivered})
	}
	return out, nil
}

// CampaignRate returns campaign id's deliveries per minute from since (or
// its first delivery) to its last delivery, at most the last 6 hours of it.
// A campaign without deliveries has an empty series.
func (s *Stats) CampaignRate(ctx context.Context, id string, since time.Time) (Series, error) {
	m, err := s.rdb.HGetAll(ctx, s.campaignKey(id)).Result()
	if err != nil {
		return Series{}, fmt.Errorf("stats: campaign %s rate: %w", id, err)
	}
	out := Series{Step: time.Minute}
	byMinute := map[int64]float64{}
	var first, last int64
	from := since.Truncate(time.Minute).Unix()
	for k, v := range m {
		t, err := strconv.ParseInt(k, 10, 64)
		if err != nil || t < from {
			continue
		}
		x, _ := strconv.ParseFloat(v, 64)
		byMinute[t] = x
		if first == 0 || t < first {
			first = t
		}
		last = max(last, t)
	}
	if len(byMinute) == 0 {
		return out, nil
	}
	first = max(first, last-60*(maxRatePoints-1))
	out.Start = time.Unix(first, 0).UTC()
	for t := first; t <= last; t += 60 {
		out.Values = append(out.Values, byMinute[t])
	}
	return out, nil
}
