// Package scaletest proves Herold's scale-out and failover with real
// processes on real Redis topologies: the `herold` binary built from this
// tree runs as several `herold api` and `herold worker` processes against a
// Redis Cluster or a Sentinel-managed primary started by scripts/redis-cluster
// and scripts/redis-sentinel (internal/redistest), sending e-mail over SMTP to
// a counting sink (internal/smtpsink) in the test process. The tests kill a
// worker or the Redis primary with SIGKILL, as a crash would, and count what
// was accepted against what arrived.
//
// The package holds tests and benchmarks only:
//
//	go test -race ./internal/scaletest                            # the crash and failover tests
//	go test -run '^$' -bench . -benchtime 1x ./internal/scaletest # worker processes, Redis cost per message, WAIT cost
package scaletest
