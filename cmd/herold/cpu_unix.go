//go:build unix

package main

import (
	"fmt"
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used so far.
func processCPU() (cpuTime, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuTime{}, fmt.Errorf("getrusage: %w", err)
	}
	return cpuTime{user: time.Duration(ru.Utime.Nano()), system: time.Duration(ru.Stime.Nano())}, nil
}
