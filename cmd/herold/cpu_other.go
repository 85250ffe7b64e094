//go:build !unix

package main

import "errors"

// processCPU is not available without getrusage.
func processCPU() (cpuTime, error) {
	return cpuTime{}, errors.New("CPU time of a process is only measured on Unix systems")
}
