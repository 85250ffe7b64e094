package email_test

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heroldhq/herold/channels"
	"github.com/heroldhq/herold/channels/email"
)

// campaignMessage is a rendered promotion (testdata: the German promo_offer
// e-mail of the default templates) for recipient i: the greeting and the
// links differ from message to message, as in a campaign.
func campaignMessage(tb testing.TB) func(i int64) channels.Outbound {
	tb.Helper()
	text, err := os.ReadFile("testdata/promo_offer.txt")
	if err != nil {
		tb.Fatal(err)
	}
	html, err := os.ReadFile("testdata/promo_offer.html")
	if err != nil {
		tb.Fatal(err)
	}
	names := []string{"Becker", "Schmidt", "Müller", "Vogel", "Nowak", "Öztürk", "Weber", "Wagner"}
	return func(i int64) channels.Outbound {
		name := names[i%int64(len(names))]
		tok := fmt.Sprintf("tok%d-h8RyMshkVOC5NHpfI8VEJWCDVztu29DCclrH7AlF0XXwVy_Qg3o7QYnHErW45JISnU8cLy", i)
		personal := strings.NewReplacer("Becker", name, "h8RyMshkVOC5NHpfI8VEJWCDVztu29DCclrH7AlF0XXwVy_Qg3o7QYnHErW45JISnU8cLyFSTbhdziG01oAo_nDyRayn2RH65A", tok)
		return channels.Outbound{
			MessageID: fmt.Sprintf("cmp-1:C-%d", i), Type: "promo_offer", Class: "marketing",
			To:      fmt.Sprintf("kunde%d@example.org", i),
			Subject: "Exklusiv für Sie: Allnet Flat 40 GB für 24,99 € im Monat",
			Text:    personal.Replace(string(text)), HTML: personal.Replace(string(html)),
			UnsubscribeURL: "https://herold.example.com/unsubscribe/" + tok,
			ListID:         "advertising.herold.example.com",
		}
	}
}

// BenchmarkSend measures compose and send of a realistic campaign e-mail to
// the in-process go-smtp server (plain SMTP on loopback; the server's CPU is
// in the figures too), over a pool as the worker uses it, and against one
// connection per message. Compare the msgs/s of one run; absolute figures
// vary with the machine.
func BenchmarkSend(b *testing.B) {
	next := campaignMessage(b)
	for _, bc := range []struct {
		name         string
		pool         int
		idleTimeout  time.Duration
		parallel     int
		noPipelining bool
	}{
		{"conn-per-message", 1, time.Nanosecond, 1, false},
		{"pooled-1", 1, time.Minute, 1, false},
		{"pooled-1-no-pipelining", 1, time.Minute, 1, true},
		{"pooled-4-8goroutines", 4, time.Minute, 8, false},
		{"pooled-4-8goroutines-no-pipelining", 4, time.Minute, 8, true},
		{"pooled-8-8goroutines", 8, time.Minute, 8, false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ts := newTestServer(b, serverOpts{})
			s, err := email.New(email.Config{Host: ts.Host, Port: ts.Port, TLS: email.TLSOff, PoolSize: bc.pool,
				IdleTimeout: bc.idleTimeout, Timeout: 10 * time.Second, NoPipelining: bc.noPipelining,
				ComposeConfig: email.ComposeConfig{From: "angebote@herold.example", FromName: "Herold Mobil"}}, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var n atomic.Int64
			b.SetParallelism(bc.parallel)
			b.ReportAllocs()
			b.ResetTimer()
			if bc.parallel == 1 {
				for b.Loop() {
					if _, err := s.Send(b.Context(), next(n.Add(1))); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Send(b.Context(), next(n.Add(1))); err != nil {
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

// BenchmarkCompose measures building the MIME message alone.
func BenchmarkCompose(b *testing.B) {
	next := campaignMessage(b)
	msgs := make([]channels.Outbound, 64)
	for i := range msgs {
		msgs[i] = next(int64(i))
	}
	c, err := email.NewComposer(email.ComposeConfig{From: "angebote@herold.example", FromName: "Herold Mobil"})
	if err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		m, err := c.Compose(buf[:0], msgs[i%len(msgs)])
		if err != nil {
			b.Fatal(err)
		}
		buf = m.Data
		i++
	}
}
