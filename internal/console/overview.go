package console

import (
	"cmp"
	"context"
	"html/template"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heroldhq/herold/internal/webhooks"
)

// recentCampaigns is how many of the newest campaigns the overview adds up.
const recentCampaigns = 20

type queueRow struct {
	Name                                              string
	Size, Pending, Active, Scheduled, Retry, Archived int
	ProcessedToday, FailedToday                       int
	Latency                                           time.Duration
}

type overviewData struct {
	Queues []queueRow
	// Days: tasks processed and failed per day and queue (asynq's daily
	// counters), the last 7 days.
	Days template.HTML
	// Suppressed adds up the suppressions by reason of the newest campaigns.
	Suppressed     template.HTML
	SuppressedNone bool
	Campaigns      int
	// With Stats: deliveries per class and final status, suppressions per
	// reason, bounce and complaint rates; with Webhooks: failing endpoints.
	Deliveries24h, Deliveries7d, StatSuppressions, Bounces, FailingWebhooks template.HTML
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx, cancel := withTimeout(r.Context())
	defer cancel()
	var d overviewData
	var days []string
	var processed, failed []series
	var known []string
	if c.insp != nil {
		var err error
		// Asking asynq about a queue it never saw is an error, so ask
		// only about the ones it knows.
		if known, err = c.insp.Queues(); err != nil {
			c.internal(w, r, rq, err)
			return
		}
	}
	for _, q := range c.queues {
		row := queueRow{Name: q}
		if slices.Contains(known, q) {
			info, err := c.insp.GetQueueInfo(q)
			if err != nil {
				c.internal(w, r, rq, err)
				return
			}
			row = queueRow{Name: q, Size: info.Size, Pending: info.Pending, Active: info.Active, Scheduled: info.Scheduled,
				Retry: info.Retry, Archived: info.Archived, ProcessedToday: info.Processed, FailedToday: info.Failed, Latency: info.Latency}
			hist, err := c.insp.History(q, 7)
			if err != nil {
				c.internal(w, r, rq, err)
				return
			}
			p, f := series{Name: q}, series{Name: q}
			slices.SortFunc(hist, func(a, b *asynq.DailyStats) int { return a.Date.Compare(b.Date) })
			for _, h := range hist {
				if len(days) < len(hist) {
					days = append(days, rq.L.Day(h.Date))
				}
				p.Values = append(p.Values, float64(h.Processed-h.Failed))
				f.Values = append(f.Values, float64(h.Failed))
			}
			processed, failed = append(processed, p), append(failed, f)
		}
		d.Queues = append(d.Queues, row)
	}
	if len(days) > 0 {
		var ss []series
		for i := range processed {
			ss = append(ss, series{Name: processed[i].Name + " " + rq.L.T("overview.ok"), Values: processed[i].Values})
			ss = append(ss, series{Name: failed[i].Name + " " + rq.L.T("overview.failed"), Values: failed[i].Values})
		}
		d.Days = columnChart("chart-days", rq.L.T("overview.days"), days, ss)
	}
	if err := c.recentSuppressions(ctx, rq, &d); err != nil {
		c.internal(w, r, rq, err)
		return
	}
	if c.plugins.Stats != nil {
		if err := c.statCharts(ctx, rq, &d); err != nil {
			c.internal(w, r, rq, err)
			return
		}
	}
	if c.plugins.Webhooks != nil {
		if err := c.failingWebhooks(ctx, rq, &d, c.now().Add(-7*24*time.Hour)); err != nil {
			c.internal(w, r, rq, err)
			return
		}
	}
	c.render(w, r, rq, http.StatusOK, "overview", "overview.title", d)
}

// recentSuppressions adds up the suppression reasons of the newest campaigns.
func (c *Console) recentSuppressions(ctx context.Context, rq *request, d *overviewData) error {
	ids, err := c.st.CampaignIDs(ctx)
	if err != nil {
		return err
	}
	ids = ids[max(0, len(ids)-recentCampaigns):]
	sum := map[string]int64{}
	for _, id := range ids {
		st, err := c.camps.Status(ctx, id)
		if err != nil {
			continue // expired meanwhile
		}
		d.Campaigns++
		for reason, n := range st.Counters.Suppressed {
			sum[reason] += n
		}
	}
	var bars []bar
	for _, reason := range slices.Sorted(maps.Keys(sum)) {
		bars = append(bars, bar{Label: rq.L.Reason(reason), Value: float64(sum[reason])})
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.Value, a.Value) })
	d.SuppressedNone = len(bars) == 0
	if !d.SuppressedNone {
		d.Suppressed = barChart("chart-suppressed", rq.L.T("overview.suppressed"), bars)
	}
	return nil
}

// statCharts draws what Stats answers.
func (c *Console) statCharts(ctx context.Context, rq *request, d *overviewData) error {
	now := c.now()
	draw := func(id, label string, since time.Time, step time.Duration) (template.HTML, error) {
		ss, err := c.plugins.Stats.Deliveries(ctx, since, step)
		if err != nil || len(ss) == 0 {
			return "", err
		}
		var xs []string
		for i := range ss[0].Values {
			at := ss[0].Start.Add(time.Duration(i) * ss[0].Step)
			if step >= 24*time.Hour {
				xs = append(xs, rq.L.Day(at.In(rq.L.Zone)))
			} else {
				xs = append(xs, at.In(rq.L.Zone).Format("15:04"))
			}
		}
		out := make([]series, len(ss))
		for i, s := range ss {
			out[i] = series{Name: rq.L.Class(s.Class) + " " + rq.L.Status(s.Status), Values: s.Values}
		}
		return columnChart(id, label, xs, out), nil
	}
	var err error
	if d.Deliveries24h, err = draw("chart-24h", rq.L.T("overview.deliveries24h"), now.Add(-24*time.Hour), 3*time.Hour); err != nil {
		return err
	}
	// Seven whole days in the console's zone, today the last.
	y, m, day := now.In(rq.L.Zone).Date()
	weekAgo := time.Date(y, m, day-6, 0, 0, 0, 0, rq.L.Zone)
	if d.Deliveries7d, err = draw("chart-7d", rq.L.T("overview.deliveries7d"), weekAgo, 24*time.Hour); err != nil {
		return err
	}
	week := now.Add(-7 * 24 * time.Hour)
	sup, err := c.plugins.Stats.Suppressions(ctx, week)
	if err != nil {
		return err
	}
	if len(sup) > 0 {
		bars := make([]bar, len(sup))
		for i, x := range sup {
			bars[i] = bar{Label: rq.L.Reason(x.Key), Value: x.Value}
		}
		d.StatSuppressions = barChart("chart-stat-suppressed", rq.L.T("overview.suppressed7d"), bars)
	}
	rates, err := c.plugins.Stats.BounceRates(ctx, week)
	if err != nil {
		return err
	}
	if len(rates) > 0 {
		bars := make([]bar, len(rates))
		for i, x := range rates {
			// Percent with two decimals: 0.3 % of e-mails bouncing hard
			// is already a problem with Gmail and Yahoo.
			bars[i] = bar{Label: rq.L.T("bounce."+x.Key) + " (%)", Value: math.Round(x.Value*10000) / 100}
		}
		d.Bounces = barChart("chart-bounces", rq.L.T("overview.bounces"), bars)
	}
	return nil
}

// failingWebhooks counts, per endpoint, the failed and retrying deliveries
// since since among its newest ones (the log is bounded, so this reads at
// most webhookScan deliveries per endpoint).
func (c *Console) failingWebhooks(ctx context.Context, rq *request, d *overviewData, since time.Time) error {
	eps, err := c.plugins.Webhooks.List(ctx)
	if err != nil {
		return err
	}
	var bars []bar
	for _, ep := range eps {
		ds, err := c.plugins.Webhooks.Deliveries(ctx, ep.ID, webhookScan)
		if err != nil {
			return err
		}
		n := 0
		for _, dl := range ds {
			if dl.CreatedAt.After(since) && (dl.State == webhooks.StateFailed || dl.State == webhooks.StateRetrying) {
				n++
			}
		}
		if n > 0 {
			bars = append(bars, bar{Label: endpointLabel(ep), Value: float64(n)})
		}
	}
	slices.SortStableFunc(bars, func(a, b bar) int { return cmp.Compare(b.Value, a.Value) })
	if len(bars) > 0 {
		d.FailingWebhooks = barChart("chart-webhooks", rq.L.T("overview.webhooks"), bars)
	}
	return nil
}

// webhookScan is how many of an endpoint's newest deliveries the overview reads.
const webhookScan = 50

// endpointLabel names an endpoint by its host: the overview is for every
// role, and a path or query may carry a receiver's token.
func endpointLabel(ep webhooks.Endpoint) string {
	if u, err := url.Parse(ep.URL); err == nil && u.Host != "" {
		return u.Host + " (" + ep.ID + ")"
	}
	return ep.ID
}
