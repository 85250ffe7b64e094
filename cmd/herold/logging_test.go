package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/config"
)

// duplicateKey returns the first key that appears twice in one JSON object of
// line (at any depth), or "" when every object's keys are unique. It reads
// tokens, since decoding into a map would silently keep the last value.
func duplicateKey(line []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	var walk func() (string, error)
	walk = func() (string, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				k, err := dec.Token()
				if err != nil {
					return "", err
				}
				key := k.(string)
				if seen[key] {
					return key, nil
				}
				seen[key] = true
				if dup, err := walk(); dup != "" || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token() // '}'
			return "", err
		case json.Delim('['):
			for dec.More() {
				if dup, err := walk(); dup != "" || err != nil {
					return dup, err
				}
			}
			_, err = dec.Token() // ']'
			return "", err
		}
		return "", nil
	}
	return walk()
}

func TestDuplicateKeyFinds(t *testing.T) {
	t.Parallel()
	for line, want := range map[string]string{
		`{"a":1,"b":2}`:                     "",
		`{"a":1,"a":2}`:                     "a",
		`{"g":{"a":1},"a":2}`:               "",
		`{"g":{"a":1,"a":[1,{"b":2}]}}`:     "a",
		`{"l":[{"x":1},{"x":2,"x":3}]}`:     "x",
		`{"component":"c","component":"d"}`: "component",
	} {
		if got, err := duplicateKey([]byte(line)); got != want || err != nil {
			t.Errorf("duplicateKey(%s) = %q, %v; want %q", line, got, err, want)
		}
	}
}

// logLines parses every JSON log line of out; each must hold unique keys.
func logLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if dup, err := duplicateKey(b); err != nil {
			t.Errorf("not a JSON log line: %v\n%s", err, b)
			continue
		} else if dup != "" {
			t.Errorf("log line has %q twice:\n%s", dup, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, m)
	}
	return lines
}

func TestLoggerWritesEachKeyOnce(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log := newLogger(&buf, config.Core{LogLevel: "info", LogFormat: format})
			parent := log.With("component", "channels")
			child := parent.With("component", "outbox", "channel", "sms")
			child.Info("written", "channel", "sms", "n", 1, "n", 2)
			parent.Info("parent untouched")
			log.With("a", 1).WithGroup("g").With("a", 2).Info("grouped", "a", 3)
			log.With("x", 1).WithGroup("").Info("empty group", "y", 2)

			got := buf.String()
			var want []string
			if format == "json" {
				for _, l := range logLines(t, got) {
					delete(l, "time")
					b, _ := json.Marshal(l)
					want = append(want, string(b))
				}
				got = strings.Join(want, "\n")
				want = []string{
					`{"channel":"sms","component":"outbox","level":"INFO","msg":"written","n":2}`,
					`{"component":"channels","level":"INFO","msg":"parent untouched"}`,
					`{"a":1,"g":{"a":3},"level":"INFO","msg":"grouped"}`,
					`{"level":"INFO","msg":"empty group","x":1,"y":2}`,
				}
			} else {
				want = []string{
					`level=INFO msg=written component=outbox channel=sms n=2`,
					`level=INFO msg="parent untouched" component=channels`,
					`level=INFO msg=grouped a=1 g.a=3`,
					`level=INFO msg="empty group" x=1 y=2`,
				}
			}
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("output lacks %s:\n%s", w, got)
				}
			}
		})
	}
}

// closingSMTP accepts connections and closes them at once, so every SMTP
// connect fails the same way, deterministically.
func closingSMTP(t *testing.T) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// The lines that used to carry "component" twice (outbox, SMTP and campaign
// loggers made from a logger that named its caller's component) are
// produced by `herold dev` and must each hold every key once.
func TestDevLogLinesHaveUniqueKeys(t *testing.T) {
	t.Parallel()
	host, port := closingSMTP(t)
	tb := runCommand(t, map[string]string{
		"HEROLD_HTTP_ADDR":  "127.0.0.1:0",
		"HEROLD_OUTBOX_DIR": t.TempDir(),
		"HEROLD_LOG_LEVEL":  "debug",
		"HEROLD_SMTP_HOST":  host,
		"HEROLD_SMTP_PORT":  strconv.Itoa(port),
		"HEROLD_SMTP_TLS":   "off",
		"HEROLD_MAX_RETRY":  "0",
	}, "dev")
	m := apiKeyLine.FindStringSubmatch(tb.stdout.String())
	if m == nil {
		t.Fatalf("no API key line:\n%s", tb.stdout)
	}
	key := m[1]
	if code, v := tb.send(t, "PUT", "/v1/recipients/c-1", key, `{"kind":"customer","emails":[{"address":"anna@example.com"}],
		"mobile":{"number":"+4915112345678"},"locale":"de","contract":{"started_at":"2024-01-01T00:00:00Z"}}`); code/100 != 2 {
		t.Fatalf("PUT recipient = %d %v", code, v)
	}
	invoice := `"data":{"invoice":{"number":"RE-1","period":"November 2026","amount":1,"currency":"EUR","due_date":"2026-12-03","url":"https://service.example.com/r/1"}}`
	for _, ch := range []string{"email", "sms"} { // email: SMTP fails; sms: the outbox
		if code, v := tb.send(t, "POST", "/v1/messages", key, `{"type":"invoice","recipient_id":"c-1","channels":["`+ch+`"],`+invoice+`}`); code != 202 {
			t.Fatalf("POST %s message = %d %v", ch, code, v)
		}
	}
	if code, v := tb.send(t, "POST", "/v1/campaigns", key, `{"name":"Winter","type":"promo_offer","channels":["email"],"data":{"offer":{"title":"Allnet Flat 40 GB","price":24.99,"valid_until":"2026-12-31","url":"https://www.example.com/angebot/allnet-40"}},"audience":["c-1"]}`); code != 201 {
		t.Fatalf("POST campaign = %d %v", code, v)
	}

	// Wait for one line of each formerly duplicating logger (the test's
	// deadline bounds this), then stop, so every line is complete.
	want := map[string]string{ // msg → component: each part is named once, by the composition root
		"smtp connect failed":       "channels",
		"message written to outbox": "channels",
		"campaign started":          "campaigns",
	}
	for !seenAll(tb.stderr.String(), want) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := tb.stop(); err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, l := range logLines(t, tb.stderr.String()) {
		msg, _ := l["msg"].(string)
		if c, ok := want[msg]; ok {
			found[msg] = true
			if l["component"] != c {
				t.Errorf("%q has component %v, want %s", msg, l["component"], c)
			}
		}
	}
	if len(found) != len(want) {
		t.Errorf("found %v of %v", found, want)
	}
}

func seenAll(out string, msgs map[string]string) bool {
	for msg := range msgs {
		if !strings.Contains(out, fmt.Sprintf("%q", msg)) {
			return false
		}
	}
	return true
}

// BenchmarkLogLine prints what writing each key once costs per log line,
// against slog's JSON handler alone, for a line like dispatch's.
func BenchmarkLogLine(b *testing.B) {
	for _, c := range []struct {
		name string
		h    slog.Handler
	}{
		{"json", slog.NewJSONHandler(io.Discard, nil)},
		{"json+unique", newUniqueKeys(slog.NewJSONHandler(io.Discard, nil))},
	} {
		b.Run(c.name, func(b *testing.B) {
			log := slog.New(c.h).With("component", "dispatch").With("message_id", "msg_1", "recipient_id", "c-1", "type", "invoice")
			b.ReportAllocs()
			for b.Loop() {
				log.Info("message delivered", "channel", "email", "basis", "contract", "provider", "smtp")
			}
		})
	}
}
