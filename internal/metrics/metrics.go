// Package metrics is Herold's Prometheus registry: the counters and
// histograms the send path, the webhook worker and the bounce receiver
// update through typed methods, a collector of the asynq queues, and the
// GET /metrics handler.
//
// Names and labels follow the Prometheus conventions (herold_…_total for
// counters, _seconds for durations). No label ever holds an id, an address
// or a number: label values come from closed sets (channels, statuses,
// kinds) or from the catalog's type keys, and any other value is counted
// as "other", so neither personal data nor an unbounded number of series
// can get in. The registry is not the global one: each Metrics is its own.
//
// client_golang stays at v1.24 (prometheus/common v0.70): from v1.25 on,
// prometheus/common's expfmt links github.com/pandatix/go-abnf, which
// imports package testing, and the shipped binary must link no such package.
package metrics

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heroldhq/herold/internal/message"
)

// Final message statuses counted by herold_messages_total.
var messageStatuses = []string{"delivered", "suppressed", "failed", "canceled", "bounced", "read", "undelivered"}

// Other is the label value of anything outside a label's known set.
const Other = "other"

// code returns v if it looks like a code (1-48 of a-z 0-9 _), else Other:
// a label never carries free text. It runs for every decision and message,
// so it loops over the bytes instead of running a regular expression.
func code(v string) string {
	if len(v) == 0 || len(v) > 48 {
		return Other
	}
	for i := range len(v) {
		if c := v[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return Other
		}
	}
	return v
}

// Options configures New.
type Options struct {
	// Types are the catalog's message types; other types are counted as
	// "other". Their series exist from the start, at zero.
	Types []message.Type
	// Providers name the provider adapters (e.g. "smtp", "twilio", "outbox").
	Providers []string
}

// Metrics holds Herold's metrics. Its methods are safe for concurrent use
// and cheap: the children of fixed label sets are resolved once, in New.
type Metrics struct {
	reg *prometheus.Registry

	messages      map[msgKey]prometheus.Counter
	messagesVec   *prometheus.CounterVec
	decisions     *prometheus.CounterVec
	suppressions  *prometheus.CounterVec
	listAdditions *prometheus.CounterVec
	sendSeconds   *prometheus.HistogramVec
	sendErrors    *prometheus.CounterVec
	hookCalls     *prometheus.CounterVec
	hookSeconds   prometheus.Histogram
	bounces       *prometheus.CounterVec
	campaign      *prometheus.CounterVec
	types         map[message.Type]bool
	providers     map[string]bool
	sends         map[sendKey]prometheus.Observer
}

type msgKey struct {
	t      message.Type
	ch     message.Channel
	status string
}

type sendKey struct {
	ch       message.Channel
	provider string
}

// New returns a Metrics with its own registry, which also holds the Go
// runtime and process collectors.
func New(o Options) *Metrics {
	m := &Metrics{
		reg:       prometheus.NewRegistry(),
		types:     map[message.Type]bool{},
		providers: map[string]bool{},
		messages:  map[msgKey]prometheus.Counter{},
		sends:     map[sendKey]prometheus.Observer{},
	}
	m.messagesVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_messages_total",
		Help: "Messages that reached a final status, by message type, channel and status.",
	}, []string{"type", "channel", "status"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_decisions_total",
		Help: "Policy decisions at delivery time, by legal basis and outcome (allowed or suppressed).",
	}, []string{"basis", "outcome"})
	m.suppressions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_suppressions_total",
		Help: "Messages suppressed by the policy, by reason code.",
	}, []string{"reason"})
	m.listAdditions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_suppression_list_additions_total",
		Help: "Contact points put on the suppression list, by reason (bounced, complaint, erased, ...).",
	}, []string{"reason"})
	m.sendSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "herold_provider_send_duration_seconds",
		Help:    "Time a provider took to accept or refuse one message, by channel and provider.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"channel", "provider"})
	m.sendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_provider_errors_total",
		Help: "Failed provider calls, by channel, provider and error class (permanent, temporary, timeout, rate_limited, ...).",
	}, []string{"channel", "provider", "class"})
	m.hookCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_webhook_deliveries_total",
		Help: "Webhook calls, by outcome (delivered, retry, failed) and HTTP status class (2xx, 4xx, 5xx, none).",
	}, []string{"outcome", "status_class"})
	m.hookSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "herold_webhook_delivery_duration_seconds",
		Help:    "Time a webhook receiver took to answer.",
		Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	})
	m.bounces = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_bounce_reports_total",
		Help: "Processed bounce and complaint reports, by kind (hard, soft, complaint, auto_reply, ignored) and whether a valid VERP address named a message.",
	}, []string{"kind", "matched"})
	m.campaign = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herold_campaign_recipients_total",
		Help: "Campaign recipients that reached a final state (delivered, suppressed, failed, canceled).",
	}, []string{"state"})
	m.reg.MustRegister(m.messagesVec, m.decisions, m.suppressions, m.listAdditions, m.sendSeconds, m.sendErrors,
		m.hookCalls, m.hookSeconds, m.bounces, m.campaign,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	for _, t := range o.Types {
		m.types[t] = true
	}
	for _, p := range o.Providers {
		m.providers[code(p)] = true
	}
	for _, t := range append(append([]message.Type(nil), o.Types...), Other) {
		for _, ch := range message.Channels() {
			for _, st := range messageStatuses {
				m.messages[msgKey{t, ch, st}] = m.messagesVec.WithLabelValues(string(t), string(ch), st)
			}
		}
	}
	for p := range m.providers {
		for _, ch := range message.Channels() {
			m.sends[sendKey{ch, p}] = m.sendSeconds.WithLabelValues(string(ch), p)
		}
	}
	for _, s := range []string{"delivered", "suppressed", "failed", "canceled"} {
		m.campaign.WithLabelValues(s)
	}
	for _, k := range []string{"hard", "soft", "complaint", "auto_reply", "ignored"} {
		m.bounces.WithLabelValues(k, "true")
		m.bounces.WithLabelValues(k, "false")
	}
	return m
}

// Registry returns the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Message counts a message that reached final status (delivered,
// suppressed, failed, canceled, bounced, read, undelivered).
func (m *Metrics) Message(t message.Type, ch message.Channel, status string) {
	if !m.types[t] {
		t = Other
	}
	if c, ok := m.messages[msgKey{t, ch, status}]; ok {
		c.Inc()
		return
	}
	chl := string(ch)
	if !ch.Valid() {
		chl = Other
	}
	m.messagesVec.WithLabelValues(string(t), chl, code(status)).Inc()
}

// Decision counts a policy decision on its basis (contract,
// legitimate_interest, consent; "" for a denial without one).
func (m *Metrics) Decision(basis string, allowed bool) {
	outcome := "suppressed"
	if allowed {
		outcome = "allowed"
	}
	if basis == "" {
		basis = "none"
	}
	m.decisions.WithLabelValues(code(basis), outcome).Inc()
}

// Suppressed counts a message the policy suppressed, by reason code.
func (m *Metrics) Suppressed(reason string) { m.suppressions.WithLabelValues(code(reason)).Inc() }

// SuppressionAdded counts a contact point put on the suppression list.
func (m *Metrics) SuppressionAdded(reason string) {
	m.listAdditions.WithLabelValues(code(reason)).Inc()
}

// ProviderSend records one provider call: its duration and, when errClass
// is not empty, its error class.
func (m *Metrics) ProviderSend(ch message.Channel, provider string, d time.Duration, errClass string) {
	if !m.providers[provider] {
		provider = code(provider)
	}
	chl := string(ch)
	if !ch.Valid() {
		chl = Other
	}
	if o, ok := m.sends[sendKey{ch, provider}]; ok {
		o.Observe(d.Seconds())
	} else {
		m.sendSeconds.WithLabelValues(chl, provider).Observe(d.Seconds())
	}
	if errClass != "" {
		m.sendErrors.WithLabelValues(chl, provider, code(errClass)).Inc()
	}
}

// WebhookDelivery records one webhook call (webhooks.Observer).
func (m *Metrics) WebhookDelivery(outcome string, status int, elapsed time.Duration) {
	class := "none"
	if status >= 100 && status < 600 {
		class = strconv.Itoa(status/100) + "xx"
	}
	m.hookCalls.WithLabelValues(code(outcome), class).Inc()
	if status != 0 {
		m.hookSeconds.Observe(elapsed.Seconds())
	}
}

// BounceReport counts a processed report (bounce.Observer).
func (m *Metrics) BounceReport(kind string, matched bool) {
	m.bounces.WithLabelValues(code(kind), strconv.FormatBool(matched)).Inc()
}

// CampaignRecipients counts n campaign recipients that reached state.
func (m *Metrics) CampaignRecipients(state string, n int) {
	if n > 0 {
		m.campaign.WithLabelValues(code(state)).Add(float64(n))
	}
}

// Handler serves the registry in the Prometheus text format. With a token,
// a request must carry "Authorization: Bearer <token>" (compared in
// constant time) or gets 401.
func (m *Metrics) Handler(token string, log *slog.Logger) http.Handler {
	h := promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          errorLog{log},
		EnableOpenMetrics: false,
	})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herold-metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <HEROLD_METRICS_TOKEN>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	if e.l != nil {
		e.l.Warn("metrics: " + fmt.Sprint(v...))
	}
}

// Serve serves GET /metrics on its own listener (HEROLD_METRICS_ADDR) until
// ctx is done, then shuts down within 5 seconds.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener, token string, log *slog.Logger) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler(token, log))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("metrics listener: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("metrics listener: %w", err)
		}
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics listener: %w", err)
		}
		return nil
	}
}
