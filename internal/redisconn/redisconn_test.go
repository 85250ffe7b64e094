package redisconn_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heroldhq/herold/internal/config"
	"github.com/heroldhq/herold/internal/redisconn"
	"github.com/heroldhq/herold/internal/redistest"
)

// load returns the Redis configuration Herold loads from env.
func load(t testing.TB, env map[string]string) config.Redis {
	t.Helper()
	var c config.Redis
	if err := config.Load(&c, func(k string) string { return env[k] }, flag.NewFlagSet("test", flag.ContinueOnError)); err != nil {
		t.Fatal(err)
	}
	return c
}

// closedPort returns a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port
}

func TestNewBuildsTheClientTheURLNames(t *testing.T) {
	t.Parallel()
	autoPool := 10*runtime.GOMAXPROCS(0) + 7

	single, err := redisconn.New(load(t, map[string]string{"HEROLD_REDIS_URL": "redis://u:pw@10.0.0.1:6380/2"}), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	if c, ok := single.(*redis.Client); !ok {
		t.Errorf("redis:// built a %T", single)
	} else if o := c.Options(); o.Addr != "10.0.0.1:6380" || o.DB != 2 || o.Username != "u" || o.Password != "pw" || o.PoolSize != autoPool || o.TLSConfig != nil {
		t.Errorf("redis:// options: addr %s db %d user %q pool %d tls %v", o.Addr, o.DB, o.Username, o.PoolSize, o.TLSConfig != nil)
	}

	cluster, err := redisconn.New(load(t, map[string]string{
		"HEROLD_REDIS_URL": "rediss+cluster://n1:7000,n2:7001/", "HEROLD_REDIS_PASSWORD": "pw", "HEROLD_REDIS_POOL_SIZE": "5",
	}), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	if c, ok := cluster.(*redis.ClusterClient); !ok {
		t.Errorf("redis+cluster:// built a %T", cluster)
	} else if o := c.Options(); strings.Join(o.Addrs, ",") != "n1:7000,n2:7001" || o.Password != "pw" || o.PoolSize != 5 || o.TLSConfig == nil || o.TLSConfig.ServerName != "" {
		t.Errorf("redis+cluster:// options: addrs %v pool %d tls %v", o.Addrs, o.PoolSize, o.TLSConfig)
	}

	sentinel, err := redisconn.New(load(t, map[string]string{"HEROLD_REDIS_URL": "redis+sentinel://s1:26379,s2:26380/herold/3"}), 7)
	if err != nil {
		t.Fatal(err)
	}
	defer sentinel.Close()
	if c, ok := sentinel.(*redis.Client); !ok {
		t.Errorf("redis+sentinel:// built a %T", sentinel)
	} else if o := c.Options(); o.DB != 3 || o.PoolSize != autoPool {
		t.Errorf("redis+sentinel:// options: db %d pool %d", o.DB, o.PoolSize)
	}
}

func TestNewReadsTheCAFile(t *testing.T) {
	t.Parallel()
	_, err := redisconn.New(load(t, map[string]string{"HEROLD_REDIS_URL": "rediss://h:6380/0", "HEROLD_REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}), 1)
	if err == nil || !strings.Contains(err.Error(), "HEROLD_REDIS_TLS_CA_FILE") {
		t.Errorf("missing CA file: error %v, want one naming HEROLD_REDIS_TLS_CA_FILE", err)
	}
}

// Open fails fast with an error naming where it tried, for every topology,
// and never shows the password.
func TestOpenNamesTheAddressNotThePassword(t *testing.T) {
	t.Parallel()
	p1, p2 := closedPort(t), closedPort(t)
	cases := []struct {
		url  string
		want []string
	}{
		{"redis://:hunter2pw@127.0.0.1:" + p1 + "/0", []string{"127.0.0.1:" + p1, "HEROLD_REDIS_URL"}},
		{"redis+sentinel://:hunter2pw@127.0.0.1:" + p1 + ",127.0.0.1:" + p2 + "/herold/0", []string{`master "herold"`, "127.0.0.1:" + p1 + ",127.0.0.1:" + p2, "sentinel 127.0.0.1:" + p1 + ": dial"}},
		{"redis+cluster://:hunter2pw@127.0.0.1:" + p1 + ",127.0.0.1:" + p2, []string{"cluster seeds 127.0.0.1:" + p1 + ",127.0.0.1:" + p2}},
	}
	for _, c := range cases {
		t.Run(strings.SplitN(c.url, ":", 2)[0], func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			rdb, err := redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": c.url}), 1)
			if err == nil {
				rdb.Close()
				t.Fatal("Open succeeded without a server")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s: %v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2pw") {
				t.Errorf("error reveals the password: %v", err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("Open took %s to fail", d)
			}
		})
	}
}

// go-redis' own complaint about a Redis that is down arrives as a JSON log
// line, not as plain text on stderr. (This test owns go-redis' process-wide
// logger: no other test in this package calls RouteLogs.)
func TestRouteLogs(t *testing.T) {
	var mu sync.Mutex
	var buf bytes.Buffer
	redisconn.RouteLogs(slog.New(slog.NewJSONHandler(lockedWriter{&mu, &buf}, nil)))
	rdb, err := redisconn.Open(t.Context(), load(t, map[string]string{"HEROLD_REDIS_URL": "redis://:hunter2pw@127.0.0.1:" + closedPort(t) + "/0"}), 1)
	if err == nil {
		rdb.Close()
		t.Fatal("Open succeeded without a server")
	}
	mu.Lock()
	defer mu.Unlock()
	var found bool
	for line := range strings.Lines(buf.String()) {
		var rec struct{ Level, Msg, Library string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		if rec.Library == "go-redis" && rec.Level == "WARN" && strings.Contains(rec.Msg, "failed to dial") {
			found = true
		}
	}
	if !found {
		t.Errorf("no go-redis dial failure in the log:\n%s", buf.String())
	}
	if strings.Contains(buf.String(), "hunter2pw") {
		t.Errorf("log reveals the password:\n%s", buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestSlot(t *testing.T) {
	t.Parallel()
	// Figures from the Redis Cluster specification and CLUSTER KEYSLOT.
	for key, want := range map[string]int{
		"123456789":            12739, // the spec's CRC16 check value 0x31C3
		"foo":                  12182,
		"{user1000}.following": redisconn.Slot("user1000"),
		"foo{}{bar}":           redisconn.Slot("foo{}{bar}"),
		"herold:r:{r:c-1}:p":   redisconn.Slot("r:c-1"),
	} {
		if got := redisconn.Slot(key); got != want {
			t.Errorf("Slot(%q) = %d, want %d", key, got, want)
		}
	}
}

// connectedReplicas is how many replicas the primary holding key has now.
func connectedReplicas(t testing.TB, rdb redis.UniversalClient, key string) int {
	t.Helper()
	var node redis.Cmdable = rdb
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		var err error
		if node, err = cc.MasterForKey(t.Context(), key); err != nil {
			t.Fatal(err)
		}
	}
	info, err := node.Info(t.Context(), "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatalf("INFO replication has no connected_slaves:\n%s", info)
	return 0
}

// checks run on every topology: the one HEROLD_TEST_REDIS_URL names
// (TestOnTestRedis), a cluster (TestOnCluster) and Sentinel (TestOnSentinel).
func checks() []struct {
	name string
	run  func(t *testing.T, url string)
} {
	return []struct {
		name string
		run  func(t *testing.T, url string)
	}{
		{"DurabilityCountsReplicas", checkDurabilityCountsReplicas},
		{"NoDurabilityAddsNothing", checkNoDurabilityAddsNothing},
		{"PipelinedReportsTheFailedCommand", checkPipelinedReportsTheFailedCommand},
		{"DeleteKeys", checkDeleteKeys},
		{"Asynq", checkAsynq},
	}
}

func runChecks(t *testing.T, url string) {
	for _, c := range checks() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t, url)
		})
	}
}

func TestOnTestRedis(t *testing.T) {
	t.Parallel()
	runChecks(t, redistest.URL())
}

// Durability: asking for one replica more than the primary has fails with
// NotAckedError after the timeout, with the write done; asking for those it
// has succeeds.
func checkDurabilityCountsReplicas(t *testing.T, url string) {
	rdb, prefix := redistest.ClientFor(t, url)
	key := prefix + "r:{r:1}:ledger"
	have := connectedReplicas(t, rdb, key)
	ctx := t.Context()

	d := redisconn.NewDurability(config.Redis{MinReplicasAck: have + 1, AckTimeout: 100 * time.Millisecond, KeyPrefix: prefix})
	cmds, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, "a")
		return nil
	})
	var na *redisconn.NotAckedError
	if !errors.As(err, &na) || na.Want != have+1 || na.Got != have {
		t.Fatalf("Pipelined with %d replicas wanted = %v, want NotAckedError{Want: %d, Got: %d}", have+1, err, have+1, have)
	}
	if !redisconn.Unavailable(err) {
		t.Errorf("Unavailable(%v) = false: an unconfirmed write must be answered 503", err)
	}
	if len(cmds) != 1 || cmds[0].(*redis.IntCmd).Val() != 1 {
		t.Errorf("Pipelined returned %v, want fn's one RPUSH", cmds)
	}
	if err := d.Sync(ctx, rdb, key); !errors.As(err, &na) {
		t.Errorf("Sync with %d replicas wanted = %v, want NotAckedError", have+1, err)
	}
	if err := d.Check(ctx, rdb); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("has %d connected replicas", have)) {
		t.Errorf("Check with %d replicas wanted = %v, want an error naming the %d there are", have+1, err, have)
	}
	if n := rdb.LLen(ctx, key).Val(); n != 1 {
		t.Errorf("list has %d entries after the unconfirmed write, want 1: the write happens", n)
	}

	if have == 0 {
		return // one server without replicas: nothing more to confirm
	}
	d = redisconn.NewDurability(config.Redis{MinReplicasAck: have, AckTimeout: time.Second, KeyPrefix: prefix})
	if _, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, "b")
		return nil
	}); err != nil {
		t.Errorf("Pipelined with the %d replicas there are: %v", have, err)
	}
	if err := d.Sync(ctx, rdb, key, prefix+"m:{m:1}"); err != nil {
		t.Errorf("Sync with the %d replicas there are: %v", have, err)
	}
	if err := d.Check(ctx, rdb); err != nil {
		t.Errorf("Check with the %d replicas there are: %v", have, err)
	}
}

// The zero Durability sends nothing of its own: no WAIT, no key.
func checkNoDurabilityAddsNothing(t *testing.T, url string) {
	rdb, prefix := redistest.ClientFor(t, url)
	ctx := t.Context()
	d := redisconn.NewDurability(config.Redis{KeyPrefix: prefix, AckTimeout: time.Second})
	if d.Replicas() != 0 {
		t.Fatalf("Replicas() = %d", d.Replicas())
	}
	key := prefix + "x"
	cmds, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
		p.Set(ctx, key, "v", time.Minute)
		return nil
	})
	if err != nil || len(cmds) != 1 {
		t.Fatalf("Pipelined = %v, %v", cmds, err)
	}
	if err := d.Sync(ctx, rdb, key); err != nil {
		t.Fatal(err)
	}
	if keys := redistest.Keys(t, rdb, prefix+"*"); len(keys) != 1 || keys[0] != key {
		t.Errorf("keys after the write: %v, want only %s", keys, key)
	}
}

// Pipelined reports fn's failing command, not a replica count.
func checkPipelinedReportsTheFailedCommand(t *testing.T, url string) {
	rdb, prefix := redistest.ClientFor(t, url)
	ctx := t.Context()
	key := prefix + "{k}s"
	if err := rdb.Set(ctx, key, "string", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	d := redisconn.NewDurability(config.Redis{MinReplicasAck: 9, AckTimeout: 10 * time.Millisecond, KeyPrefix: prefix})
	_, err := d.Pipelined(ctx, rdb, key, func(p redis.Pipeliner) error {
		p.RPush(ctx, key, "x") // WRONGTYPE
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Errorf("error %v, want the RPUSH's WRONGTYPE", err)
	}
	if redisconn.Unavailable(err) {
		t.Errorf("Unavailable(%v) = true: a wrong command is a fault, not a Redis that is away", err)
	}
	fnErr := errors.New("fn refused")
	if _, err := d.Pipelined(ctx, rdb, key, func(redis.Pipeliner) error { return fnErr }); !errors.Is(err, fnErr) {
		t.Errorf("error %v, want fn's", err)
	}
}

// DeleteKeys finds keys on every primary and leaves other keys alone.
func checkDeleteKeys(t *testing.T, url string) {
	rdb, prefix := redistest.ClientFor(t, url)
	ctx := t.Context()
	for i := range 300 {
		if err := rdb.Set(ctx, fmt.Sprintf("%sdel:{%d}", prefix, i), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keep := prefix + "keep"
	if err := rdb.Set(ctx, keep, "v", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := redisconn.DeleteKeys(ctx, rdb, prefix+"del:*"); err != nil {
		t.Fatal(err)
	}
	if left := redistest.Keys(t, rdb, prefix+"*"); len(left) != 1 || left[0] != keep {
		t.Errorf("left after DeleteKeys: %d keys (%.5v), want only %s", len(left), left, keep)
	}
}
