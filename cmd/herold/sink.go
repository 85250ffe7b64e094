package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heroldhq/herold/internal/smtpsink"
)

const sinkAbout = "The SMTP sink of `herold bench` as a process of its own, so that the bench can tell\n" +
	"Herold's CPU from the sink's: a go-smtp server on 127.0.0.1 (a free port) that counts\n" +
	"messages and discards them. It prints \"listening HOST:PORT\", then answers the line\n" +
	"\"stats\" on standard input with \"stats MESSAGES USER_NS SYSTEM_NS\" (its own CPU time),\n" +
	"and exits when standard input ends or after --max-time."

// sinkCommand is `herold sink`, which `herold help` does not list: the bench
// starts it (startSink).
func sinkCommand(ctx context.Context, inv *invocation, args []string) error {
	fs := flag.NewFlagSet("herold sink", flag.ContinueOnError)
	maxTime := fs.Duration("max-time", 2*time.Hour, "exit after this long at the latest (1s-24h)")
	if err := parseFlags(fs, inv, args, sinkAbout, ""); err != nil {
		return err
	}
	if *maxTime < time.Second || *maxTime > 24*time.Hour {
		return usageErrorf("herold sink: --max-time must be 1s-24h, got %s", *maxTime)
	}
	s, err := smtpsink.New(false) // loopback only
	if err != nil {
		return err
	}
	defer s.Close()
	out := bufio.NewWriter(inv.stdout)
	fmt.Fprintf(out, "listening %s\n", net.JoinHostPort(s.Host, strconv.Itoa(s.Port)))
	if err := out.Flush(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *maxTime)
	defer cancel()
	in := inv.stdin
	if in == nil {
		in = strings.NewReader("")
	}
	lines := make(chan string)
	go func() { // ends with the process
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil // --max-time, or a signal: both end the sink normally
		case line, ok := <-lines:
			if !ok {
				return nil
			}
			switch strings.TrimSpace(line) {
			case "stats":
				cpu, err := processCPU()
				if err != nil {
					fmt.Fprintf(out, "error %v\n", err)
				} else {
					fmt.Fprintf(out, "stats %d %d %d\n", s.Count(), cpu.user.Nanoseconds(), cpu.system.Nanoseconds())
				}
			default:
				fmt.Fprintf(out, "error unknown command %q (want stats)\n", line)
			}
			if err := out.Flush(); err != nil {
				return err
			}
		}
	}
}

// sinkProc is a `herold sink` child process.
type sinkProc struct {
	Host string
	Port int

	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	mu   sync.Mutex // one question at a time
	done chan error
}

// sinkStats is what the sink reports: messages accepted and its CPU time.
type sinkStats struct {
	Messages int64
	CPU      cpuTime
}

// startSink starts this binary as `herold sink` (killed when ctx ends, and
// exiting on its own when this process dies, since its standard input
// ends) and waits for its address.
func startSink(ctx context.Context, stderr io.Writer, maxTime time.Duration) (*sinkProc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("sink: find this binary: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "sink", "--max-time", maxTime.String())
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("sink: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("sink: start %s sink: %w", exe, err)
	}
	p := &sinkProc{cmd: cmd, in: in, out: bufio.NewReader(out), done: make(chan error, 1)}
	first := make(chan error, 1)
	go func() {
		line, err := p.out.ReadString('\n')
		if err == nil {
			err = p.parseAddr(line)
		}
		first <- err
	}()
	select {
	case err = <-first:
	case <-time.After(10 * time.Second):
		err = errors.New("no address within 10s")
	}
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("sink: %w", err)
	}
	go func() { p.done <- cmd.Wait() }()
	return p, nil
}

func (p *sinkProc) parseAddr(line string) error {
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	host, port, err := net.SplitHostPort(addr)
	if !ok || err != nil {
		return fmt.Errorf("unexpected first line %q", line)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("sink listens on %s, not on loopback", host)
	}
	p.Host = host
	p.Port, err = strconv.Atoi(port)
	return err
}

// Stats asks the sink for its count and CPU time.
func (p *sinkProc) Stats() (sinkStats, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := io.WriteString(p.in, "stats\n"); err != nil {
		return sinkStats{}, fmt.Errorf("sink: %w", err)
	}
	line, err := p.out.ReadString('\n')
	if err != nil {
		return sinkStats{}, fmt.Errorf("sink: %w", err)
	}
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "stats" {
		return sinkStats{}, fmt.Errorf("sink: unexpected answer %q", strings.TrimSpace(line))
	}
	var n [3]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return sinkStats{}, fmt.Errorf("sink: unexpected answer %q", strings.TrimSpace(line))
		}
	}
	return sinkStats{Messages: n[0], CPU: cpuTime{user: time.Duration(n[1]), system: time.Duration(n[2])}}, nil
}

// Close ends the sink's standard input, which ends it, and waits (killing
// it after five seconds).
func (p *sinkProc) Close() error {
	p.in.Close()
	select {
	case err := <-p.done:
		return err
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		return errors.Join(errors.New("sink: did not stop within 5s, killed"), <-p.done)
	}
}
