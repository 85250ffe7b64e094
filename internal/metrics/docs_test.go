package metrics_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/message"
	"github.com/heroldhq/herold/internal/metrics"
	"github.com/heroldhq/herold/internal/redistest"
)

// registered returns the names of every herold_ metric family New and
// RegisterQueues can expose.
func registered(t *testing.T) []string {
	t.Helper()
	rdb, _ := redistest.Client(t)
	m := metrics.New(metrics.Options{Types: []message.Type{"invoice"}, Providers: []string{"smtp"}})
	m.Suppressed("x")
	m.SuppressionAdded("x")
	m.Decision("consent", true)
	m.ProviderSend(message.Email, "smtp", time.Millisecond, "timeout")
	m.WebhookDelivery("delivered", 200, time.Millisecond)
	if err := m.RegisterQueues(asynq.NewInspectorFromRedisClient(rdb), []string{redistest.Queue(t, "docs")}, nil); err != nil {
		t.Fatal(err)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fams {
		if n := f.GetName(); regexp.MustCompile(`^herold_`).MatchString(n) {
			names = append(names, n)
		}
	}
	return names
}

var metricName = regexp.MustCompile(`herold_[a-z0-9_]+`)

// The metrics table and the dashboard name exactly the metrics that exist.
func TestDocsAndDashboardMatchTheRegistry(t *testing.T) {
	t.Parallel()
	names := registered(t)
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(herold_[a-z0-9_]+)`").FindAllSubmatch(doc, -1) {
		documented[string(m[1])] = true
	}
	for _, n := range names {
		if !documented[n] {
			t.Errorf("docs/metrics.md does not list %s", n)
		}
	}
	for n := range documented {
		if !slices.Contains(names, n) {
			t.Errorf("docs/metrics.md lists %s, which does not exist", n)
		}
	}
	raw, err := os.ReadFile("../../deploy/grafana/herold.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/herold.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(tg.Expr, -1) {
				base := regexp.MustCompile(`_(bucket|sum|count)$`).ReplaceAllString(n, "")
				if !slices.Contains(names, base) {
					t.Errorf("dashboard panel %q uses %s, which does not exist", p.Title, n)
				}
			}
		}
	}
}
