package config_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/heroldhq/herold/internal/config"
)

func TestParseRedisURL(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url  string
		want config.RedisTarget
	}{
		{"redis://127.0.0.1:6379/0", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"127.0.0.1:6379"}}},
		{"redis://localhost", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"localhost:6379"}}},
		{"rediss://:p%40ss@redis.internal:6380/3", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"redis.internal:6380"}, DB: 3, Password: "p@ss", TLS: true}},
		{"redis://app:pw/with@at@h:1/", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"h:1"}, Username: "app", Password: "pw/with@at"}},
		{"redis://[::1]:7000", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"[::1]:7000"}}},
		{"redis://[::1]", config.RedisTarget{Mode: config.RedisSingle, Addrs: []string{"[::1]:6379"}}},
		{"redis+cluster://10.0.0.1:7000,10.0.0.2:7001,10.0.0.3/", config.RedisTarget{Mode: config.RedisCluster, Addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:6379"}}},
		{"rediss+cluster://:pw@n1:7000", config.RedisTarget{Mode: config.RedisCluster, Addrs: []string{"n1:7000"}, Password: "pw", TLS: true}},
		{"redis+cluster://n1:7000/0", config.RedisTarget{Mode: config.RedisCluster, Addrs: []string{"n1:7000"}}},
		{"redis+sentinel://s1:26400,s2,s3:26402/herold/2", config.RedisTarget{Mode: config.RedisSentinel, Addrs: []string{"s1:26400", "s2:26379", "s3:26402"}, MasterName: "herold", DB: 2}},
		{"rediss+sentinel://:pw@s1:26400/mymaster/", config.RedisTarget{Mode: config.RedisSentinel, Addrs: []string{"s1:26400"}, MasterName: "mymaster", Password: "pw", TLS: true}},
		{"REDIS+SENTINEL://s1/m", config.RedisTarget{Mode: config.RedisSentinel, Addrs: []string{"s1:26379"}, MasterName: "m"}},
	}
	for _, c := range cases {
		got, err := config.ParseRedisURL(c.url)
		if err != nil {
			t.Errorf("ParseRedisURL(%q): %v", c.url, err)
			continue
		}
		if diff := cmp.Diff(c.want, got); diff != "" {
			t.Errorf("ParseRedisURL(%q) (-want +got):\n%s", c.url, diff)
		}
	}
}

// Every rejected URL carries the password "hunter2pw"; no error may show it.
func TestParseRedisURLNamesTheBadPart(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, want string }{
		{"hunter2pw@127.0.0.1:6379", "no scheme"},
		{"tcp://:hunter2pw@127.0.0.1:6379", `scheme "tcp"`},
		{"unix://:hunter2pw@/run/redis.sock", `scheme "unix"`},
		{"redis://:hunter2pw@", "no host"},
		{"redis://:hunter2pw@h1:6379,h2:6379/0", "names one server"},
		{"redis://:hunter2pw@h1:port/0", `port "port"`},
		{"redis://:hunter2pw@h1:99999/0", `port "99999"`},
		{"redis://:hunter2pw@h1:6379/x", `database "x"`},
		{"redis://:hunter2pw@h1:6379/-1", `database "-1"`},
		{"redis://:hunter2pw@h1:6379/0/1", `path "/0/1"`},
		{"redis://:hunter2pw@h1:6379/0?dial_timeout=3s", "query"},
		{"redis://h1:6379/0?password=hunter2pw", "query"},
		{"redis://:hunter2pw@::1:6379", `address "::1:6379"`},
		{"redis+cluster://:hunter2pw@h1:7000,,h2:7001", "empty address"},
		{"redis+cluster://:hunter2pw@h1:7000,:7001", `address ":7001" has no host`},
		{"redis+cluster://:hunter2pw@h1:7000/3", "only database 0"},
		{"redis+sentinel://:hunter2pw@s1:26379", "no master name"},
		{"redis+sentinel://:hunter2pw@s1:26379/", "no master name"},
		{"redis+sentinel://:hunter2pw@s1:26379/m/x", `database "x"`},
		{"redis+sentinel://:hunter2pw@s1:26379/m/0/9", `path "/m/0/9"`},
		{"redis://:hunter2p%zz@h1", "password has a bad %-escape"},
	}
	for _, c := range cases {
		_, err := config.ParseRedisURL(c.url)
		if err == nil {
			t.Errorf("ParseRedisURL(%q) accepted it", c.url)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRedisURL(%q) = %q, does not name %q", c.url, err, c.want)
		}
		if strings.Contains(err.Error(), "hunter2p") {
			t.Errorf("ParseRedisURL(%q) = %q reveals the password", c.url, err)
		}
	}
}

func TestRedisValidate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want []string // nil: valid
	}{
		{"defaults", nil, nil},
		{"sentinel with passwords", map[string]string{
			"HEROLD_REDIS_URL": "redis+sentinel://s1:26379,s2:26379/herold/0", "HEROLD_REDIS_PASSWORD": "a", "HEROLD_REDIS_SENTINEL_PASSWORD": "b",
		}, nil},
		{"acks", map[string]string{"HEROLD_REDIS_MIN_REPLICAS_ACK": "1", "HEROLD_REDIS_ACK_TIMEOUT": "500ms"}, nil},
		{"sentinel password without sentinel", map[string]string{"HEROLD_REDIS_SENTINEL_PASSWORD": "b"}, []string{"HEROLD_REDIS_SENTINEL_PASSWORD", "redis+sentinel"}},
		{"ca file without tls", map[string]string{"HEROLD_REDIS_TLS_CA_FILE": "/etc/ca.pem"}, []string{"HEROLD_REDIS_TLS_CA_FILE", "TLS"}},
		{"prefix with hash tag", map[string]string{"HEROLD_REDIS_PREFIX": "{herold}:"}, []string{"HEROLD_REDIS_PREFIX", "hash slot"}},
		{"negative pool", map[string]string{"HEROLD_REDIS_POOL_SIZE": "-1"}, []string{"HEROLD_REDIS_POOL_SIZE"}},
		{"zero read timeout", map[string]string{"HEROLD_REDIS_READ_TIMEOUT": "0s"}, []string{"HEROLD_REDIS_READ_TIMEOUT"}},
		{"negative acks", map[string]string{"HEROLD_REDIS_MIN_REPLICAS_ACK": "-1"}, []string{"HEROLD_REDIS_MIN_REPLICAS_ACK"}},
		{"ack timeout zero", map[string]string{"HEROLD_REDIS_MIN_REPLICAS_ACK": "1", "HEROLD_REDIS_ACK_TIMEOUT": "0s"}, []string{"HEROLD_REDIS_ACK_TIMEOUT", "at least 1ms"}},
		{"ack timeout beyond read timeout", map[string]string{"HEROLD_REDIS_MIN_REPLICAS_ACK": "1", "HEROLD_REDIS_ACK_TIMEOUT": "5s"}, []string{"HEROLD_REDIS_ACK_TIMEOUT", "HEROLD_REDIS_READ_TIMEOUT"}},
		{"bad url", map[string]string{"HEROLD_REDIS_URL": "redis+cluster://:hunter2pw@h1:7000/3"}, []string{"HEROLD_REDIS_URL", "only database 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := load(t, c.env)
			if c.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not name %s:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "hunter2pw") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
}

func TestRedisTarget(t *testing.T) {
	t.Parallel()
	cfg, err := load(t, map[string]string{
		"HEROLD_REDIS_URL":      "redis+sentinel://s1:26379,s2:26380/herold/1",
		"HEROLD_REDIS_PASSWORD": "from-setting",
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Redis.Target()
	if err != nil {
		t.Fatal(err)
	}
	if got.Password != "from-setting" {
		t.Errorf("password %q, want HEROLD_REDIS_PASSWORD when the URL has none", got.Password)
	}
	if s := got.String(); s != `master "herold" via sentinels s1:26379,s2:26380` || strings.Contains(s, "from-setting") {
		t.Errorf("String() = %q", s)
	}
	cfg.Redis.URL = "redis://:in-url@h:1/0"
	if got, _ := cfg.Redis.Target(); got.Password != "in-url" {
		t.Errorf("password %q, want the URL's over HEROLD_REDIS_PASSWORD", got.Password)
	}
	if cfg.Redis.AckTimeout != time.Second || cfg.Redis.MinReplicasAck != 0 {
		t.Errorf("defaults: ack timeout %s, replicas %d", cfg.Redis.AckTimeout, cfg.Redis.MinReplicasAck)
	}
}

// No error of the parser may contain the password, whatever surrounds it.
func FuzzParseRedisURLHidesPassword(f *testing.F) {
	f.Add("redis", "hunter2pw", "h1:6379/0")
	f.Add("redis+sentinel", "s3cr3t!", "s1,s2/m/x")
	f.Add("redis+cluster", "pa:ss/wd", "h1:7000,,h2")
	f.Fuzz(func(t *testing.T, scheme, password, rest string) {
		if len(password) < 4 || strings.ContainsAny(password, "@%") ||
			strings.Contains(strconv.Quote(scheme), password) || strings.Contains(strconv.Quote(rest), password) {
			return // too short to tell apart, or also outside the password (as quoted in errors)
		}
		_, err := config.ParseRedisURL(scheme + "://:" + password + "@" + rest)
		if err != nil && strings.Contains(err.Error(), password) {
			t.Fatalf("error reveals the password %q: %v", password, err)
		}
	})
}
