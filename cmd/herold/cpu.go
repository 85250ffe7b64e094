package main

import "time"

// cpuTime is a process's CPU time in user and kernel mode.
type cpuTime struct{ user, system time.Duration }

// total is user plus system time.
func (c cpuTime) total() time.Duration { return c.user + c.system }

// sub is the CPU time used between b and c.
func (c cpuTime) sub(b cpuTime) cpuTime {
	return cpuTime{user: c.user - b.user, system: c.system - b.system}
}
