package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/heroldhq/herold/internal/store"
)

// campaignView is the part of GET /v1/campaigns/{id} the status command shows.
type campaignStatusView struct {
	ID       string                 `json:"id"`
	Name     string                 `json:"name"`
	Type     string                 `json:"type"`
	State    store.CampaignState    `json:"state"`
	Counters store.CampaignCounters `json:"counters"`
	Progress float64                `json:"progress"`
}

func campaignCommand(ctx context.Context, inv *invocation, args []string) error {
	if len(args) == 0 || args[0] != "status" {
		return usageErrorf("usage: herold campaign status ID [--url URL] [--key KEY] [--interval 1s] [--once]")
	}
	fs := flag.NewFlagSet("herold campaign status", flag.ContinueOnError)
	base := fs.String("url", cmp.Or(inv.getenv("HEROLD_URL"), inv.getenv("HEROLD_PUBLIC_URL"), "http://127.0.0.1:8080"),
		"Herold's base URL (env HEROLD_URL)")
	key := fs.String("key", inv.getenv("HEROLD_API_KEY"), "API key with the campaigns scope (env HEROLD_API_KEY)")
	interval := fs.Duration("interval", time.Second, "how often to refresh")
	once := fs.Bool("once", false, "print the status once and exit")
	about := "Show a campaign's state and counters, with a live progress bar until it is done or canceled."
	// The id may come before or after the flags.
	rest := args[1:]
	var id string
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		id, rest = rest[0], rest[1:]
	}
	if err := parseFlags(fs, inv, rest, about, " ID"); err != nil {
		return err
	}
	if id == "" && fs.NArg() > 0 {
		id = fs.Arg(0)
	}
	if id == "" {
		return usageErrorf("herold campaign status: missing campaign ID")
	}
	if *key == "" {
		return usageErrorf("herold campaign status: no API key: set HEROLD_API_KEY or pass --key")
	}
	if *interval < 100*time.Millisecond {
		*interval = 100 * time.Millisecond
	}
	tty := isTerminal(inv.stdout)
	client := &http.Client{Timeout: 10 * time.Second}
	var prev campaignStatusView
	var prevAt time.Time
	for {
		v, err := fetchCampaign(ctx, client, strings.TrimRight(*base, "/"), *key, id)
		if err != nil {
			if tty {
				fmt.Fprintln(inv.stdout)
			}
			return err
		}
		now := time.Now()
		rate := 0.0
		if !prevAt.IsZero() {
			done := finished(v.Counters) - finished(prev.Counters)
			rate = float64(done) / now.Sub(prevAt).Seconds()
		}
		line := statusLine(v, rate, 30)
		if tty {
			fmt.Fprintf(inv.stdout, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(inv.stdout, line)
		}
		if *once || v.State.Final() {
			if tty {
				fmt.Fprintln(inv.stdout)
			}
			fmt.Fprint(inv.stdout, statusDetail(v))
			return nil
		}
		prev, prevAt = v, now
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(inv.stdout)
			}
			return nil
		case <-time.After(*interval):
		}
	}
}

func finished(c store.CampaignCounters) int64 {
	return c.Audience - c.Queued - c.Canceled
}

func fetchCampaign(ctx context.Context, c *http.Client, base, key, id string) (campaignStatusView, error) {
	var v campaignStatusView
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/campaigns/"+id, nil)
	if err != nil {
		return v, err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := c.Do(req)
	if err != nil {
		return v, fmt.Errorf("GET campaign %s: %w", id, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return v, fmt.Errorf("GET campaign %s: %w", id, err)
	}
	if resp.StatusCode != http.StatusOK {
		var p struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(body, &p)
		return v, fmt.Errorf("GET campaign %s: %s: %s", id, resp.Status, cmp.Or(p.Message, strings.TrimSpace(string(body))))
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, fmt.Errorf("GET campaign %s: %w", id, err)
	}
	return v, nil
}

// statusLine is one line: state, bar, share, counts and rate.
func statusLine(v campaignStatusView, rate float64, width int) string {
	c := v.Counters
	filled := min(width, max(0, int(v.Progress*float64(width)+0.5)))
	bar := strings.Repeat("█", filled) + strings.Repeat("░", width-filled)
	s := fmt.Sprintf("%s %-9s %s %5.1f%% %d/%d  delivered %d  suppressed %d  failed %d",
		v.ID, v.State, bar, v.Progress*100, finished(c), c.Audience, c.Delivered, total(c.Suppressed), total(c.Failed))
	if c.Waiting > 0 {
		s += fmt.Sprintf("  waiting %d", c.Waiting)
	}
	if rate > 0 {
		s += fmt.Sprintf("  %.0f/s", rate)
	}
	return s
}

// statusDetail lists the counters by reason and class.
func statusDetail(v campaignStatusView) string {
	c := v.Counters
	var b strings.Builder
	fmt.Fprintf(&b, "campaign %s (%s, %s): %s\n", v.ID, v.Name, v.Type, v.State)
	fmt.Fprintf(&b, "  audience    %d\n  queued      %d (waiting %d)\n  delivered   %d\n", c.Audience, c.Queued, c.Waiting, c.Delivered)
	fmt.Fprintf(&b, "  suppressed  %d\n", total(c.Suppressed))
	for _, k := range slices.Sorted(maps.Keys(c.Suppressed)) {
		fmt.Fprintf(&b, "    %-20s %d\n", k, c.Suppressed[k])
	}
	fmt.Fprintf(&b, "  failed      %d\n", total(c.Failed))
	for _, k := range slices.Sorted(maps.Keys(c.Failed)) {
		fmt.Fprintf(&b, "    %-20s %d\n", k, c.Failed[k])
	}
	if c.Duplicates > 0 {
		fmt.Fprintf(&b, "  duplicates  %d\n", c.Duplicates)
	}
	if c.Canceled > 0 {
		fmt.Fprintf(&b, "  canceled    %d\n", c.Canceled)
	}
	return b.String()
}

func total(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// isTerminal reports whether w is a character device (a terminal), where the
// progress bar redraws one line instead of printing a line per refresh.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
