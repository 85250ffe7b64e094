package main

import (
	"context"
	"net/smtp"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/redistest"
)

// TestMain lets this test binary stand in for the herold binary when the
// bench re-executes itself as `herold sink` (os.Executable is the test
// binary here).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "sink" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The sink is a process of its own that counts what it is sent over SMTP
// and reports its own CPU time.
func TestSinkProcess(t *testing.T) {
	t.Parallel()
	p, err := startSink(t.Context(), os.Stderr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if p.cmd.Process.Pid == os.Getpid() {
		t.Fatal("the sink runs in this process")
	}
	before, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	addr := p.Host + ":" + strconv.Itoa(p.Port)
	for i := range 3 {
		msg := "Subject: test " + strconv.Itoa(i) + "\r\n\r\nHallo.\r\n"
		if err := smtp.SendMail(addr, nil, "news@example.com", []string{"kunde@example.com"}, []byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	after, err := p.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if got := after.Messages - before.Messages; got != 3 {
		t.Errorf("the sink counted %d messages, want 3", got)
	}
	if after.CPU.total() <= 0 {
		t.Errorf("the sink reports CPU time %v", after.CPU.total())
	}
	if err := p.Close(); err != nil {
		t.Errorf("sink did not end cleanly when its input closed: %v", err)
	}
}

// A small `herold bench` prints every figure in order, with numbers.
func TestBenchPrintsEveryFigure(t *testing.T) {
	t.Parallel()
	_, prefix := redistest.Client(t)
	env := map[string]string{"HEROLD_REDIS_URL": redistest.URL(), "HEROLD_REDIS_PREFIX": prefix}
	var out, errOut syncBuffer
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	err := run(ctx, &out, &errOut, []string{"bench", "-n", "300", "--bare", "200", "--noop", "200",
		"--invoice-window", "1s", "--invoice-rate", "50", "--batch", "1500"}, getenvFrom(env))
	if err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errOut)
	}
	report := out.String()
	want := []string{
		`\(1\) bare send .*: \d+ msgs/s before the campaign, \d+ after, mean \d+; Herold \d+\.\d+ ms CPU/msg, sink \d+\.\d+`,
		`\(2\) campaign of 300 recipients end to end: \d+ msgs/s \(240 delivered in `,
		`\(3\) campaign ÷ bare send: \d+\.\d+`,
		`\(4\) CPU per message during the campaign: Herold \d+\.\d+ ms .*sink \d+\.\d+ ms, Redis server \d+\.\d+ ms`,
		`\(5\) where Herold's CPU goes .*render \d+\.\d%.*MIME .*SMTP .*Redis .*GC .*other \d+\.\d%`,
		`\(6\) batch road: 1500 invoices in batches of 1000 through POST /v1/messages/batch: \d+ msgs/s end to end \(accepted in \S+\), \d+\.\d+ of the campaign's rate .*; CPU per message: Herold \d+\.\d+ ms, sink \d+\.\d+ ms, Redis server \d+\.\d+ ms; 0 records not readable as delivered`,
		`\(7\) invoice enqueue → sent at 50/s: while the campaign drains p50 \S+ p99 \S+ \(n=\d+, lost 0\); idle p50 \S+ p99 \S+ \(n=\d+, lost 0\)`,
		`\(8\) Redis per queued recipient: \d+\.\d B .*kept per delivered recipient: \d+ B`,
		`\(9\) peak RSS of the Herold process \(VmHWM\) through the campaign: \d+ MiB .*; \d+ MiB at the end`,
		`footnote: raw asynq, 200 no-op tasks at concurrency 10: \d+ tasks/s`,
	}
	at := 0
	for _, w := range want {
		loc := regexp.MustCompile(w).FindStringIndex(report[at:])
		if loc == nil {
			t.Fatalf("the report lacks, after what came before, %s:\n%s", w, report)
		}
		at += loc[1]
	}
	for _, bad := range []string{"NaN", "Inf", "replaced for the bench: ;"} {
		if strings.Contains(report, bad) {
			t.Errorf("the report holds %q:\n%s", bad, report)
		}
	}
	if !strings.Contains(report, "HEROLD_SMTP_HOST") || strings.Contains(report, "HEROLD_SMTP_POOL_SIZE,") {
		t.Errorf("the report does not say which settings the bench replaces (and it must not replace the pool size):\n%s", report)
	}
}
