# Shared by scripts/redis-cluster and scripts/redis-sentinel (sourced, not run).
# Every function reports on stderr and returns non-zero instead of exiting, so
# the calling script decides what a failure means.

# redis_need_binaries: make sure redis-server and redis-cli exist. As root on
# Debian/Ubuntu they are installed with apt-get (the redis-server package brings
# redis-tools, which holds redis-cli); elsewhere the message says what to install.
redis_need_binaries() {
	local missing=()
	command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
	command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" = 0 ] && [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
		echo "$prog: installing ${missing[*]} with apt-get" >&2
		# A fresh machine may have no package lists yet.
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
			{ apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2; } ||
			return 1
		command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
	fi
	echo "$prog: needs redis-server and redis-cli (Redis 6.2 or newer), missing: ${missing[*]}" >&2
	echo "  Debian/Ubuntu: apt-get install -y redis-server redis-tools (as root, this script does it)" >&2
	echo "  Fedora/RHEL:   dnf install -y redis     macOS: brew install redis" >&2
	return 1
}

# redis_check_port NAME VALUE: VALUE is a port number that leaves room for
# COUNT consecutive ports (third argument).
redis_check_port() {
	case "$2" in
	'' | *[!0-9]*)
		echo "$prog: $1=$2 is not a port number" >&2
		return 1
		;;
	esac
	if [ "$2" -lt 1024 ] || [ $(($2 + $3 - 1)) -gt 65535 ]; then
		echo "$prog: $1=$2: ports $2..$(($2 + $3 - 1)) must lie within 1024..65535" >&2
		return 1
	fi
}

# redis_check_dir DIR: refuse a data directory inside this repository, so
# throw-away data never ends up in a commit.
redis_check_dir() {
	local repo dir
	repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
	# realpath -m resolves a path that does not exist yet, so nothing is
	# created inside the repository before the check.
	dir=$(realpath -m "$1" 2>/dev/null) || dir=$1
	case "$dir/" in
	"$repo/"*)
		echo "$prog: data directory $dir is inside the repository $repo; choose one outside it" >&2
		return 1
		;;
	esac
	mkdir -p "$1"
}

# rcli PORT ARGS...: redis-cli against a node on $host; the password travels in
# the environment (REDISCLI_AUTH), never on a command line others can read.
rcli() {
	local port=$1
	shift
	rauth redis-cli --no-auth-warning -h "$host" -p "$port" "$@"
}

# rauth COMMAND...: run COMMAND with REDISCLI_AUTH set to $rcli_auth when that
# is not empty (an empty REDISCLI_AUTH would make redis-cli send AUTH "").
rauth() {
	if [ -n "${rcli_auth:-}" ]; then
		REDISCLI_AUTH=$rcli_auth "$@"
	else
		"$@"
	fi
}

# redis_answers PORT: a Redis (or Sentinel) answers PING there.
redis_answers() {
	[ "$(rcli "$1" ping 2>/dev/null)" = "PONG" ]
}

# redis_info_field PORT SECTION FIELD: one field of INFO SECTION.
redis_info_field() {
	rcli "$1" info "$2" 2>/dev/null | tr -d '\r' | sed -n "s/^$3://p"
}

# redis_is_ours PORT PIDFILE: the process answering on PORT is the one this
# script started (its process id is in PIDFILE), not someone else's Redis.
redis_is_ours() {
	local pid
	[ -s "$2" ] || return 1
	pid=$(cat "$2")
	[ "$(redis_info_field "$1" server process_id)" = "$pid" ]
}

# redis_port_in_use PORT: something listens on PORT (a Redis or anything else).
redis_port_in_use() {
	(exec 3<>"/dev/tcp/$host/$1") 2>/dev/null
}

# redis_start NAME PORT CONF PIDFILE [--sentinel]: start one daemonized server
# from CONF unless ours already answers on PORT; wait until it answers.
redis_start() {
	local name=$1 port=$2 conf=$3 pidfile=$4
	shift 4
	if redis_answers "$port"; then
		redis_is_ours "$port" "$pidfile" && return 0
		echo "$prog: port $port already has a Redis that this script did not start; choose other ports" >&2
		return 1
	fi
	if redis_port_in_use "$port"; then
		echo "$prog: port $port is in use by another program; choose other ports" >&2
		return 1
	fi
	redis-server "$conf" "$@" || {
		echo "$prog: $name on port $port did not start" >&2
		return 1
	}
	local i
	for i in $(seq 1 100); do
		redis_answers "$port" && return 0
		sleep 0.1
	done
	echo "$prog: $name on port $port does not answer; its log:" >&2
	tail -n 20 "$(dirname "$conf")/redis.log" >&2 2>/dev/null
	return 1
}

# redis_stop PORT PIDFILE: stop the server we started on PORT, without saving,
# and wait until its process is gone. Nothing to do when it is not running.
redis_stop() {
	local port=$1 pidfile=$2 pid i
	[ -s "$pidfile" ] || return 0
	pid=$(cat "$pidfile")
	if ! kill -0 "$pid" 2>/dev/null; then
		rm -f "$pidfile"
		return 0
	fi
	if redis_is_ours "$port" "$pidfile"; then
		rcli "$port" shutdown nosave >/dev/null 2>&1 || true
	fi
	for i in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$i" = 20 ] && kill "$pid" 2>/dev/null
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

# redis_wait SECONDS WHAT COMMAND...: run COMMAND until it succeeds, at most
# SECONDS long; then report WHAT did not happen.
redis_wait() {
	local secs=$1 what=$2 i
	shift 2
	for i in $(seq 1 $((secs * 10))); do
		"$@" && return 0
		sleep 0.1
	done
	echo "$prog: timed out after ${secs}s waiting until $what" >&2
	return 1
}
