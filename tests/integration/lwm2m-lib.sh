# shellcheck shell=bash
# Helpers of the 2xx-lwm2m-*.t tests: TAP output, a private temp dir, free
# UDP ports on 127.0.0.1, background processes that are always cleaned up
# (only the PIDs started here). To be replaced by tests/lab/lab.sh once it
# lands on main.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=${M2M_BIN_DIR:-$ROOT/build/bin}
TOOLS=$ROOT/build/tests/tools
T=$(mktemp -d /tmp/m2m-lwm2m-test.XXXXXX)
chmod 700 "$T"
_n=0
_fail=0
_pids=()

_cleanup() {
	local p
	for p in "${_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		wait "$p" 2>/dev/null
	done
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap _cleanup EXIT

plan() { echo "1..$1"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
ok() {
	local cond=$1; shift
	_n=$((_n + 1))
	if [ "$cond" = 0 ]; then
		echo "ok $_n - $*"
	else
		echo "not ok $_n - $*"
		_fail=$((_fail + 1))
	fi
}
is() {
	local got=$1 want=$2; shift 2
	[ "$got" = "$want" ]
	ok $? "$* (got '$got', want '$want')"
}
diag() { sed 's/^/# /' <<<"$*"; }
done_testing() { exit $((_fail > 0)); }

# term_within PID SECS: SIGTERM to PID (one of ours), then wait for it to end, at most SECS;
# $ms is how long it took. True if it ended in time.
term_within() {
	local pid=$1 secs=$2 t0 i
	t0=$(date +%s%N)
	kill -TERM "$pid"
	for ((i = 0; i < secs * 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	ms=$((($(date +%s%N) - t0) / 1000000))
	! kill -0 "$pid" 2>/dev/null
}

# A UDP port (and port+1, for servers with DTLS there) that nothing listens on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		if ! ss -Hlun "sport = :$p or sport = :$((p + 1))" | grep -q .; then
			echo "$p"
			return
		fi
	done
}

# Start a command in the background with output to a file; its PID is
# remembered for cleanup and echoed in $BG_PID.
bg() {
	local out=$1; shift
	"$@" >"$out" 2>"$out.err" &
	BG_PID=$!
	_pids+=("$BG_PID")
}

# Wait until file contains a line matching regex, at most seconds.
wait_for() {
	local file=$1 re=$2 secs=${3:-10} i
	for ((i = 0; i < secs * 20; i++)); do
		grep -qE "$re" "$file" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# test_pki CA [NAME...]: a CA ($T/CA.pem, .key) and certificates it signs for each NAME
# ($T/NAME.pem, .key): "server" names 127.0.0.1 (where the tests' servers listen), any
# other NAME.example. P-256 keys, valid two days.
test_pki() {
	local ca=$1 n
	shift
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-keyout "$T/$ca.key" -out "$T/$ca.pem" -subj "/CN=$ca" 2>/dev/null
	for n in "$@"; do
		openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$n.key" \
			-out "$T/$n.csr" -subj "/CN=$n" 2>/dev/null
		case $n in
		server) echo "subjectAltName=IP:127.0.0.1" >"$T/$n.ext" ;;
		*) echo "subjectAltName=DNS:$n.example" >"$T/$n.ext" ;;
		esac
		openssl x509 -req -in "$T/$n.csr" -CA "$T/$ca.pem" -CAkey "$T/$ca.key" \
			-CAcreateserial -days 2 -extfile "$T/$n.ext" -out "$T/$n.pem" 2>/dev/null
	done
}

lwm2m_server_setup() {
	command -v node >/dev/null || skip_all "node not installed (scripts/deps.sh)"
	LWM2M_NODE_MODULES=$("$ROOT/tests/tools/lwm2m-server-setup.sh") ||
		skip_all "cannot install lwm2m-node-lib from npm"
	export LWM2M_NODE_MODULES
}

# check_result LOG CHECK: the server's verdict on one check of its plan
check_result() {
	local line want=${2//\"/\\\"}
	line=$(grep -F "\"check\":\"$want\"" "$1" | head -1)
	[ -n "$line" ] || { echo missing; return; }
	if grep -q '"ok":true' <<<"$line"; then echo pass; else echo "fail: ${line:0:300}"; fi
}

# observer_lab PORT ENDPOINT [YAML-LINE...]: a plain-CoAP device ($T/m2m.yaml, exported as
# M2M_CONFIG; state in $T/state; its latitude read from $T/location, which `loc LAT` sets,
# 48.1 at first) and the project's test server tests/tools/lw-observer.py on
# 127.0.0.1:PORT, its events in $T/srv.log. `ctl COMMAND` sends it a command through a
# FIFO kept open on fd 9. YAML-LINEs go into dm:, two spaces indented.
loc() { printf '%s 2.35\n' "$1" >"$T/location"; }
ctl() { echo "$*" >&9; }
observer_lab() {
	local port=$1 ep=$2 line
	shift 2
	loc 48.1
	{
		printf 'version: 1\ndevice: {id: %s}\nstate_dir: %s/state\ndm:\n' "$ep" "$T"
		printf '  server: "coap://127.0.0.1:%s"\n  security: nosec\n' "$port"
		for line in "$@"; do printf '  %s\n' "$line"; done
		printf '  location: %s/location\n' "$T"
	} >"$T/m2m.yaml"
	export M2M_CONFIG=$T/m2m.yaml
	mkfifo "$T/ctl"
	bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-observer.py" "$port" "$T/ctl"
	exec 9>"$T/ctl"
	wait_for "$T/srv.log" '"event":"listening"' 10
}

# bs_peers BSPORT SRVPORT EP WINDOW: the scripted bootstrap server
# (tests/tools/lw-bs-peer.py, its requests in $T/script, events in $T/bs.log)
# on BSPORT, the test LwM2M server (tests/tools/lw-observer.py, commands on fd
# 9, events in $T/srv.log) on SRVPORT, and $M2M_CONFIG bootstrapping EP from
# the first with queue window WINDOW.
bs_peers() {
	bg "$T/bs.log" python3 "$ROOT/tests/tools/lw-bs-peer.py" "$1" "$T/script"
	mkfifo "$T/ctl"
	bg "$T/srv.log" python3 "$ROOT/tests/tools/lw-observer.py" "$2" "$T/ctl"
	exec 9>"$T/ctl"
	wait_for "$T/bs.log" '"event":"listening"' 10
	wait_for "$T/srv.log" '"event":"listening"' 10
	printf 'version: 1\ndevice: {id: %s}\nstate_dir: %s\ndm:\n  bootstrap: "coap://127.0.0.1:%s"\n  security: nosec\n  queue_window: %s\n  jitter: 0s\n  timeout: 30s\n' \
		"$3" "$T/state" "$1" "$4" >"$T/m2m.yaml"
	export M2M_CONFIG=$T/m2m.yaml
}
# bs_step NAME: the bootstrap peer's answer to its request NAME (a JSON line)
bs_step() { grep "\"step\":\"$1\"" "$T/bs.log"; }
# jfield JSON KEY: one member of a JSON object
jfield() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

# rawrd_peer NAME OPTION...: the raw LwM2M server peer tests/tools/lw-rawrd.py on a port
# of its own ($port), its events in $T/NAME.log, listening when this returns
rawrd_peer() {
	local name=$1
	shift
	port=$(free_port)
	bg "$T/$name.log" python3 "$ROOT/tests/tools/lw-rawrd.py" "$port" "$@"
	wait_for "$T/$name.log" '"event":"listening"' 10
}
