// Command servecompare measures `herold serve` of two or more builds side by
// side, the way a user meets them: each build runs as `herold serve` with its
// defaults, against the same Redis and the same SMTP sink program (`herold
// sink` of the -sink build, a process of its own), and sends an e-mail
// campaign of -n customers (legitimate interest, so every one is delivered).
// It prints, per build and round, the messages the sink got from the first
// delivery to the campaign's end, the rate, and the serve process's CPU per
// message (Linux /proc). Rounds alternate the builds, so a machine's drift
// shows in every build alike; compare builds within one run.
//
// Only the API both builds have is used (PUT /v1/recipients, POST
// /v1/campaigns with an NDJSON audience upload, GET /v1/campaigns/{id}), so
// a build from before the batch road or the imports still runs. Everything
// lives under a key prefix and queue suffix of its own, deleted afterwards.
//
//	go build -o /tmp/herold-old ./cmd/herold     # at the older commit
//	go build -o /tmp/herold-new ./cmd/herold
//	go run ./scripts/servecompare -n 50000 -rounds 3 /tmp/herold-old /tmp/herold-new
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// perfDir, when set, is where each run's perf recording goes.
var perfDir string

func main() {
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: go run ./scripts/servecompare [flags] HEROLD_BINARY...\n\n")
		flag.PrintDefaults()
	}
	n := flag.Int("n", 20000, "campaign audience, customers (1000-1000000)")
	rounds := flag.Int("rounds", 2, "rounds; each runs every build once, in the order given (1-20)")
	sink := flag.String("sink", "", "binary whose `herold sink` is the SMTP sink (default: the last build given)")
	flag.StringVar(&perfDir, "perf", "", "also record the serve process during the campaign with Linux perf into this folder")
	redisURL := flag.String("redis", cmpOr(os.Getenv("HEROLD_REDIS_URL"), "redis://127.0.0.1:6379/0"), "Redis of every build (default HEROLD_REDIS_URL)")
	flag.Parse()
	bins := flag.Args()
	fail := func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "servecompare: "+f+"\n", a...)
		os.Exit(2)
	}
	switch {
	case len(bins) == 0:
		fail("name at least one herold binary (go build -o FILE ./cmd/herold)")
	case *n < 1000 || *n > 1000000:
		fail("-n %d: between 1000 and 1000000", *n)
	case *rounds < 1 || *rounds > 20:
		fail("-rounds %d: between 1 and 20", *rounds)
	}
	for _, b := range bins {
		if st, err := os.Stat(b); err != nil || st.IsDir() {
			fail("%s: not a binary (%v)", b, err)
		}
	}
	if *sink == "" {
		*sink = bins[len(bins)-1]
	}
	opt, err := redis.ParseURL(*redisURL)
	if err != nil {
		fail("-redis %q: %v", *redisURL, err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		fail("Redis at %s does not answer: %v", *redisURL, err)
	}
	fmt.Printf("servecompare: %d CPUs, campaign of %d customers by e-mail, %d round(s)\n", runtime.NumCPU(), *n, *rounds)
	for r := 0; r < *rounds; r++ {
		for _, b := range bins {
			res, err := run(rdb, b, *sink, *redisURL, *n, r)
			if err != nil {
				fmt.Fprintf(os.Stderr, "servecompare: %s: %v\n", b, err)
				os.Exit(1)
			}
			fmt.Printf("round %d %-24s %s\n", r+1, b, res)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// purge deletes the keys of one run: Herold's under prefix, asynq's of the
// queues with suffix (asynq names them asynq:{queue}:…).
func purge(rdb *redis.Client, prefix, suffix string) {
	ctx := context.Background()
	for _, pattern := range []string{prefix + "*", "asynq:{*" + suffix + "}*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			if batch = append(batch, iter.Val()); len(batch) == 500 {
				rdb.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			rdb.Unlink(ctx, batch...)
		}
	}
	// The queue set lists the run's queues; drop their names too.
	if qs, err := rdb.SMembers(ctx, "asynq:queues").Result(); err == nil {
		for _, q := range qs {
			if strings.HasSuffix(q, suffix) {
				rdb.SRem(ctx, "asynq:queues", q)
			}
		}
	}
}

func freePort() string {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	return l.Addr().String()
}

func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+sy) * 10 * time.Millisecond
}

// startPerf records the serve process's stacks with Linux perf until it is
// interrupted, into DIR/round<N>-<binary>.perf.data (perf report -i FILE).
func startPerf(dir, bin string, round, pid int) *exec.Cmd {
	out := filepath.Join(dir, fmt.Sprintf("round%d-%s.perf.data", round+1, filepath.Base(bin)))
	cmd := exec.Command("perf", "record", "-q", "-F", "999", "-g", "-p", strconv.Itoa(pid), "-o", out)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "servecompare: perf: %v\n", err)
		return nil
	}
	return cmd
}

func run(rdb *redis.Client, bin, sinkBin, redisURL string, n, round int) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	// The sink.
	sk := exec.CommandContext(ctx, sinkBin, "sink")
	skIn, _ := sk.StdinPipe()
	skOut, _ := sk.StdoutPipe()
	sk.Stderr = os.Stderr
	if err := sk.Start(); err != nil {
		return "", err
	}
	defer func() { skIn.Close(); sk.Wait() }()
	sc := bufio.NewScanner(skOut)
	sc.Scan()
	addr, ok := strings.CutPrefix(sc.Text(), "listening ")
	if !ok {
		return "", fmt.Errorf("sink said %q", sc.Text())
	}
	host, port, _ := net.SplitHostPort(addr)
	httpAddr := freePort()
	run := fmt.Sprintf("sc%d%d", time.Now().UnixNano()%1e6, round)
	prefix, suffix := run+":", "_"+run
	defer purge(rdb, prefix, suffix)
	// Secrets of this run only, made here and never kept.
	key := randomHex(24)
	srv := exec.CommandContext(ctx, bin, "serve")
	srv.Env = append(os.Environ(),
		"HEROLD_REDIS_URL="+redisURL, "HEROLD_REDIS_PREFIX="+prefix, "HEROLD_QUEUE_SUFFIX="+suffix,
		"HEROLD_HTTP_ADDR="+httpAddr, "HEROLD_PUBLIC_URL=http://"+httpAddr,
		"HEROLD_SMTP_HOST="+host, "HEROLD_SMTP_PORT="+port, "HEROLD_SMTP_TLS=off", "HEROLD_SMTP_FROM=news@example.com",
		"HEROLD_API_KEYS=servecompare:"+key+":*",
		"HEROLD_TOKEN_SECRET="+randomHex(32), "HEROLD_HASH_SALT="+randomHex(16),
		"HEROLD_LOG_LEVEL=warn")
	var logs bytes.Buffer
	srv.Stderr, srv.Stdout = &logs, &logs
	if err := srv.Start(); err != nil {
		return "", err
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	base := "http://" + httpAddr
	for i := 0; ; i++ {
		if r, err := http.Get(base + "/healthz"); err == nil {
			r.Body.Close()
			break
		}
		if i > 100 {
			return "", fmt.Errorf("serve did not come up:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	call := func(method, path string, body any) ([]byte, error) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(b))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		out, _ := io.ReadAll(r.Body)
		if r.StatusCode >= 300 {
			return out, fmt.Errorf("%s %s: %d %s", method, path, r.StatusCode, out)
		}
		return out, nil
	}
	// Seed: PUT per recipient, 8 at once (both builds have it).
	ids := make([]string, n)
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	next := make(chan int)
	for w := 0; w < 8; w++ {
		wg.Go(func() {
			for i := range next {
				p := map[string]any{"kind": "customer", "first_name": "Erika", "last_name": "Muster" + strconv.Itoa(i),
					"emails": []any{map[string]any{"address": fmt.Sprintf("kunde%d@example.com", i), "collected_in_sale": true}},
					"locale": "de", "time_zone": "Europe/Berlin",
					"contract": map[string]any{"started_at": "2025-01-01"}}
				if _, err := call("PUT", "/v1/recipients/s"+strconv.Itoa(i), p); err != nil {
					select {
					case errc <- err:
					default:
					}
				}
			}
		})
	}
	for i := range ids {
		ids[i] = "s" + strconv.Itoa(i)
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errc:
		return "", err
	default:
	}
	time.Sleep(time.Second)
	fmt.Fprintln(skIn, "stats")
	sc.Scan()
	sk0 := strings.Fields(sc.Text())
	cpu0 := cpuOf(srv.Process.Pid)
	var id string
	// Audience inline up to 10,000, the rest uploaded as NDJSON (both builds).
	first := ids[:min(len(ids), 10000)]
	out, err := call("POST", "/v1/campaigns", map[string]any{"name": "servecompare", "type": "promo_offer", "channels": []string{"email"},
		"data": map[string]any{"offer": map[string]any{"title": "Allnet Flat 40 GB", "price": 24.99, "regular_price": 29.99, "data_volume_gb": 40,
			"valid_until": "2026-12-31", "url": "https://www.example.com/angebot/allnet-40"}},
		"send_at": time.Now().Add(3 * time.Second).UTC().Format(time.RFC3339), "audience": first})
	if err != nil {
		return "", err
	}
	var c struct {
		ID string `json:"id"`
	}
	json.Unmarshal(out, &c)
	id = c.ID
	if len(ids) > 10000 {
		var nd bytes.Buffer
		for _, x := range ids[10000:] {
			fmt.Fprintf(&nd, "{\"recipient_id\":%q}\n", x)
		}
		req, _ := http.NewRequestWithContext(ctx, "POST", base+"/v1/campaigns/"+id+"/audience", &nd)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode >= 300 {
			return "", fmt.Errorf("audience: %d %s", r.StatusCode, b)
		}
	}
	// The campaign starts at send_at; measure from its first delivery on.
	var t0 time.Time
	var perf *exec.Cmd
	for {
		out, err := call("GET", "/v1/campaigns/"+id, nil)
		if err != nil {
			return "", err
		}
		var st struct {
			State    string         `json:"state"`
			Counters map[string]any `json:"counters"`
		}
		json.Unmarshal(out, &st)
		d, _ := st.Counters["delivered"].(float64)
		if d > 0 && t0.IsZero() {
			t0 = time.Now()
			cpu0 = cpuOf(srv.Process.Pid)
			fmt.Fprintln(skIn, "stats")
			sc.Scan()
			sk0 = strings.Fields(sc.Text())
			if perfDir != "" {
				perf = startPerf(perfDir, bin, round, srv.Process.Pid)
			}
		}
		if st.State == "done" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	wall := time.Since(t0)
	cpu := cpuOf(srv.Process.Pid) - cpu0
	if perf != nil {
		perf.Process.Signal(os.Interrupt)
		perf.Wait()
	}
	fmt.Fprintln(skIn, "stats")
	sc.Scan()
	sk1 := strings.Fields(sc.Text())
	m0, _ := strconv.Atoi(sk0[1])
	m1, _ := strconv.Atoi(sk1[1])
	msgs := m1 - m0
	return fmt.Sprintf("%6d msgs in %7.3fs = %6.0f msgs/s; serve CPU %.3f ms/msg", msgs, wall.Seconds(),
		float64(msgs)/wall.Seconds(), float64(cpu.Microseconds())/1000/float64(max(msgs, 1))), nil
}
