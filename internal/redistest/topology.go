package redistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Topology is a throw-away Redis Cluster or Sentinel setup started by one
// test through scripts/redis-cluster or scripts/redis-sentinel, stopped and
// deleted when the test ends.
type Topology struct {
	URL  string // for HEROLD_REDIS_URL
	Base int    // first port; the scripts' usage lists what runs where
	Dir  string // the nodes' data directories, Dir/<port>
	// MasterName is the name the sentinels watch and SentinelPort the
	// first sentinel's port (Sentinel only).
	MasterName   string
	SentinelPort int

	script string   // scripts/redis-cluster or scripts/redis-sentinel
	env    []string // the script's environment
}

// StartCluster starts a Redis Cluster of 3 primaries and 3 replicas on free
// loopback ports, with a cluster-node-timeout of 1s so that failover tests
// are quick. It takes some seconds.
func StartCluster(t testing.TB) *Topology {
	t.Helper()
	return start(t, "redis-cluster", 6, true, map[string]string{"REDIS_CLUSTER_NODE_TIMEOUT_MS": "1000"})
}

// StartSentinel starts a primary, replicas replicas and three sentinels on
// free loopback ports; the sentinels fail over 1s after the primary stops
// answering. With 2 replicas, one is left after a failover, so writes that
// wait for one replica go on. It takes some seconds.
func StartSentinel(t testing.TB, replicas int) *Topology {
	t.Helper()
	tp := start(t, "redis-sentinel", replicas+4, false, map[string]string{
		"REDIS_SENTINEL_DOWN_AFTER_MS": "1000", "REDIS_SENTINEL_REPLICAS": strconv.Itoa(replicas),
	})
	tp.MasterName = "herold"
	tp.SentinelPort = tp.Base + replicas + 1
	return tp
}

// start runs scripts/NAME up on n consecutive free ports (and the cluster
// bus ports 10000 above them when bus is set), in a directory of the test's.
func start(t testing.TB, name string, n int, bus bool, env map[string]string) *Topology {
	t.Helper()
	script := filepath.Join(repoRoot(t), "scripts", name)
	envPrefix := map[string]string{"redis-cluster": "REDIS_CLUSTER", "redis-sentinel": "REDIS_SENTINEL"}[name]
	var lastErr string
	for range 5 {
		base := freeBase(t, n, bus)
		tp := &Topology{Base: base, Dir: filepath.Join(t.TempDir(), name), script: script}
		tp.env = append(os.Environ(), envPrefix+"_PORT="+strconv.Itoa(base), envPrefix+"_DIR="+tp.Dir)
		for k, v := range env {
			tp.env = append(tp.env, k+"="+v)
		}
		cmd := exec.Command(script, "up")
		cmd.Env = tp.env
		t.Cleanup(func() {
			down := exec.Command(script, "down")
			down.Env = tp.env
			if out, err := down.CombinedOutput(); err != nil {
				t.Errorf("redistest: %s down: %v\n%s", name, err, out)
			}
		})
		out, err := cmd.CombinedOutput()
		if err == nil {
			for line := range strings.Lines(string(out)) {
				if u, ok := strings.CutPrefix(strings.TrimSpace(line), "HEROLD_REDIS_URL="); ok {
					tp.URL = u
				}
			}
			if tp.URL == "" {
				t.Fatalf("redistest: %s up printed no HEROLD_REDIS_URL:\n%s", name, out)
			}
			return tp
		}
		// Another program may have taken a port between the check and the start.
		lastErr = fmt.Sprintf("%v\n%s", err, out)
		if !strings.Contains(string(out), "in use") {
			break
		}
	}
	t.Fatalf("redistest: %s up: %s", name, lastErr)
	return nil
}

// freeBase finds n consecutive free loopback ports (and, with bus, the n
// ports 10000 above them). They lie below Linux's ephemeral range (32768..
// by default), so no outgoing connection of a test running alongside takes
// one between the check and the bind.
func freeBase(t testing.TB, n int, bus bool) int {
	t.Helper()
	for range 100 {
		base := 10000 + rand.IntN(12000)
		ok := true
		for i := range n {
			if !portFree(base+i) || (bus && !portFree(base+10000+i)) {
				ok = false
				break
			}
		}
		if ok {
			return base
		}
	}
	t.Fatal("redistest: found no free range of ports")
	return 0
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// repoRoot is the directory holding go.mod, above the test's working
// directory (its package directory).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("redistest: no go.mod above the working directory; the scripts are not found")
		}
		dir = parent
	}
}

// Kill ends the node on port with SIGKILL, as a crash would, and waits until
// its process is gone; the scripts keep its pid in Dir/<port>/redis.pid.
func (tp *Topology) Kill(t testing.TB, port int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tp.Dir, strconv.Itoa(port), "redis.pid"))
	if err != nil {
		t.Fatalf("redistest: no pid of the node on port %d: %v", port, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("redistest: pid file of port %d: %v", port, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("redistest: kill node on port %d (pid %d): %v", port, pid, err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if syscall.Kill(pid, 0) != nil {
			return
		}
	}
	t.Fatalf("redistest: node on port %d (pid %d) still runs after SIGKILL", port, pid)
}

// Up runs the script's up again: it restarts the nodes that are not running
// (a killed primary comes back as a replica of the new one) and waits until
// the topology is healthy.
func (tp *Topology) Up(t testing.TB) {
	t.Helper()
	cmd := exec.Command(tp.script, "up")
	cmd.Env = tp.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("redistest: %s up: %v\n%s", filepath.Base(tp.script), err, out)
	}
}

// PrimaryPort is the port of the primary the first sentinel names now
// (Sentinel only).
func (tp *Topology) PrimaryPort(ctx context.Context) (int, error) {
	s := redis.NewSentinelClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(tp.SentinelPort))})
	defer s.Close()
	addr, err := s.GetMasterAddrByName(ctx, tp.MasterName).Result()
	if err != nil {
		return 0, fmt.Errorf("sentinel on port %d: %w", tp.SentinelPort, err)
	}
	return strconv.Atoi(addr[1])
}
