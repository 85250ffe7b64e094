package email_test

import (
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
)

// BenchmarkSend measures e-mail throughput to the in-process go-smtp server
// (plain SMTP on loopback, as PERF.md's figures): a pooled sender against
// one that opens a connection per message. Compare the msgs/s of one run;
// absolute figures vary with the machine.
func BenchmarkSend(b *testing.B) {
	body := strings.Repeat("Guten Tag, anbei Ihre Rechnung für März. Grüße aus Köln.\n", 40)
	m := channels.Outbound{Type: "invoice", Class: "transactional", To: "anna@example.org",
		Subject: "Ihre Rechnung für März", Text: body, HTML: "<p>" + body + "</p>",
		UnsubscribeURL: "https://herold.example/unsubscribe/tok", ListID: "news.herold.example"}
	for _, bc := range []struct {
		name        string
		pool        int
		idleTimeout time.Duration
		parallel    int
	}{
		{"conn-per-message", 1, time.Nanosecond, 1},
		{"pooled-1", 1, time.Minute, 1},
		{"conn-per-message-8goroutines", 8, time.Nanosecond, 8},
		{"pooled-4-8goroutines", 4, time.Minute, 8},
		{"pooled-8-8goroutines", 8, time.Minute, 8},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := newTestServer(b, serverOpts{})
			s, err := email.New(email.Config{Host: ts.Host, Port: ts.Port, TLS: email.TLSOff, PoolSize: bc.pool,
				IdleTimeout: bc.idleTimeout, Timeout: 10 * time.Second,
				ComposeConfig: email.ComposeConfig{From: "rechnung@herold.example", FromName: "Herold"}}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(bc.parallel)
			b.ResetTimer()
			if bc.parallel == 1 {
				for i := 0; b.Loop(); i++ {
					m := m
					m.MessageID = fmt.Sprint("b-", i)
					if _, err := s.Send(b.Context(), m); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						m := m
						m.MessageID = fmt.Sprint("b-", n.Add(1))
						if _, err := s.Send(b.Context(), m); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			b.ReportMetric(float64(s.Dials()), "dials")
		})
	}
}
