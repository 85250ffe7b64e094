package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Redis configures the Redis that holds queues, ledger and records: one
// server, a Sentinel-managed primary with replicas, or a Redis Cluster.
//
// HEROLD_REDIS_URL names the topology by its scheme:
//
//	redis://[[user]:password@]host[:port][/db]                    one server (port 6379)
//	redis+sentinel://[[user]:password@]h1:p1,h2:p2,.../master[/db] the primary the sentinels
//	                                                               h1, h2, … name master (port 26379)
//	redis+cluster://[[user]:password@]h1:p1,h2:p2,...[/]           a cluster, found from these
//	                                                               seed nodes (port 6379)
//
// Each scheme with "rediss" in place of "redis" uses TLS to every server (and,
// for Sentinel, to the sentinels), verified against the system's CAs or
// HEROLD_REDIS_TLS_CA_FILE. The user and password in the URL are those of the
// Redis servers, in every form; HEROLD_REDIS_PASSWORD is used when the URL has
// none. The sentinels' own password, if they require one, is
// HEROLD_REDIS_SENTINEL_PASSWORD. Special characters in a password are written
// %-escaped (%40 for @). The URL takes no query parameters: timeouts and pool
// sizes are the settings below. A cluster has only database 0.
//
// With HEROLD_REDIS_MIN_REPLICAS_ACK above 0, writes that must survive the loss
// of the primary (an accepted message, a recorded consent or withdrawal) are
// acknowledged only after Redis WAIT confirms that many replicas have them;
// when they do not confirm within HEROLD_REDIS_ACK_TIMEOUT, the write is
// reported as failed although the primary may still hold it.
type Redis struct {
	URL              string        `env:"HEROLD_REDIS_URL" default:"redis://127.0.0.1:6379/0" help:"Redis to use: redis://host:port/db (one server), redis+sentinel://s1:port,s2:port/master/db (Sentinel), redis+cluster://n1:port,n2:port/ (Cluster); rediss… for TLS; the password may be in the URL"`
	Password         string        `env:"HEROLD_REDIS_PASSWORD" secret:"true" help:"password of the Redis servers, if not in the URL"`
	SentinelPassword string        `env:"HEROLD_REDIS_SENTINEL_PASSWORD" secret:"true" help:"password of the sentinels themselves (redis+sentinel:// only), if they require one"`
	TLSCAFile        string        `env:"HEROLD_REDIS_TLS_CA_FILE" help:"PEM file of the CA certificates that sign the Redis servers' certificates (rediss… URLs; default: the system's)"`
	KeyPrefix        string        `env:"HEROLD_REDIS_PREFIX" default:"herold:" help:"prefix of every key Herold writes (asynq's own keys start with asynq:); no { or }"`
	PoolSize         int           `env:"HEROLD_REDIS_POOL_SIZE" default:"0" help:"connections per Redis server; 0: 10 per CPU plus the worker concurrency"`
	DialTimeout      time.Duration `env:"HEROLD_REDIS_DIAL_TIMEOUT" default:"2s" help:"how long connecting to a Redis server may take"`
	ReadTimeout      time.Duration `env:"HEROLD_REDIS_READ_TIMEOUT" default:"3s" help:"how long Herold waits for a Redis reply"`
	WriteTimeout     time.Duration `env:"HEROLD_REDIS_WRITE_TIMEOUT" default:"3s" help:"how long sending a command to Redis may take"`
	MinReplicasAck   int           `env:"HEROLD_REDIS_MIN_REPLICAS_ACK" default:"0" help:"replicas that must confirm (Redis WAIT) an accepted message or recorded consent before Herold answers; 0: none (one Redis), 1 recommended with replicas"`
	AckTimeout       time.Duration `env:"HEROLD_REDIS_ACK_TIMEOUT" default:"1s" help:"how long a write waits for HEROLD_REDIS_MIN_REPLICAS_ACK replicas before it fails (below HEROLD_REDIS_READ_TIMEOUT)"`
}

// Validate checks the URL and the numbers. Errors name the setting and the
// part of the value that is wrong, never a password.
func (r *Redis) Validate() error {
	t, err := r.Target()
	if err != nil {
		return err
	}
	if r.SentinelPassword != "" && t.Mode != RedisSentinel {
		return fmt.Errorf("HEROLD_REDIS_SENTINEL_PASSWORD: set, but HEROLD_REDIS_URL is not a redis+sentinel:// URL")
	}
	if r.TLSCAFile != "" && !t.TLS {
		return fmt.Errorf("HEROLD_REDIS_TLS_CA_FILE: set, but HEROLD_REDIS_URL does not use TLS (rediss://, rediss+sentinel:// or rediss+cluster://)")
	}
	if strings.ContainsAny(r.KeyPrefix, "{}") {
		return fmt.Errorf("HEROLD_REDIS_PREFIX: %q contains { or }, which would put every key in one Redis Cluster hash slot", r.KeyPrefix)
	}
	if r.PoolSize < 0 {
		return fmt.Errorf("HEROLD_REDIS_POOL_SIZE: must not be negative, got %d", r.PoolSize)
	}
	for _, d := range []struct {
		env string
		v   time.Duration
	}{{"HEROLD_REDIS_DIAL_TIMEOUT", r.DialTimeout}, {"HEROLD_REDIS_READ_TIMEOUT", r.ReadTimeout}, {"HEROLD_REDIS_WRITE_TIMEOUT", r.WriteTimeout}} {
		if d.v < time.Millisecond {
			return fmt.Errorf("%s: must be at least 1ms, got %s", d.env, d.v)
		}
	}
	if r.MinReplicasAck < 0 {
		return fmt.Errorf("HEROLD_REDIS_MIN_REPLICAS_ACK: must not be negative, got %d", r.MinReplicasAck)
	}
	if r.MinReplicasAck > 0 {
		// WAIT 0 would block for ever; and a WAIT sent in a pipeline is read
		// with the pipeline's read deadline, so it must answer before that.
		if r.AckTimeout < time.Millisecond {
			return fmt.Errorf("HEROLD_REDIS_ACK_TIMEOUT: must be at least 1ms when HEROLD_REDIS_MIN_REPLICAS_ACK is %d, got %s", r.MinReplicasAck, r.AckTimeout)
		}
		if r.AckTimeout >= r.ReadTimeout {
			return fmt.Errorf("HEROLD_REDIS_ACK_TIMEOUT: %s must be shorter than HEROLD_REDIS_READ_TIMEOUT (%s)", r.AckTimeout, r.ReadTimeout)
		}
	}
	return nil
}

// Target returns HEROLD_REDIS_URL taken apart, with HEROLD_REDIS_PASSWORD
// filled in when the URL has no password.
func (r *Redis) Target() (RedisTarget, error) {
	t, err := ParseRedisURL(r.URL)
	if err != nil {
		return RedisTarget{}, fmt.Errorf("HEROLD_REDIS_URL: %w", err)
	}
	if t.Password == "" {
		t.Password = r.Password
	}
	return t, nil
}

// RedisMode is the kind of Redis topology a URL names.
type RedisMode string

// The topologies HEROLD_REDIS_URL can name.
const (
	RedisSingle   RedisMode = "single"   // redis://, rediss://
	RedisSentinel RedisMode = "sentinel" // redis+sentinel://, rediss+sentinel://
	RedisCluster  RedisMode = "cluster"  // redis+cluster://, rediss+cluster://
)

// RedisTarget is a Redis URL taken apart. Only String is safe to log: it
// leaves out the password.
type RedisTarget struct {
	Mode RedisMode
	// Addrs are host:port pairs: the server (single), the sentinels
	// (sentinel) or the seed nodes (cluster).
	Addrs      []string
	MasterName string // sentinel only
	DB         int    // always 0 on a cluster
	Username   string // of the Redis servers, not the sentinels
	Password   string // of the Redis servers, not the sentinels
	TLS        bool
}

// String names the topology and its addresses, without credentials, for
// error messages and logs.
func (t RedisTarget) String() string {
	addrs := strings.Join(t.Addrs, ",")
	switch t.Mode {
	case RedisSentinel:
		return fmt.Sprintf("master %q via sentinels %s", t.MasterName, addrs)
	case RedisCluster:
		return "cluster seeds " + addrs
	default:
		return addrs
	}
}

var redisSchemes = map[string]struct {
	mode        RedisMode
	tls         bool
	defaultPort string
}{
	"redis":           {RedisSingle, false, "6379"},
	"rediss":          {RedisSingle, true, "6379"},
	"redis+sentinel":  {RedisSentinel, false, "26379"},
	"rediss+sentinel": {RedisSentinel, true, "26379"},
	"redis+cluster":   {RedisCluster, false, "6379"},
	"rediss+cluster":  {RedisCluster, true, "6379"},
}

// ParseRedisURL takes apart a URL of one of the forms documented on Redis.
// Its errors name the part that is wrong and never contain the password.
func ParseRedisURL(raw string) (RedisTarget, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return RedisTarget{}, fmt.Errorf("no scheme; want redis://, rediss://, redis+sentinel://, redis+cluster:// or their rediss+… forms")
	}
	s, ok := redisSchemes[strings.ToLower(scheme)]
	if !ok {
		return RedisTarget{}, fmt.Errorf("scheme %q is not redis, rediss, redis+sentinel, rediss+sentinel, redis+cluster or rediss+cluster", scheme)
	}
	t := RedisTarget{Mode: s.mode, TLS: s.tls}
	// The password may hold any character, so the user information ends at
	// the last @; nothing after it (hosts, master name, db) can contain one.
	if at := strings.LastIndexByte(rest, '@'); at >= 0 {
		user, pass, _ := strings.Cut(rest[:at], ":")
		var err error
		if t.Username, err = url.PathUnescape(user); err != nil {
			return RedisTarget{}, fmt.Errorf("the user name has a bad %%-escape")
		}
		if t.Password, err = url.PathUnescape(pass); err != nil {
			return RedisTarget{}, fmt.Errorf("the password has a bad %%-escape")
		}
		rest = rest[at+1:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		// Not quoted: a query may carry a password.
		return RedisTarget{}, fmt.Errorf("the URL has a query (?…) or fragment (#…), which it takes none of; set timeouts and pool sizes with the HEROLD_REDIS_* settings")
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if hosts == "" {
		return RedisTarget{}, fmt.Errorf("no host: want %s://host:port…", scheme)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		addr, err := redisAddr(h, s.defaultPort)
		if err != nil {
			return RedisTarget{}, err
		}
		t.Addrs = append(t.Addrs, addr)
	}
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if path == "" || path == "/" {
		segs = nil
	}
	switch t.Mode {
	case RedisSingle:
		if len(t.Addrs) > 1 {
			return RedisTarget{}, fmt.Errorf("%s:// names one server, got %d (%s); for several use redis+sentinel:// or redis+cluster://", scheme, len(t.Addrs), hosts)
		}
		if len(segs) > 1 {
			return RedisTarget{}, fmt.Errorf("path %q: want /db, a database number", "/"+path)
		}
	case RedisSentinel:
		if len(segs) == 0 || segs[0] == "" {
			return RedisTarget{}, fmt.Errorf("no master name: want %s://host:port,host:port/master[/db]", scheme)
		}
		t.MasterName, segs = segs[0], segs[1:]
		if len(segs) > 1 {
			return RedisTarget{}, fmt.Errorf("path %q: want /master or /master/db", "/"+path)
		}
	case RedisCluster:
		if len(segs) > 1 || (len(segs) == 1 && segs[0] != "0") {
			return RedisTarget{}, fmt.Errorf("path %q: a cluster has only database 0; want %s://host:port,host:port/", "/"+path, scheme)
		}
		segs = nil
	}
	if len(segs) == 1 {
		db, err := strconv.Atoi(segs[0])
		if err != nil || db < 0 {
			return RedisTarget{}, fmt.Errorf("database %q is not a number 0 or above", segs[0])
		}
		t.DB = db
	}
	return t, nil
}

// redisAddr checks one host[:port] of a URL and adds the default port.
func redisAddr(h, defaultPort string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("empty address in the host list (two commas, or one at an end)")
	}
	host, port, err := net.SplitHostPort(h)
	if err != nil {
		// No port: host alone, or a bracketed IPv6 address.
		host, port = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"), defaultPort
		if strings.ContainsAny(host, "[]") || (strings.Contains(host, ":") && !strings.HasPrefix(h, "[")) {
			return "", fmt.Errorf("address %q is not host:port (write an IPv6 address as [addr]:port)", h)
		}
	}
	if host == "" {
		return "", fmt.Errorf("address %q has no host", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("port %q of address %q is not a number 1-65535", port, h)
	}
	return net.JoinHostPort(host, port), nil
}
