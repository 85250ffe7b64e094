//go:build race

package main

// raceBuild: the tests run with the race detector, so binaries they build
// use it too (and reuse the tests' build cache).
const raceBuild = true
