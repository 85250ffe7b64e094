package main

import (
	"bytes"
	"math"
	"testing"

	"github.com/google/pprof/profile"
)

// cpuProfile builds a CPU profile of stacks (innermost function first),
// each sampled once with the given nanoseconds.
func cpuProfile(t *testing.T, stacks map[int64][]string) []byte {
	t.Helper()
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, Period: 10_000_000,
	}
	fns := map[string]*profile.Function{}
	for ns, stack := range stacks {
		var locs []*profile.Location
		for _, name := range stack {
			fn := fns[name]
			if fn == nil {
				fn = &profile.Function{ID: uint64(len(fns) + 1), Name: name}
				fns[name] = fn
				p.Function = append(p.Function, fn)
			}
			loc := &profile.Location{ID: uint64(len(p.Location) + 1), Line: []profile.Line{{Function: fn}}}
			p.Location = append(p.Location, loc)
			locs = append(locs, loc)
		}
		p.Sample = append(p.Sample, &profile.Sample{Location: locs, Value: []int64{1, ns}})
	}
	var b bytes.Buffer
	if err := p.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Each sample counts for the innermost part of Herold on its stack, except
// that the collector's work is GC wherever it runs.
func TestAttributeCPUProfile(t *testing.T) {
	t.Parallel()
	const h = "github.com/heroldhq/herold/"
	prof := cpuProfile(t, map[int64][]string{
		100: {"text/template.(*state).walk", h + "internal/render.(*Prepared).Render", h + "internal/delivery.(*Deliverer).Attempt"},
		200: {"runtime.memmove", h + "channels/email.(*Composer).quotedPrintable", h + "channels/email.(*Sender).Send"},
		300: {"syscall.Syscall", "bufio.(*Writer).Flush", h + "channels/email.(*Sender).transact", h + "channels/email.(*Sender).Send"},
		400: {"internal/poll.(*FD).Write", "github.com/redis/go-redis/v9/internal/pool.(*Conn).Write", h + "internal/store.(*Store).WriteOutcomes"},
		500: {"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"},
		600: {"runtime.gcAssistAlloc", "runtime.mallocgc", h + "internal/render.(*Prepared).Render"},
		700: {"runtime.nextFreeFast", "runtime.mallocgc", h + "internal/campaign.(*Engine).deliver"},
		800: {"runtime.futex", "runtime.findRunnable", "runtime.schedule", "runtime.mcall"},
		900: {h + "internal/policy.Decide", h + "internal/delivery.(*Deliverer).Decide"},
	})
	s, err := attribute(prof)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"render": 100, "MIME": 200, "SMTP": 300, "Redis": 400, "GC": 500 + 600,
		"other": 700, "scheduler": 800, "policy": 900}
	for name, ns := range want {
		if s.by[name] != ns {
			t.Errorf("%s: %d ns, want %d", name, s.by[name], ns)
		}
	}
	if s.total != 4500 || s.alloc != 700 {
		t.Errorf("total %d, allocating %d; want 4500, 700", s.total, s.alloc)
	}
	var sum float64
	for _, b := range buckets() {
		sum += s.share(b.name)
	}
	if math.Abs(sum-1) > 1e-9 {
		t.Errorf("the buckets' shares add up to %v", sum)
	}
	if _, err := attribute([]byte("not a profile")); err == nil {
		t.Error("attribute accepts garbage")
	}
}
