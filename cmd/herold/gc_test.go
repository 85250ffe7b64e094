package main

import (
	"runtime/debug"
	"testing"
)

// Herold's GC target applies unless GOGC says otherwise. (Not parallel: the
// target is the process's.)
func TestTuneGCUnlessGOGCIsSet(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("without GOGC the target is %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 tuneGC changed the target to %d", got)
	}
}
