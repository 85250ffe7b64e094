package main

import "runtime/debug"

// defaultGCPercent is Herold's GOGC when the environment sets none. A
// campaign allocates about 15 KB per message (rendered bodies, the MIME
// message, facts) over a live heap of only about 13 MB, so with Go's default
// of 100 the collector ran every few dozen milliseconds and took 14 % of
// the CPU (`herold bench`, 2 cores). At 200 it takes about 6 % and the peak
// RSS of a 100,000-recipient campaign rises from 54 to 70 MiB; 400 takes
// 2-6 % at about 105 MiB. docs/PERF.md has the runs.
const defaultGCPercent = 200

// tuneGC sets the collector's target to defaultGCPercent unless GOGC is set,
// in which case the runtime already follows it.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
