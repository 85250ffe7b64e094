package main

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/google/pprof/profile"
)

// cpuBucket is a part of Herold's CPU time that `herold bench` reports,
// recognised by the functions on the stack of a profile sample.
type cpuBucket struct {
	name  string
	about string
	// match reports whether fn (a fully qualified function name, as in a
	// profile) belongs to the bucket.
	match func(fn string) bool
}

const heroldMod = "github.com/heroldhq/herold/"

// gcBucket is the garbage collector at work: its background mark workers,
// the mark assists it charges allocating goroutines, sweeping and returning
// memory, and the write barrier. A sample with one of these anywhere on its
// stack is the collector's, whoever was running.
var gcBucket = cpuBucket{"GC", "collector: runtime.gcBgMarkWorker, mark assists (runtime.gcAssistAlloc), sweeping, scavenging, write barriers",
	func(fn string) bool {
		switch fn {
		case "runtime.bgsweep", "runtime.bgscavenge", "runtime.sweepone", "runtime.deductSweepCredit",
			"runtime.markroot", "runtime.scanobject", "runtime.wbBufFlush", "runtime.wbBufFlush1":
			return true
		}
		return strings.HasPrefix(fn, "runtime.gc") || strings.HasPrefix(fn, "runtime.(*gcWork)") ||
			strings.HasPrefix(fn, "runtime.(*sweepLocked)") || strings.HasPrefix(fn, "runtime.(*mheap).reclaim")
	}}

// componentBuckets are tried in a sample's frames from the innermost out:
// the first frame that one of them claims decides the sample, so time in a
// library (text/template, net/textproto, syscalls, runtime.mallocgc) counts
// for the part of Herold that called it.
var componentBuckets = []cpuBucket{
	{"render", "templates: internal/render (text/template and html/template under it)",
		prefixed(heroldMod + "internal/render.")},
	{"MIME", "building the e-mail: channels/email's Composer (headers, quoted-printable, DKIM), go-mail, go-msgauth",
		func(fn string) bool {
			if rest, ok := strings.CutPrefix(fn, heroldMod+"channels/email."); ok {
				return strings.HasPrefix(rest, "(*Composer)") || strings.HasPrefix(rest, "(*memo)") ||
					strings.HasPrefix(rest, "fields") || strings.HasPrefix(rest, "splitFields") ||
					strings.HasPrefix(rest, "boundary") || strings.HasPrefix(rest, "oneLine") ||
					strings.HasPrefix(rest, "headerURI") || strings.HasPrefix(rest, "mailtoURI") ||
					strings.HasPrefix(rest, "partHeader") || strings.HasPrefix(rest, "endLine") ||
					strings.HasPrefix(rest, "dkimKeys")
			}
			return (strings.HasPrefix(fn, "github.com/wneessen/go-mail.") && !strings.HasPrefix(fn, "github.com/wneessen/go-mail/smtp.")) ||
				strings.HasPrefix(fn, "github.com/emersion/go-msgauth/")
		}},
	{"SMTP", "sending: the rest of channels/email (pool, the mail transaction, dot-stuffing) and go-mail/smtp, with their socket I/O",
		func(fn string) bool {
			return strings.HasPrefix(fn, heroldMod+"channels/email.") || strings.HasPrefix(fn, "github.com/wneessen/go-mail/smtp.")
		}},
	{"Redis", "the go-redis client with its socket I/O: Herold's store and asynq's queue calls",
		prefixed("github.com/redis/go-redis/")},
	{"policy", "the legal-basis decision: internal/policy", prefixed(heroldMod + "internal/policy.")},
	{"scheduler", "the Go scheduler finding and switching goroutines (runtime.schedule, findRunnable, netpoll)",
		func(fn string) bool {
			switch fn {
			case "runtime.schedule", "runtime.findRunnable", "runtime.park_m", "runtime.goschedImpl",
				"runtime.gopreempt_m", "runtime.goexit0", "runtime.mstart1":
				return true
			}
			return false
		}},
}

// otherBucket is everything else: the campaign engine, delivery, store
// encoding, asynq outside its Redis calls, events, metrics, logging.
var otherBucket = cpuBucket{name: "other", about: "the rest: campaign engine, delivery, store encoding, asynq's own work, events, metrics"}

func prefixed(p string) func(string) bool {
	return func(fn string) bool { return strings.HasPrefix(fn, p) }
}

// cpuShares is how a CPU profile's time divides into the buckets.
type cpuShares struct {
	total int64            // nanoseconds of CPU in the profile
	by    map[string]int64 // bucket name → nanoseconds
	alloc int64            // nanoseconds under runtime.mallocgc (not the collector's), in their callers' buckets
}

// share is the fraction of the profile's CPU in bucket name.
func (s cpuShares) share(name string) float64 {
	if s.total == 0 {
		return 0
	}
	return float64(s.by[name]) / float64(s.total)
}

// buckets lists every bucket in the order the report shows them.
func buckets() []cpuBucket {
	out := slices.Clone(componentBuckets[:4]) // render, MIME, SMTP, Redis
	out = append(out, gcBucket)
	out = append(out, componentBuckets[4:]...) // policy, scheduler
	return append(out, otherBucket)
}

// attribute reads a CPU profile (runtime/pprof's format) and divides its
// time into the buckets.
func attribute(b []byte) (cpuShares, error) {
	p, err := profile.Parse(bytes.NewReader(b))
	if err != nil {
		return cpuShares{}, fmt.Errorf("read CPU profile: %w", err)
	}
	vi := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return cpuShares{}, fmt.Errorf("read CPU profile: no cpu sample type")
	}
	s := cpuShares{by: map[string]int64{}}
	for _, smp := range p.Sample {
		v := smp.Value[vi]
		s.total += v
		name, alloc := classify(smp)
		s.by[name] += v
		if alloc && name != gcBucket.name {
			s.alloc += v
		}
	}
	return s, nil
}

// classify names the bucket of a sample (see gcBucket and componentBuckets)
// and says whether it was allocating.
func classify(smp *profile.Sample) (bucket string, alloc bool) {
	var fns []string // innermost first; inlined functions before their callers
	for _, loc := range smp.Location {
		for _, line := range loc.Line {
			if line.Function != nil {
				fns = append(fns, line.Function.Name)
			}
		}
	}
	for _, fn := range fns {
		if gcBucket.match(fn) {
			return gcBucket.name, false
		}
		alloc = alloc || fn == "runtime.mallocgc"
	}
	for _, fn := range fns {
		for _, b := range componentBuckets {
			if b.match(fn) {
				return b.name, alloc
			}
		}
	}
	return otherBucket.name, alloc
}
