package metrics

import (
	"log/slog"
	"slices"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
)

// The asynq module's own collector (github.com/hibiken/asynq/x/metrics) is
// served, but it dates from 2021, logs through the standard logger and names
// gauges *_total; this one reads the same asynq.Inspector under Herold's
// names, for the queues Herold uses only.

var (
	queueTasksDesc = prometheus.NewDesc("herold_queue_tasks",
		"Tasks in an asynq queue, by state (pending, active, scheduled, retry, archived, completed, aggregating).",
		[]string{"queue", "state"}, nil)
	queueLatencyDesc = prometheus.NewDesc("herold_queue_latency_seconds",
		"Age of the oldest pending task of an asynq queue.", []string{"queue"}, nil)
	queueProcessedDesc = prometheus.NewDesc("herold_queue_processed_total",
		"Tasks an asynq queue has processed (succeeded or failed), since the queue was created.", []string{"queue"}, nil)
	queueFailedDesc = prometheus.NewDesc("herold_queue_failed_total",
		"Tasks of an asynq queue whose processing failed, since the queue was created.", []string{"queue"}, nil)
	queuePausedDesc = prometheus.NewDesc("herold_queue_paused",
		"1 when an asynq queue is paused.", []string{"queue"}, nil)
	queueMemoryDesc = prometheus.NewDesc("herold_queue_memory_bytes",
		"Approximate Redis memory of an asynq queue and its tasks (sampled by asynq).", []string{"queue"}, nil)
)

// queueCollector reads asynq's queue statistics at every scrape.
type queueCollector struct {
	insp   *asynq.Inspector
	queues []string
	log    *slog.Logger
}

// RegisterQueues adds a collector of the named asynq queues (the class
// queues, the campaign and webhook queues, with their suffix). A queue that
// has never held a task is reported as empty. One scrape costs one asynq
// statistics script per queue.
func (m *Metrics) RegisterQueues(insp *asynq.Inspector, queues []string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return m.reg.Register(&queueCollector{insp: insp, queues: slices.Clone(queues), log: log})
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{queueTasksDesc, queueLatencyDesc, queueProcessedDesc, queueFailedDesc, queuePausedDesc, queueMemoryDesc} {
		ch <- d
	}
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	known, err := c.insp.Queues()
	if err != nil {
		c.log.Warn("metrics: list asynq queues", "err", err)
		ch <- prometheus.NewInvalidMetric(queueTasksDesc, err)
		return
	}
	for _, q := range c.queues {
		var info *asynq.QueueInfo
		if !slices.Contains(known, q) {
			info = &asynq.QueueInfo{Queue: q} // never held a task: asynq does not know it yet
		} else if info, err = c.insp.GetQueueInfo(q); err != nil {
			c.log.Warn("metrics: read asynq queue", "queue", q, "err", err)
			ch <- prometheus.NewInvalidMetric(queueTasksDesc, err)
			continue
		}
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
		}
		for state, n := range map[string]int{
			"pending": info.Pending, "active": info.Active, "scheduled": info.Scheduled, "retry": info.Retry,
			"archived": info.Archived, "completed": info.Completed, "aggregating": info.Aggregating,
		} {
			gauge(queueTasksDesc, float64(n), q, state)
		}
		gauge(queueLatencyDesc, info.Latency.Seconds(), q)
		gauge(queueMemoryDesc, float64(info.MemoryUsage), q)
		paused := 0.0
		if info.Paused {
			paused = 1
		}
		gauge(queuePausedDesc, paused, q)
		ch <- prometheus.MustNewConstMetric(queueProcessedDesc, prometheus.CounterValue, float64(info.ProcessedTotal), q)
		ch <- prometheus.MustNewConstMetric(queueFailedDesc, prometheus.CounterValue, float64(info.FailedTotal), q)
	}
}
