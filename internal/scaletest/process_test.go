package scaletest_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heroldhq/herold/internal/apptest"
	"github.com/heroldhq/herold/internal/redistest"
	"github.com/heroldhq/herold/internal/smtpsink"
)

// adminKey is the API key of every Herold process these tests start.
const adminKey = "hrld_scaletest_admin_0123456789"

// salt is HEROLD_HASH_SALT of the processes; the tests' own store must use
// it too, so that the address indexes they write are the processes'.
const salt = "scaletest-salt-0123456789"

var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// heroldBinary builds cmd/herold of this tree once per test run and returns
// its path. It is built without the race detector: the processes are what
// is crashed and counted here, and their code runs under -race in the
// other packages' tests.
func heroldBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := repoRoot()
		if err != nil {
			binErr = err
			return
		}
		if binDir, binErr = os.MkdirTemp("", "herold-scaletest-"); binErr != nil {
			return
		}
		goBin, err := exec.LookPath("go")
		if err != nil {
			binErr = fmt.Errorf("no go command to build herold with: %w", err)
			return
		}
		start := time.Now()
		cmd := exec.Command(goBin, "build", "-o", filepath.Join(binDir, "herold"), "./cmd/herold")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/herold: %v\n%s", err, out)
			return
		}
		t.Logf("built herold in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "herold")
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}

// heroldEnv is the configuration every process of one test shares: its
// Redis, key prefix and queues, the API key, secrets, and e-mail to sink.
func heroldEnv(t testing.TB, redisURL, prefix string, sink *smtpsink.Sink) map[string]string {
	return map[string]string{
		"HEROLD_REDIS_URL":           redisURL,
		"HEROLD_REDIS_PREFIX":        prefix,
		"HEROLD_QUEUE_SUFFIX":        "-" + redistest.Queue(t, "scale"),
		"HEROLD_HTTP_ADDR":           "127.0.0.1:0",
		"HEROLD_PUBLIC_URL":          "http://127.0.0.1:8080",
		"HEROLD_API_KEYS":            "admin:" + adminKey + ":*",
		"HEROLD_TOKEN_SECRET":        strings.Repeat("t", 32),
		"HEROLD_HASH_SALT":           salt,
		"HEROLD_SMTP_HOST":           sink.Host,
		"HEROLD_SMTP_PORT":           strconv.Itoa(sink.Port),
		"HEROLD_SMTP_TLS":            "off",
		"HEROLD_SMTP_FROM":           "rechnung@example.com",
		"HEROLD_OUTBOX_DIR":          t.TempDir(),
		"HEROLD_DEFAULT_TIME_ZONE":   apptest.DayZone(), // no quiet hours now
		"HEROLD_SCHEDULER":           "false",
		"HEROLD_LOG_FORMAT":          "json",
		"HEROLD_TASK_CHECK_INTERVAL": "50ms",
	}
}

// proc is one running herold process.
type proc struct {
	name string
	cmd  *exec.Cmd
	addr string // where its HTTP side listens
	log  *os.File
	done chan struct{} // closed when it has exited
}

// startHerold runs `herold role` with env (and PATH, HOME) and waits until it
// logs "herold ready". Its log goes to a file of the test's; when the test
// fails, the log's end is printed. t.Cleanup stops it with SIGTERM.
func startHerold(t testing.TB, name, role string, env map[string]string) *proc {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, log: f, done: make(chan struct{})}
	p.cmd = exec.Command(heroldBinary(t), role)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout = f
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start herold %s: %v", role, err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			_, _ = f.Write(append(line, '\n'))
			if bytes.Contains(line, []byte(`"msg":"herold ready"`)) {
				var l struct {
					Addr string `json:"http_addr"`
				}
				if json.Unmarshal(line, &l) == nil {
					ready <- l.Addr
				}
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("last lines of %s's log:\n%s", p.name, p.tail(40))
		}
		f.Close()
	})
	select {
	case p.addr = <-ready:
	case <-p.done:
		t.Fatalf("herold %s (%s) ended before it was ready:\n%s", role, name, p.tail(40))
	case <-time.After(60 * time.Second):
		t.Fatalf("herold %s (%s) not ready after 60s:\n%s", role, name, p.tail(40))
	}
	return p
}

// kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *proc) kill(t testing.TB) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", p.name, err)
	}
	<-p.done
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop ends the process with SIGTERM (SIGKILL after 20s) and waits for it.
func (p *proc) stop() {
	if !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

func (p *proc) tail(n int) string {
	b, _ := os.ReadFile(p.log.Name())
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// call sends a JSON request to the API of p with the admin key and returns
// the answer. A body of type string is sent as it is.
func (p *proc) call(t testing.TB, client *http.Client, method, path string, body any, header ...string) (*http.Response, []byte, error) {
	var r io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		r, ct = strings.NewReader(b), "application/x-ndjson"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if r != nil {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp, out, err
}

// tally counts what the SMTP sink accepted: messages per recipient address
// and per Herold message id (from the Message-ID header, which Herold
// derives from the message id and keeps across retries).
type tally struct {
	mu     sync.Mutex
	byRcpt map[string]int
	byMsg  map[string]int
	total  int
}

// countingSink starts an SMTP sink in the test process that the herold
// processes send to over loopback, counting without keeping the mails.
func countingSink(t testing.TB) (*smtpsink.Sink, *tally) {
	t.Helper()
	c := &tally{byRcpt: map[string]int{}, byMsg: map[string]int{}}
	sink, err := smtpsink.NewFunc(func(m smtpsink.Mail) {
		id := ""
		if msg, err := mail.ReadMessage(bytes.NewReader(m.Data)); err == nil {
			id, _, _ = strings.Cut(strings.Trim(msg.Header.Get("Message-Id"), "<>"), "@")
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.total++
		for _, to := range m.To {
			c.byRcpt[to]++
		}
		if id != "" {
			c.byMsg[id]++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	return sink, c
}

// snapshot returns copies of the counts.
func (c *tally) snapshot() (byRcpt, byMsg map[string]int, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.byRcpt), maps.Clone(c.byMsg), c.total
}

func (c *tally) recipients() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byRcpt)
}

// count is how many messages the sink accepted.
func (c *tally) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// cpu returns the CPU time (user and system) the process has used so far,
// from /proc (Linux); false where there is none.
func (p *proc) cpu() (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		return 0, false
	}
	// The fields after the command name, which is in parentheses: utime
	// and stime are the 12th and 13th, in clock ticks (USER_HZ, 100 on
	// Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(u+s) * 10 * time.Millisecond, true
}

// cpuOf sums the CPU time of procs.
func cpuOf(procs ...*proc) time.Duration {
	var d time.Duration
	for _, p := range procs {
		c, _ := p.cpu()
		d += c
	}
	return d
}
