package metrics_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/metrics"
	"github.com/heroldhq/herold/internal/redistest"
)

// scrape GETs url and parses the Prometheus text format.
func scrape(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition format: %v", err)
	}
	return fams
}

// value returns the value of the series of name with exactly labels.
func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func TestMetricsAfterASmallRun(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{Types: []message.Type{"invoice", "promo_offer"}, Providers: []string{"smtp", "twilio"}})
	// What the send path of a small run reports.
	for range 3 {
		m.Decision("contract", true)
		m.ProviderSend(message.Email, "smtp", 40*time.Millisecond, "")
		m.Message("invoice", message.Email, "delivered")
	}
	m.Decision("", false)
	m.Suppressed("no_consent")
	m.Message("promo_offer", message.SMS, "suppressed")
	m.ProviderSend(message.SMS, "twilio", 2*time.Second, "permanent")
	m.Message("invoice", message.SMS, "failed")
	m.Message("unlisted_type", message.Email, "delivered")
	m.SuppressionAdded("bounced")
	m.WebhookDelivery("retry", 500, 30*time.Millisecond)
	m.WebhookDelivery("delivered", 200, 20*time.Millisecond)
	m.WebhookDelivery("failed", 0, 0)
	m.BounceReport("hard", true)
	m.BounceReport("auto_reply", true)
	m.BounceReport("hard", false)
	m.CampaignRecipients("delivered", 250)
	// Free text in a label becomes "other": no address can reach a series.
	m.Suppressed("anna@example.com")

	srv := httptest.NewServer(m.Handler("", nil))
	defer srv.Close()
	fams := scrape(t, srv.URL, "")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"herold_messages_total", map[string]string{"type": "invoice", "channel": "email", "status": "delivered"}, 3},
		{"herold_messages_total", map[string]string{"type": "invoice", "channel": "sms", "status": "failed"}, 1},
		{"herold_messages_total", map[string]string{"type": "promo_offer", "channel": "sms", "status": "suppressed"}, 1},
		{"herold_messages_total", map[string]string{"type": "other", "channel": "email", "status": "delivered"}, 1},
		{"herold_messages_total", map[string]string{"type": "promo_offer", "channel": "whatsapp", "status": "delivered"}, 0},
		{"herold_decisions_total", map[string]string{"basis": "contract", "outcome": "allowed"}, 3},
		{"herold_decisions_total", map[string]string{"basis": "none", "outcome": "suppressed"}, 1},
		{"herold_suppressions_total", map[string]string{"reason": "no_consent"}, 1},
		{"herold_suppressions_total", map[string]string{"reason": "other"}, 1},
		{"herold_suppression_list_additions_total", map[string]string{"reason": "bounced"}, 1},
		{"herold_provider_send_duration_seconds", map[string]string{"channel": "email", "provider": "smtp"}, 3},
		{"herold_provider_errors_total", map[string]string{"channel": "sms", "provider": "twilio", "class": "permanent"}, 1},
		{"herold_webhook_deliveries_total", map[string]string{"outcome": "retry", "status_class": "5xx"}, 1},
		{"herold_webhook_deliveries_total", map[string]string{"outcome": "delivered", "status_class": "2xx"}, 1},
		{"herold_webhook_deliveries_total", map[string]string{"outcome": "failed", "status_class": "none"}, 1},
		{"herold_webhook_delivery_duration_seconds", map[string]string{}, 2},
		{"herold_bounce_reports_total", map[string]string{"kind": "hard", "matched": "true"}, 1},
		{"herold_bounce_reports_total", map[string]string{"kind": "hard", "matched": "false"}, 1},
		{"herold_bounce_reports_total", map[string]string{"kind": "complaint", "matched": "true"}, 0},
		{"herold_campaign_recipients_total", map[string]string{"state": "delivered"}, 250},
	} {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	// The slow send landed in the right bucket.
	h := fams["herold_provider_send_duration_seconds"]
	for _, s := range h.GetMetric() {
		if s.GetLabel()[0].GetValue() == "sms" && s.GetLabel()[1].GetValue() == "twilio" {
			if s.GetHistogram().GetSampleSum() != 2 {
				t.Errorf("twilio sum = %g, want 2", s.GetHistogram().GetSampleSum())
			}
		}
	}
	if _, ok := fams["go_goroutines"]; !ok {
		t.Error("no Go runtime metrics")
	}
	checkConventions(t, fams)
}

var (
	nameConvention = regexp.MustCompile(`^herold_[a-z0-9_]+$`)
	idLike         = regexp.MustCompile(`@|^\+?\d{6,}$|^(msg|cmp|wh|whd|rpt|evt)_`)
)

// checkConventions: counters end in _total, durations in _seconds, and no
// label value looks like an id, an address or a number.
func checkConventions(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	for name, f := range fams {
		if !strings.HasPrefix(name, "herold_") {
			continue
		}
		if !nameConvention.MatchString(name) {
			t.Errorf("%s: not herold_[a-z0-9_]+", name)
		}
		if f.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			t.Errorf("counter %s does not end in _total", name)
		}
		if f.GetType() != dto.MetricType_COUNTER && strings.HasSuffix(name, "_total") {
			t.Errorf("%s ends in _total but is a %s", name, f.GetType())
		}
		if strings.Contains(name, "duration") && !strings.HasSuffix(name, "_seconds") {
			t.Errorf("%s: durations are in _seconds", name)
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if idLike.MatchString(l.GetValue()) || strings.HasSuffix(l.GetName(), "_id") {
					t.Errorf("%s: label %s=%q looks like an id or an address", name, l.GetName(), l.GetValue())
				}
			}
		}
	}
}

func TestBearerTokenAndSeparateListener(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Serve(ctx, ln, "metrics-token-0123456789", nil) }()
	url := "http://" + ln.Addr().String() + "/metrics"
	for _, auth := range []string{"", "Bearer wrong", "metrics-token-0123456789"} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: %s, want 401", auth, resp.Status)
		}
	}
	fams := scrape(t, url, "metrics-token-0123456789")
	if value(t, fams, "herold_campaign_recipients_total", map[string]string{"state": "failed"}) != 0 {
		t.Error("a fresh registry counts something")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve after shutdown: %v", err)
	}
}

func TestQueueCollectorReadsAsynq(t *testing.T) {
	t.Parallel()
	rdb, _ := redistest.Client(t)
	q, idle := redistest.Queue(t, "metrics"), redistest.Queue(t, "metrics-idle")
	t.Cleanup(func() {
		insp := asynq.NewInspectorFromRedisClient(rdb)
		_ = insp.DeleteQueue(q, true)
	})
	client := asynq.NewClientFromRedisClient(rdb)
	for range 2 {
		if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.Enqueue(asynq.NewTask("t", nil), asynq.Queue(q), asynq.ProcessIn(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{})
	if err := m.RegisterQueues(asynq.NewInspectorFromRedisClient(rdb), []string{q, idle}, nil); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler("", nil))
	defer srv.Close()
	fams := scrape(t, srv.URL, "")
	if got := value(t, fams, "herold_queue_tasks", map[string]string{"queue": q, "state": "pending"}); got != 2 {
		t.Errorf("pending = %g, want 2", got)
	}
	if got := value(t, fams, "herold_queue_tasks", map[string]string{"queue": q, "state": "scheduled"}); got != 1 {
		t.Errorf("scheduled = %g, want 1", got)
	}
	if got := value(t, fams, "herold_queue_latency_seconds", map[string]string{"queue": q}); got < 0 {
		t.Errorf("latency = %g", got)
	}
	if got := value(t, fams, "herold_queue_tasks", map[string]string{"queue": idle, "state": "pending"}); got != 0 {
		t.Errorf("a queue that never held a task: pending = %g, want 0", got)
	}
	checkConventions(t, fams)
}

func BenchmarkMessage(b *testing.B) {
	m := metrics.New(metrics.Options{Types: []message.Type{"invoice", "promo_offer", "newsletter"}})
	b.ReportAllocs()
	for b.Loop() {
		m.Message("invoice", message.Email, "delivered")
	}
}
