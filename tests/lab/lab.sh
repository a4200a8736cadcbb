#!/bin/bash
# shellcheck shell=bash disable=SC2034
#
# tests/lab/lab.sh - the m2m integration-test lab (bash library + small CLI).
#
# A lab is two network namespaces joined by a veth pair, each running its own
# strongSwan charon:
#
#   <NS_GW>  m2mt-<id>-gw   lnka 10.99.0.1/24, inner service address 10.99.1.1/32 on lo,
#                           VIP pool 10.99.2.0/24; charon configured with swanctl --load-all
#   <NS_DEV> m2mt-<id>-dev  lnka 10.99.0.2/24, default route via 10.99.0.1 (metric 100), so the
#                           inner address is reachable IN CLEAR without a tunnel (a leak is
#                           answered). charon gets NO swanctl.conf: the tool under test
#                           (m2mvpn-connect) loads everything over VICI.
#   optional link B (lab_link_b): lnkb 10.99.5.1/24 (gw) -- 10.99.5.2/24 (dev), device default
#                           route via 10.99.5.1 metric 200 (MOBIKE roaming).
#
# ESP is done in user space by kernel-libipsec (TUN device ipsec0; this kernel has no
# CONFIG_INET_ESP), so ESP always travels in UDP/4500 and `ip xfrm state` stays empty.
# Each charon runs in a private mount namespace with $LAB/<gw|dev>/run bound over /run
# (charon 5.9.8 hard-codes /var/run/charon.pid); its VICI socket is
# $LAB/<gw|dev>/run/charon.vici, reachable from the host namespace by path.
#
# Every lab is private to the process that created it: unique namespace names
# (m2mt-<id>-gw/-dev, <id> = suffix of the lab dir from mktemp), a lab dir
# /tmp/m2m-test.XXXXXX, and a trap on EXIT/INT/TERM/HUP that tears down exactly what
# the lab started: only recorded PIDs (checked against their start time, so a reused PID
# is never hit), then whatever is left inside the lab's OWN namespaces, then the
# namespaces and the directory. LAB_KEEP=1 keeps the directory (logs, pcaps) and
# LAB_KEEP=fail keeps it only if a test failed.
#
# Use from a test (tests/integration/*.t):
#
#   . "$(dirname "$0")/../lab/lab.sh"
#   lab_require            # "1..0 # SKIP ..." and exit unless root + netns + tools
#   lab_require_tool       # fails the file if build/bin/m2mvpn-connect is missing
#   lab_up                 # lab_init + lab_net + both charons + gateway config + m2m.yaml
#   plan 3
#   m2m up pos --timeout 20;  is_rc 0 "up"
#   ...
#   (cleanup is automatic)
#
# Manual use:
#   tests/lab/lab.sh up            build a lab, leave it running, print its directory
#   tests/lab/lab.sh env DIR       print shell variable assignments of that lab
#   tests/lab/lab.sh down DIR      tear that lab down
#   tests/lab/lab.sh gc [--all]    tear down labs whose creating process is gone
#                                  (--all: also labs made with "up")
#   To drive a lab by hand:  . tests/lab/lab.sh; lab_attach DIR; in_dev ping 10.99.1.1
#
# Environment:
#   M2M_BIN_DIR   directory of the tools (default <repo>/build/bin)
#   LAB_KEEP      1: keep the lab dir after teardown; fail: keep it if a test failed
#   LAB_VERBOSE   1: print lab progress as TAP comments
#   LAB_CHARON    charon binary (default /usr/lib/ipsec/charon)
#   LAB_TOOL_LIMIT hard limit in seconds for one tool run via m2m() (default 90)

if [ -n "${_M2M_LAB_SH_LOADED:-}" ]; then return 0 2>/dev/null || exit 0; fi
_M2M_LAB_SH_LOADED=1

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin${PATH:+:$PATH}
export LC_ALL=C TZ=UTC

# ------------------------------------------------------------------ constants
LAB_SRC_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_REPO=$(cd "$LAB_SRC_DIR/../.." && pwd)
LAB_TOOLS=$LAB_REPO/tests/tools
M2M_BIN_DIR=${M2M_BIN_DIR:-$LAB_REPO/build/bin}
M2M_BIN=${M2M_BIN:-$M2M_BIN_DIR/m2mvpn-connect}
LAB_CHARON=${LAB_CHARON:-/usr/lib/ipsec/charon}
if [ -x /usr/bin/python3 ]; then LAB_PY=/usr/bin/python3; else LAB_PY=python3; fi

LAB_GW_IP=10.99.0.1        # gateway, link A
LAB_DEV_IP=10.99.0.2       # device, link A
LAB_DEAD_IP=10.99.0.9      # on link A, nobody there
LAB_INNER_IP=10.99.1.1     # gateway's inner service address (the protected destination)
LAB_POOL=10.99.2.0/24      # virtual IP pool
LAB_GW_IP_B=10.99.5.1      # gateway, link B
LAB_DEV_IP_B=10.99.5.2     # device, link B
LAB_IF_A=lnka              # interface names (same on both ends)
LAB_IF_B=lnkb
LAB_PROPOSAL=aes256gcm16-prfsha256-ecp256
LAB_ESP_PROPOSAL=aes256gcm16

# ------------------------------------------------------------------ TAP helpers
# plan N | plan skip_all REASON   print the plan (before the first test, or use done_testing)
# ok DESC CMD [ARGS...]           run CMD; "ok" if it exits 0
# nok DESC CMD [ARGS...]          "ok" if CMD exits non-zero
# is GOT EXPECTED DESC            string equality
# isnt GOT UNEXPECTED DESC
# like GOT ERE DESC / unlike      extended regular expression match (bash =~)
# cmp_ok GOT OP EXPECTED DESC     integer comparison, OP one of -eq -ne -lt -le -gt -ge
# pass DESC / fail DESC
# skip DESC REASON                one skipped test (skip_n N REASON for several)
# todo REASON / todo_end          mark following tests "# TODO REASON" until todo_end
# diag MSG...                     "# MSG" on stderr (shown by prove)
# note MSG...                     "# MSG" on stdout (shown with prove -v)
# done_testing                    print the plan "1..N" after the last test
# TAP_FAILED holds the number of failed (non-TODO) tests; the exit trap turns it into the
# exit status.
TAP_N=0 TAP_FAILED=0 TAP_PLANNED="" TODO=""
plan() {
	if [ "$1" = skip_all ]; then shift; echo "1..0 # SKIP $*"; TAP_PLANNED=0; exit 0; fi
	TAP_PLANNED=$1; echo "1..$1"
}
_tap_result() {   # _tap_result 0|1 DESC
	local st=$1 desc=$2 dir=""
	TAP_N=$((TAP_N + 1))
	desc=${desc//#/\\#}
	[ -n "$TODO" ] && dir=" # TODO $TODO"
	if [ "$st" = 0 ]; then
		echo "ok $TAP_N - $desc$dir"
	else
		echo "not ok $TAP_N - $desc$dir"
		if [ -z "$TODO" ]; then TAP_FAILED=$((TAP_FAILED + 1)); diag "  Failed test '$2'"
		else note "  Failed (TODO) test '$2'"; fi
	fi
	return "$st"
}
ok()   { local d=$1; shift; if "$@"; then _tap_result 0 "$d"; else _tap_result 1 "$d"; diag "  command: $*"; return 1; fi; }
nok()  { local d=$1; shift; if "$@"; then _tap_result 1 "$d"; diag "  command succeeded: $*"; return 1; else _tap_result 0 "$d"; fi; }
pass() { _tap_result 0 "$1"; }
fail() { _tap_result 1 "$1"; }
is() {
	if [ "$1" = "$2" ]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"; diag "         got: '$1'"; diag "    expected: '$2'"; return 1
}
isnt() {
	if [ "$1" != "$2" ]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"; diag "         got: '$1'"; diag "    expected anything else"; return 1
}
like() {
	if [[ $1 =~ $2 ]]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"; diag "                  '${1:0:2000}'"; diag "    doesn't match '$2'"; return 1
}
unlike() {
	if ! [[ $1 =~ $2 ]]; then _tap_result 0 "$3"; return 0; fi
	_tap_result 1 "$3"; diag "                  '${1:0:2000}'"; diag "          matches '$2'"; return 1
}
cmp_ok() {
	local got=$1 op=$2 exp=$3 desc=$4 r=1
	if [[ $got =~ ^-?[0-9]+$ ]] && [[ $exp =~ ^-?[0-9]+$ ]]; then
		case $op in
		-eq) ((got == exp)) ;; -ne) ((got != exp)) ;;
		-lt) ((got < exp)) ;;  -le) ((got <= exp)) ;;
		-gt) ((got > exp)) ;;  -ge) ((got >= exp)) ;;
		*) false ;;
		esac && r=0
	fi
	if [ $r = 0 ]; then _tap_result 0 "$desc"; return 0; fi
	_tap_result 1 "$desc"; diag "    '$got'"; diag "        $op"; diag "    '$exp'"; return 1
}
skip()   { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1 # SKIP $2"; }
skip_n() { local i; for ((i = 0; i < $1; i++)); do TAP_N=$((TAP_N + 1)); echo "ok $TAP_N # SKIP $2"; done; }
todo()     { TODO=$*; }
todo_end() { TODO=""; }
diag() { local l; while IFS= read -r l; do echo "# $l" >&2; done <<< "$*"; }
note() { local l; while IFS= read -r l; do echo "# $l"; done <<< "$*"; }
done_testing() { [ -n "$TAP_PLANNED" ] || { TAP_PLANNED=$TAP_N; echo "1..$TAP_N"; }; }
lab_log() { [ "${LAB_VERBOSE:-0}" = 1 ] && note "lab[$(lab_t)s]: $*"; return 0; }

# ------------------------------------------------------------------ small helpers
# now_ms                 wall clock in ms (no fork)
# lab_t                  seconds since the lab was created (for log lines)
# wait_until TIMEOUT CMD...  poll CMD every ${WAIT_STEP:-0.1}s until it exits 0 (return 0) or
#                        TIMEOUT seconds (may be fractional) passed (return 1); WAITED_MS = time used
# quiet CMD...           run CMD with stdout/stderr discarded (for ok/nok)
# median                 median of the integers on stdin (one per line)
# in_dev CMD... / in_gw CMD...   run CMD inside the device / gateway namespace
now_ms() { local t=${EPOCHREALTIME/[.,]/}; echo $((t / 1000)); }
# timed CMD...: run CMD in this shell; its wall time in ms is in ELAPSED
timed() { local t0; t0=$(now_ms); "$@"; ELAPSED=$(( $(now_ms) - t0 )); }
lab_t() { local t=$(( $(now_ms) - ${_LAB_T0:-$(now_ms)} )); printf '%d.%03d' $((t / 1000)) $((t % 1000)); }
wait_until() {
	local limit_ms t0 now
	limit_ms=$(awk -v s="$1" 'BEGIN { printf "%d", s * 1000 }'); shift
	t0=$(now_ms)
	while :; do
		if "$@"; then WAITED_MS=$(( $(now_ms) - t0 )); return 0; fi
		now=$(now_ms)
		if [ $((now - t0)) -ge "$limit_ms" ]; then WAITED_MS=$((now - t0)); return 1; fi
		sleep "${WAIT_STEP:-0.1}"
	done
}
quiet() { "$@" > /dev/null 2>&1; }   # quiet CMD...: run CMD without output
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)]; else print "" }'; }
in_dev() { ip netns exec "$NS_DEV" "$@"; }
in_gw()  { ip netns exec "$NS_GW" "$@"; }

# ------------------------------------------------------------------ process bookkeeping
# Every process the lab starts is recorded in $LAB/pids/list as "NAME PID STARTTIME".
# Teardown signals only recorded processes whose /proc/PID/stat start time still matches.
_lab_stat() {   # _lab_stat PID -> "STATE STARTTIME" (fields 3 and 22 of /proc/PID/stat)
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	set -- $s
	echo "$1 ${20}"
}
# lab_alive PID [STARTTIME]: true if PID exists, is no zombie (and started at STARTTIME)
lab_alive() {
	local st
	st=$(_lab_stat "$1") || return 1
	set -- "$1" "${2:-}" $st
	[ "$3" != Z ] && { [ -z "$2" ] || [ "$2" = "$4" ]; }
}
_lab_record() {   # _lab_record NAME PID
	local st
	st=$(_lab_stat "$2") || st="? 0"
	set -- "$1" "$2" $st
	echo "$1 $2 $4" >> "$LAB/pids/list"
	echo "$2 $4" > "$LAB/pids/$1"
}
# lab_pid NAME: PID recorded under NAME (empty if none)
lab_pid() { [ -s "$LAB/pids/$1" ] && cut -d' ' -f1 "$LAB/pids/$1"; }
# lab_proc_alive NAME: the process recorded under NAME is running
lab_proc_alive() { local p s; [ -s "$LAB/pids/$1" ] || return 1; read -r p s < "$LAB/pids/$1"; lab_alive "$p" "$s"; }
# lab_stop NAME [SIGNAL [TIMEOUT]]: send SIGNAL (default TERM) to the process recorded under
# NAME, wait up to TIMEOUT s (default 5), then SIGKILL it. Returns the exit status if it was
# our child (wait), else 0. Forgets the record.
lab_stop() {
	local name=$1 sig=${2:-TERM} to=${3:-5} p s end rc=0
	[ -s "$LAB/pids/$name" ] || return 0
	read -r p s < "$LAB/pids/$name"
	if lab_alive "$p" "$s"; then
		kill "-$sig" "$p" 2>/dev/null
		end=$(( $(now_ms) + to * 1000 ))
		while lab_alive "$p" "$s" && [ "$(now_ms)" -lt "$end" ]; do sleep 0.05; done
		if lab_alive "$p" "$s"; then
			diag "lab: $name (pid $p) ignored SIG$sig for ${to}s, killing it"
			kill -KILL "$p" 2>/dev/null
			end=$(( $(now_ms) + 2000 ))
			while lab_alive "$p" "$s" && [ "$(now_ms)" -lt "$end" ]; do sleep 0.05; done
		fi
	fi
	wait "$p" 2>/dev/null; rc=$?
	rm -f "$LAB/pids/$name"
	return $rc
}
# lab_bg NAME [--ns gw|dev] CMD...: start CMD in the background (inside a namespace if
# given), stdout/stderr to $LAB/log/NAME.out / NAME.err, stdin /dev/null; record its PID
# (LAB_BG_PID). Stop it with lab_stop NAME.
lab_bg() {
	local name=$1 pid; shift
	if [ "$1" = --ns ]; then
		local ns=$NS_DEV; [ "$2" = gw ] && ns=$NS_GW
		shift 2
		ip netns exec "$ns" "$@" > "$LAB/log/$name.out" 2> "$LAB/log/$name.err" < /dev/null &
	else
		"$@" > "$LAB/log/$name.out" 2> "$LAB/log/$name.err" < /dev/null &
	fi
	pid=$!
	_lab_record "$name" "$pid"
	LAB_BG_PID=$pid
}

# ------------------------------------------------------------------ requirements
# lab_require: print "1..0 # SKIP reason" and exit 0 unless the lab can run here
# (root, network namespaces, /dev/net/tun, charon, swanctl, pki, ip, tcpdump, python3).
lab_require() {
	local why
	why=$(_lab_check)
	if [ -n "$why" ]; then echo "1..0 # SKIP $why"; exit 0; fi
}
_lab_check() {   # prints why the lab cannot run here (nothing if it can)
	local c
	[ "$(id -u)" = 0 ] || { echo "needs root"; return; }
	for c in ip unshare swanctl pki tcpdump openssl timeout "$LAB_PY"; do
		command -v "$c" > /dev/null || { echo "missing command $c"; return; }
	done
	[ -x "$LAB_CHARON" ] || { echo "missing $LAB_CHARON"; return; }
	[ -c /dev/net/tun ] || { echo "no /dev/net/tun (kernel-libipsec needs it)"; return; }
	unshare -n true 2> /dev/null || { echo "network namespaces not supported"; return; }
}
# lab_require_tool: the tool under test must exist; otherwise the whole file fails (a build
# problem must not look like a pass). M2M_SKIP_MISSING_TOOL=1 turns this into a skip.
lab_require_tool() {
	[ -x "$M2M_BIN" ] && return 0
	if [ "${M2M_SKIP_MISSING_TOOL:-0}" = 1 ]; then echo "1..0 # SKIP $M2M_BIN not built"; exit 0; fi
	echo "1..1"; echo "not ok 1 - $M2M_BIN exists (run make first)"; exit 1
}

# lab_require_lwm2m_server: node and the project's LwM2M test server (lwm2m-node-lib, from
# the npm registry, tests/tools/lwm2m-server-setup.sh), else skip; exports LWM2M_NODE_MODULES
lab_require_lwm2m_server() {
	command -v node > /dev/null || { echo "1..0 # SKIP node not installed (scripts/deps.sh)"; exit 0; }
	LWM2M_NODE_MODULES=$("$LAB_REPO/tests/tools/lwm2m-server-setup.sh") ||
		{ echo "1..0 # SKIP cannot install lwm2m-node-lib from npm"; exit 0; }
	export LWM2M_NODE_MODULES
}

# ------------------------------------------------------------------ lab life cycle
# lab_init: create the lab dir (mktemp -d /tmp/m2m-test.XXXXXX), the namespace names, the
# exit trap, and the PKI (all made now, ECDSA P-256, files in $LAB/pki, keys and PIN files
# mode 0600). Exports:
#   LAB LAB_ID NS_GW NS_DEV
#   LAB_CA                       lab root CA (valid now-30d .. now+30d)
#   LAB_GW_CERT LAB_GW_KEY       gw.lab, SAN gw.lab + 10.99.0.1, serverAuth
#   LAB_GW_EXPIRED_CERT          gw.lab again (own key), expired yesterday
#   LAB_DEV_CERT LAB_DEV_KEY     dev1.lab, clientAuth
#   LAB_P12 LAB_P12_PIN LAB_P12_PIN_FILE      dev-p12.lab in a PKCS#12 (+ CA), passphrase file
#   LAB_P12_WRONG_PIN LAB_P12_WRONG_PIN_FILE  another random passphrase in a file
#   LAB_ROGUE_CA                 a different CA ("rogue")
#   LAB_ROGUE_CERT LAB_ROGUE_KEY dev1.lab again, but issued by the rogue CA
#   LAB_EXPIRED_CERT/_KEY        dev-expired.lab (lab CA), notAfter = yesterday
#   LAB_FUTURE_CERT/_KEY         dev-future.lab (lab CA), notBefore = in 2 days
lab_init() {
	[ -z "${LAB:-}" ] || { lab_die "lab_init called twice"; }
	umask 022
	_LAB_T0=$(now_ms)
	LAB=$(mktemp -d /tmp/m2m-test.XXXXXX) || { echo "Bail out! mktemp failed"; exit 1; }
	LAB_ID=${LAB##*.}
	NS_GW=m2mt-$LAB_ID-gw
	NS_DEV=m2mt-$LAB_ID-dev
	_LAB_OWNER=$BASHPID
	mkdir -p "$LAB"/{pids,log,cap,pki,gw/run,dev/run,dev/state}
	chmod 0700 "$LAB/pki" "$LAB/dev/state"
	local d
	for d in x509 x509ca x509ocsp x509aa x509ac x509crl pubkey private rsa ecdsa bliss pkcs8 pkcs12; do
		mkdir -p "$LAB/gw/swanctl/$d"
	done
	: > "$LAB/pids/list"
	{
		printf 'LAB=%q\nLAB_ID=%q\nNS_GW=%q\nNS_DEV=%q\n' "$LAB" "$LAB_ID" "$NS_GW" "$NS_DEV"
		printf 'LAB_OWNER=%q\nLAB_OWNER_START=%q\nLAB_MANUAL=%q\n' "$_LAB_OWNER" \
			"$(_lab_stat "$_LAB_OWNER" | cut -d' ' -f2)" "${_LAB_MANUAL:-0}"
	} > "$LAB/lab.env"
	trap '_lab_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	_lab_pki || lab_die "PKI generation failed: $(tail -n 3 "$LAB/log/pki.err" 2>/dev/null)"
	lab_log "lab $LAB (namespaces $NS_GW, $NS_DEV), PKI done"
}

# lab_attach DIR: adopt a running lab (made with "lab.sh up") in this shell, without
# owning its cleanup.
lab_attach() {
	[ -f "$1/lab.env" ] || { echo "not a lab: $1" >&2; return 1; }
	# shellcheck disable=SC1091
	. "$1/lab.env"
	_lab_set_pki_vars
}

_lab_set_pki_vars() {
	local k=$LAB/pki
	LAB_CA=$k/ca.pem
	LAB_GW_CERT=$k/gw.pem LAB_GW_KEY=$k/gw.key LAB_GW_EXPIRED_CERT=$k/gw-expired.pem
	LAB_DEV_CERT=$k/dev1.pem LAB_DEV_KEY=$k/dev1.key
	LAB_P12=$k/dev-p12.p12 LAB_P12_PIN_FILE=$k/p12.pin LAB_P12_WRONG_PIN_FILE=$k/p12-wrong.pin
	LAB_ROGUE_CA=$k/rogue-ca.pem LAB_ROGUE_CERT=$k/rogue-dev1.pem LAB_ROGUE_KEY=$k/rogue-dev1.key
	LAB_EXPIRED_CERT=$k/dev-expired.pem LAB_EXPIRED_KEY=$k/dev-expired.key
	LAB_FUTURE_CERT=$k/dev-future.pem LAB_FUTURE_KEY=$k/dev-future.key
	[ -f "$LAB_P12_PIN_FILE" ] && LAB_P12_PIN=$(head -n1 "$LAB_P12_PIN_FILE")
	[ -f "$LAB_P12_WRONG_PIN_FILE" ] && LAB_P12_WRONG_PIN=$(head -n1 "$LAB_P12_WRONG_PIN_FILE")
	return 0
}

_lab_pki_run() { STRONGSWAN_CONF=$LAB/pki/pki.conf pki "$@" 2>> "$LAB/log/pki.err"; }
_lab_date() { date -u -d "$1" +%Y%m%d%H%M%S; }   # _lab_date '-20 days'
_lab_key() { _lab_pki_run --gen --type ecdsa --size 256 --outform pem > "$LAB/pki/$1.key" && chmod 0600 "$LAB/pki/$1.key"; }
_lab_ca() {   # _lab_ca NAME "CN"
	_lab_key "$1" && _lab_pki_run --self --ca --in "$LAB/pki/$1.key" --type ecdsa \
		--dn "C=XX, O=m2m test lab, CN=$2" --dateform %Y%m%d%H%M%S \
		--not-before "$(_lab_date '-30 days')" --not-after "$(_lab_date '+30 days')" \
		--outform pem > "$LAB/pki/$1.pem"
}
_lab_leaf() {   # _lab_leaf CA NAME KEYNAME CN FLAG FROM TO [pki args]
	local ca=$1 name=$2 key=$3 cn=$4 flag=$5 from=$6 to=$7; shift 7
	[ -f "$LAB/pki/$key.key" ] || _lab_key "$key" || return 1
	_lab_pki_run --issue --in "$LAB/pki/$key.key" --type ecdsa \
		--cacert "$LAB/pki/$ca.pem" --cakey "$LAB/pki/$ca.key" \
		--dn "C=XX, O=m2m test lab, CN=$cn" --san "$cn" --flag "$flag" "$@" \
		--dateform %Y%m%d%H%M%S --not-before "$(_lab_date "$from")" --not-after "$(_lab_date "$to")" \
		--outform pem > "$LAB/pki/$name.pem"
}
_lab_wait_all() { local j rc=0; for j in $(jobs -p); do wait "$j" || rc=1; done; return $rc; }
_lab_rand() { od -An -N"${1:-6}" -tx1 /dev/urandom | tr -d ' \n'; }
_lab_pki() {
	local k=$LAB/pki
	# pki loads every plugin by default (tpm: noisy); a quiet, fast list of its own
	echo 'pki { load = random nonce sha1 sha2 hmac aes pem pkcs1 pkcs8 pkcs12 x509 pubkey openssl gmp }' > "$k/pki.conf"
	_lab_ca ca "m2m lab root CA" & _lab_ca rogue-ca "m2m lab ROGUE CA" &
	_lab_wait_all || return 1
	# independent leaves in parallel (about 2x faster on 2 cores)
	_lab_leaf ca gw gw gw.lab serverAuth '-1 day' '+29 days' --san "$LAB_GW_IP" --flag ikeIntermediate &
	# its own key: with gw's key, a device that has the valid gw.lab cert cached (charon caches
	# received certs) would verify the signature with that one and never look at the expired one
	_lab_leaf ca gw-expired gw-expired gw.lab serverAuth '-20 days' '-1 day' --san "$LAB_GW_IP" --flag ikeIntermediate &
	_lab_leaf ca dev1 dev1 dev1.lab clientAuth '-1 day' '+29 days' &
	_lab_leaf ca dev-p12 dev-p12 dev-p12.lab clientAuth '-1 day' '+29 days' &
	_lab_leaf rogue-ca rogue-dev1 rogue-dev1 dev1.lab clientAuth '-1 day' '+29 days' &
	_lab_leaf ca dev-expired dev-expired dev-expired.lab clientAuth '-20 days' '-1 day' &
	_lab_leaf ca dev-future dev-future dev-future.lab clientAuth '+2 days' '+29 days' &
	_lab_wait_all || return 1
	# PKCS#12 passphrases: random, only ever in 0600 files (never on a command line)
	( umask 077
	  echo "m2mPin$(_lab_rand 6)" > "$k/p12.pin"
	  echo "m2mBad$(_lab_rand 6)" > "$k/p12-wrong.pin" )
	openssl pkcs12 -export -in "$k/dev-p12.pem" -inkey "$k/dev-p12.key" -certfile "$k/ca.pem" \
		-name dev-p12.lab -passout "file:$k/p12.pin" -out "$k/dev-p12.p12" 2>> "$LAB/log/pki.err" || return 1
	chmod 0600 "$k/dev-p12.p12"
	_lab_set_pki_vars
	# gateway credentials for swanctl --load-all
	cp "$k/ca.pem" "$LAB/gw/swanctl/x509ca/ca.pem"
	cp "$k/gw.pem" "$k/gw-expired.pem" "$LAB/gw/swanctl/x509/"
	cp "$k/gw.key" "$k/gw-expired.key" "$LAB/gw/swanctl/ecdsa/"
}

# lab_net: namespaces NS_GW/NS_DEV joined by veth link A (lnka), inner address on the
# gateway's lo, device default route via the gateway, rp_filter off and IPv6 off in both.
# Checks that the gateway and its inner address answer in clear from the device.
lab_net() {
	ip netns add "$NS_GW" || lab_die "ip netns add $NS_GW failed"
	ip netns add "$NS_DEV" || lab_die "ip netns add $NS_DEV failed"
	ip link add "$LAB_IF_A" netns "$NS_GW" type veth peer name "$LAB_IF_A" netns "$NS_DEV" \
		|| lab_die "veth link A"
	_lab_ns_sysctl "$NS_GW"; _lab_ns_sysctl "$NS_DEV"
	ip -n "$NS_GW" addr add "$LAB_GW_IP/24" dev "$LAB_IF_A"
	ip -n "$NS_DEV" addr add "$LAB_DEV_IP/24" dev "$LAB_IF_A"
	ip -n "$NS_GW" addr add "$LAB_INNER_IP/32" dev lo
	local ns
	for ns in "$NS_GW" "$NS_DEV"; do
		ip -n "$ns" link set lo up && ip -n "$ns" link set "$LAB_IF_A" up || lab_die "link up in $ns"
	done
	ip -n "$NS_DEV" route add default via "$LAB_GW_IP" dev "$LAB_IF_A" metric 100 || lab_die "default route"
	_lab_rp_filter_off "$NS_GW" && _lab_rp_filter_off "$NS_DEV" || lab_die "rp_filter is not off"
	wait_until 3 in_dev ping -c1 -W1 -q "$LAB_GW_IP" > /dev/null || lab_die "link A does not work"
	in_dev ping -c1 -W1 -q "$LAB_INNER_IP" > /dev/null || lab_die "inner address not reachable in clear"
	lab_log "network up"
}
_lab_ns_sysctl() {   # no IPv6 (keeps captures quiet), no reverse-path filter anywhere
	ip netns exec "$1" sh -c '
		for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6 \
		         /proc/sys/net/ipv6/conf/*/disable_ipv6; do [ -w "$f" ] && echo 1 > "$f"; done
		for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done' 2>/dev/null
	return 0
}
_lab_rp_filter_off() {   # every rp_filter of the namespace is 0 (all, default and each interface)
	ip netns exec "$1" sh -c '
		for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > "$f"; done
		! grep -qv "^0$" /proc/sys/net/ipv4/conf/*/rp_filter'
}

# lab_link_b: second veth pair link B (lnkb): gateway 10.99.5.1/24, device 10.99.5.2/24,
# device default route via 10.99.5.1 with metric 200 (link A keeps metric 100).
lab_link_b() {
	ip link add "$LAB_IF_B" netns "$NS_GW" type veth peer name "$LAB_IF_B" netns "$NS_DEV" || lab_die "veth link B"
	_lab_ns_sysctl "$NS_GW"; _lab_ns_sysctl "$NS_DEV"
	ip -n "$NS_GW" addr add "$LAB_GW_IP_B/24" dev "$LAB_IF_B"
	ip -n "$NS_DEV" addr add "$LAB_DEV_IP_B/24" dev "$LAB_IF_B"
	ip -n "$NS_GW" link set "$LAB_IF_B" up && ip -n "$NS_DEV" link set "$LAB_IF_B" up || lab_die "link B up"
	ip -n "$NS_DEV" route add default via "$LAB_GW_IP_B" dev "$LAB_IF_B" metric 200 || lab_die "default route B"
	_lab_rp_filter_off "$NS_GW" && _lab_rp_filter_off "$NS_DEV" || lab_die "rp_filter is not off"
	wait_until 3 in_dev ping -c1 -W1 -q -I "$LAB_IF_B" "$LAB_GW_IP_B" > /dev/null || lab_die "link B does not work"
	lab_log "link B up"
}

# ------------------------------------------------------------------ charon
# lab_charon_start gw|dev: write $LAB/<n>/strongswan.conf and start charon in the namespace
# (private mount ns, $LAB/<n>/run over /run). Ready when $LAB/<n>/run/charon.pid holds the new
# PID and `swanctl --stats` answers on the VICI socket (10 s limit). Extra lines for the
# charon {} section: LAB_CHARON_EXTRA_gw / LAB_CHARON_EXTRA_dev. Log: $LAB/<n>/charon.log, at
# level 2 for IKE, KNL and CFG (what a failed test needs), or at charon's default level 1, as a
# device runs it, with LAB_CHARON_LOG=quiet (the benchmarks).
lab_charon_start() {
	local n=$1 ns pid i
	case $n in gw) ns=$NS_GW ;; dev) ns=$NS_DEV ;; *) lab_die "lab_charon_start gw|dev" ;; esac
	if lab_proc_alive "charon-$n"; then lab_die "charon $n already running"; fi
	_lab_write_strongswan_conf "$n"
	rm -f "$LAB/$n/run/charon.pid"
	echo "=== start $(date -u +%T.%3N)" >> "$LAB/$n/charon.stdout"
	# ip, unshare, env and sh all exec: $! is charon itself
	ip netns exec "$ns" unshare -m --propagation private \
		env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin STRONGSWAN_CONF="$LAB/$n/strongswan.conf" \
		sh -c "mount --bind '$LAB/$n/run' /run && exec '$LAB_CHARON'" \
		>> "$LAB/$n/charon.stdout" 2>&1 < /dev/null &
	pid=$!
	disown "$pid" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		if [ "$(cat "$LAB/$n/run/charon.pid" 2>/dev/null)" = "$pid" ] && lab_swanctl "$n" --stats > /dev/null 2>&1; then
			_lab_record "charon-$n" "$pid"
			[ "$(readlink "/proc/$pid/exe")" = "$(readlink -f "$LAB_CHARON")" ] || lab_die "pid $pid is not charon"
			lab_log "charon $n up (pid $pid) after $((i * 50)) ms"
			return 0
		fi
		lab_alive "$pid" || break
		sleep 0.05
	done
	lab_alive "$pid" && kill -KILL "$pid"
	lab_die "charon $n did not start: $(tail -n 5 "$LAB/$n/charon.stdout" "$LAB/$n/charon.log" 2>/dev/null)"
}
# lab_charon_stop gw|dev [--kill]: SIGTERM (or SIGKILL) the lab's charon, wait until it is
# gone (SIGKILL after 5 s). lab_charon_kill N = lab_charon_stop N --kill.
lab_charon_stop() {
	local sig=TERM
	[ "${2:-}" = --kill ] && sig=KILL
	lab_stop "charon-$1" "$sig" 5 > /dev/null 2>&1
	echo "=== stopped (SIG$sig) $(date -u +%T.%3N)" >> "$LAB/$1/charon.stdout"
	lab_log "charon $1 stopped (SIG$sig)"
	return 0
}
lab_charon_kill() { lab_charon_stop "$1" --kill; }
# lab_charon_alive gw|dev: charon is running (not a zombie)
lab_charon_alive() { lab_proc_alive "charon-$1"; }
# lab_vici_uri gw|dev: the VICI URI of that charon
lab_vici_uri() { echo "unix://$LAB/$1/run/charon.vici"; }
# lab_swanctl gw|dev ARGS...: swanctl against that charon (30 s limit)
lab_swanctl() {
	local n=$1; shift
	STRONGSWAN_CONF=$LAB/$n/strongswan.conf SWANCTL_DIR=$LAB/$n/swanctl \
		timeout 30 swanctl "$@"
}
_lab_write_strongswan_conf() {
	local n=$1 extra
	extra=LAB_CHARON_EXTRA_$n
	cat > "$LAB/$n/strongswan.conf" <<EOF
# strongswan.conf of the lab's $n charon (written by tests/lab/lab.sh)
charon {
  # explicit plugin list; kernel-libipsec MUST come before kernel-netlink (no kernel ESP here)
  load = random nonce aes sha1 sha2 hmac gcm pem pkcs1 pkcs7 pkcs8 pkcs12 x509 pubkey constraints revocation openssl curve25519 gmp kdf kernel-libipsec kernel-netlink socket-default vici attr
  # a request is given up after 1 + 1.4 + 1.96 = ~4.4 s (instead of ~165 s)
  retransmit_tries = 2
  retransmit_timeout = 1.0
  retransmit_base = 1.4
${!extra:-}
  plugins {
    vici {
      socket = unix://$LAB/$n/run/charon.vici
    }
  }
  filelog {
    lab {
      path = $LAB/$n/charon.log
      time_format = %H:%M:%S
      time_add_ms = yes
      ike_name = yes
      append = yes
      flush_line = yes
      default = 1
$(if [ "${LAB_CHARON_LOG:-}" != quiet ]; then printf '      ike = 2\n      knl = 2\n      cfg = 2\n'; fi)
    }
  }
  syslog {
  }
}
swanctl {
  socket = unix://$LAB/$n/run/charon.vici
  load = random nonce sha1 sha2 aes pem pkcs1 pkcs8 pkcs12 x509 openssl
}
EOF
}

# ------------------------------------------------------------------ gateway config
# lab_gw_write_conf: write $LAB/gw/swanctl/swanctl.conf. Settings: LAB_GW_CERT_FILE (file in
# x509/, default gw.pem; gw-expired.pem for the expired-gateway test), LAB_GW_DPD (5s).
# Connection rw-cert: certificates both ways, clients must chain to the lab CA, VIP pool,
# local_ts 10.99.1.1/32, MOBIKE (default on), unique = replace.
lab_gw_write_conf() {
	cat > "$LAB/gw/swanctl/swanctl.conf" <<EOF
# gateway: road-warrior responder (written by tests/lab/lab.sh)
connections {
  rw-cert {
    version = 2
    local_addrs = $LAB_GW_IP
    proposals = $LAB_PROPOSAL, aes256-sha256-modp2048
    pools = vpool
    dpd_delay = ${LAB_GW_DPD:-5s}
    unique = replace
    local {
      auth = pubkey
      certs = ${LAB_GW_CERT_FILE:-gw.pem}
      id = gw.lab
    }
    remote {
      auth = pubkey
      cacerts = ca.pem
    }
    children {
      net {
        local_ts = $LAB_INNER_IP/32
        esp_proposals = $LAB_ESP_PROPOSAL, aes256-sha256
        dpd_action = clear
      }
    }
  }
}
pools {
  vpool {
    addrs = $LAB_POOL
  }
}
EOF
}
# lab_gw_load: (re)write the gateway's swanctl.conf and swanctl --load-all it.
lab_gw_load() {
	lab_gw_write_conf
	if ! lab_swanctl gw --load-all --noprompt > "$LAB/gw/load.out" 2>&1 ||
	   ! grep -q "loaded connection 'rw-cert'" "$LAB/gw/load.out"; then
		diag "$(cat "$LAB/gw/load.out")"
		lab_die "gateway swanctl --load-all failed"
	fi
	lab_log "gateway config loaded"
}
# lab_gw_restart [--kill] [--config-delay SEC]: stop the gateway charon (SIGTERM, or SIGKILL
# with --kill) and start it again.
#   default: the gateway's address 10.99.0.1 is removed while charon starts and loads its
#            config, then re-added (a gateway answering without config says NO_PROPOSAL_CHOSEN)
#   --config-delay SEC: the address stays; charon runs and ANSWERS IKE for SEC seconds before
#            swanctl --load-all (the "answering before its config is loaded" fault)
# LAB_GW_RESTART_MS = time from the stop to "gateway ready again".
lab_gw_restart() {
	local kill="" delay="" t0
	while [ $# -gt 0 ]; do
		case $1 in
		--kill) kill=--kill ;;
		--config-delay) delay=$2; shift ;;
		*) lab_die "lab_gw_restart: bad argument $1" ;;
		esac
		shift
	done
	t0=$(now_ms)
	lab_charon_stop gw $kill
	if [ -n "$delay" ]; then
		lab_charon_start gw
		sleep "$delay"
		lab_gw_load
	else
		ip -n "$NS_GW" addr del "$LAB_GW_IP/24" dev "$LAB_IF_A"
		lab_charon_start gw
		lab_gw_load
		ip -n "$NS_GW" addr add "$LAB_GW_IP/24" dev "$LAB_IF_A" || lab_die "re-adding $LAB_GW_IP"
	fi
	LAB_GW_RESTART_MS=$(( $(now_ms) - t0 ))
	lab_log "gateway restarted${kill:+ ($kill)}${delay:+ (config after ${delay}s)} in $LAB_GW_RESTART_MS ms"
}

# lab_up: lab_init + lab_net + gateway charon + its config + device charon + default m2m.yaml
lab_up() {
	lab_init
	lab_net
	lab_charon_start gw
	lab_gw_load
	lab_charon_start dev
	lab_dev_config pos
}

# ------------------------------------------------------------------ device config (m2m.yaml)
# lab_dev_config [-o FILE] [-p MODE] PROFILE [KEY=VALUE...] [+ PROFILE2 [KEY=VALUE...]]...
# Write the tool's config (default $LAB/dev/m2m.yaml, mode 0600; -p to change) with one
# profile per PROFILE. Sets M2M_CONFIG_FILE. Profile keys (defaults in brackets):
#   gateway [10.99.0.1] (comma-separated for a list)  remote_id [gw.lab]
#   local_id [dev1.lab; dev-p12.lab with auth=pkcs12]  auth [cert] | pkcs12
#   cert [LAB_DEV_CERT] key [LAB_DEV_KEY]  pkcs12 [LAB_P12] pin_file [LAB_P12_PIN_FILE] (empty:
#   no pin)  ca [LAB_CA] (comma list)  proposals  esp_proposals  remote_ts [10.99.1.1/32]
#   virtual_ip [true]  mode [on-demand] | always-on  fail_closed [false]  dpd [2s]
#   retry_network [1s,5s]  retry_auth [5s,30s]  extra [raw YAML lines put into the profile,
#   indented by 6 for you]
# File keys (given anywhere): device_id [dev1.lab] vici [the device charon] state_dir
#   [$LAB/dev/state] top [raw YAML appended at the top level]
lab_dev_config() {
	local out=$LAB/dev/m2m.yaml mode=0600
	while [ $# -gt 0 ]; do
		case $1 in
		-o) out=$2; shift 2 ;;
		-p) mode=$2; shift 2 ;;
		*) break ;;
		esac
	done
	local -A file=([device_id]=dev1.lab [vici]=$(lab_vici_uri dev) [state_dir]=$LAB/dev/state [top]="")
	local profiles=() bodies=() kv k v
	local -A p
	_lab_profile_flush() {
		[ -n "${p[name]:-}" ] || return 0
		profiles+=("${p[name]}")
		bodies+=("$(_lab_profile_yaml)")
	}
	while [ $# -gt 0 ]; do
		if [ "$1" = + ]; then shift; continue; fi
		_lab_profile_flush
		p=([name]=$1 [gateway]=$LAB_GW_IP [remote_id]=gw.lab [local_id]="" [auth]=cert
		   [cert]=$LAB_DEV_CERT [key]=$LAB_DEV_KEY [pkcs12]=$LAB_P12 [pin_file]=$LAB_P12_PIN_FILE
		   [ca]=$LAB_CA [proposals]=$LAB_PROPOSAL [esp_proposals]=$LAB_ESP_PROPOSAL
		   [remote_ts]=$LAB_INNER_IP/32 [virtual_ip]=true [mode]=on-demand [fail_closed]=false
		   [dpd]=2s [retry_network]="1s,5s" [retry_auth]="5s,30s" [extra]="")
		shift
		while [ $# -gt 0 ] && [ "$1" != + ]; do
			kv=$1; k=${kv%%=*}; v=${kv#*=}
			[ "$k" != "$kv" ] || lab_die "lab_dev_config: expected KEY=VALUE, got '$kv'"
			if [ -n "${file[$k]+x}" ]; then file[$k]=$v
			elif [ -n "${p[$k]+x}" ]; then p[$k]=$v
			else lab_die "lab_dev_config: unknown key '$k'"; fi
			shift
		done
	done
	_lab_profile_flush
	{
		echo "# m2m.yaml for lab $LAB_ID (written by tests/lab/lab.sh)"
		echo "version: 1"
		echo "device:"
		echo "  id: ${file[device_id]}"
		echo "charon:"
		echo "  vici: ${file[vici]}"
		echo "state_dir: ${file[state_dir]}"
		echo "vpn:"
		echo "  profiles:"
		local i
		for i in "${!bodies[@]}"; do echo "${bodies[$i]}"; done
		if [ -n "${file[top]}" ]; then echo "${file[top]}"; fi
	} > "$out.tmp.$$" || lab_die "writing $out"
	chmod "$mode" "$out.tmp.$$" && mv -f "$out.tmp.$$" "$out"
	M2M_CONFIG_FILE=$out
	unset -f _lab_profile_flush
}
_lab_yaml_list() { local a o="" x; IFS=, read -r -a a <<< "$1"; for x in "${a[@]}"; do o+="${o:+, }$x"; done; echo "[$o]"; }
_lab_profile_yaml() {   # uses the associative array p of lab_dev_config
	local lid=${p[local_id]} line
	[ -n "$lid" ] || { lid=dev1.lab; [ "${p[auth]}" = pkcs12 ] && lid=dev-p12.lab; }
	echo "    ${p[name]}:"
	if [[ ${p[gateway]} == *,* ]]; then echo "      gateway: $(_lab_yaml_list "${p[gateway]}")"
	else echo "      gateway: ${p[gateway]}"; fi
	echo "      remote_id: ${p[remote_id]}"
	echo "      local_id: $lid"
	echo "      auth:"
	case ${p[auth]} in
	cert)   echo "        method: cert"
	        echo "        cert: ${p[cert]}"
	        echo "        key: ${p[key]}" ;;
	pkcs12) echo "        method: pkcs12"
	        echo "        pkcs12: ${p[pkcs12]}"
	        if [ -n "${p[pin_file]}" ]; then echo "        pin: {file: ${p[pin_file]}}"; fi ;;
	*)      echo "        method: ${p[auth]}" ;;
	esac
	if [[ ${p[ca]} == *,* ]]; then echo "      ca: $(_lab_yaml_list "${p[ca]}")"; else echo "      ca: ${p[ca]}"; fi
	echo "      proposals: $(_lab_yaml_list "${p[proposals]}")"
	echo "      esp_proposals: $(_lab_yaml_list "${p[esp_proposals]}")"
	echo "      remote_ts: $(_lab_yaml_list "${p[remote_ts]}")"
	echo "      virtual_ip: ${p[virtual_ip]}"
	echo "      mode: ${p[mode]}"
	echo "      fail_closed: ${p[fail_closed]}"
	if [ -n "${p[dpd]}" ]; then echo "      dpd: ${p[dpd]}"; fi
	echo "      retry:"
	echo "        network: {min: ${p[retry_network]%%,*}, max: ${p[retry_network]#*,}}"
	echo "        auth: {min: ${p[retry_auth]%%,*}, max: ${p[retry_auth]#*,}}"
	if [ -n "${p[extra]}" ]; then
		while IFS= read -r line; do echo "      $line"; done <<< "${p[extra]}"
	fi
}

# ------------------------------------------------------------------ running the tool
# m2m ARGS...: run "$M2M_BIN -c $M2M_CONFIG_FILE ARGS..." inside the device namespace (no -c if
# M2M_NO_CONFIG=1), at most LAB_TOOL_LIMIT s (default 90; rc 124 if it had to be killed).
# Sets M2M_RC, M2M_OUT, M2M_ERR (text), M2M_MS (wall time). Files: $LAB/log/m2m.{out,err}.
# is_rc EXPECTED DESC : TAP test on M2M_RC; on failure prints the command, rc, time, stdout
# and stderr. rc_in "A B ..." DESC : the same for a set of acceptable codes.
m2m() {
	local t0 cfg=()
	[ "${M2M_NO_CONFIG:-0}" = 1 ] || cfg=(-c "$M2M_CONFIG_FILE")
	M2M_CMD="m2mvpn-connect ${cfg[*]} $*"
	t0=$(now_ms)
	timeout -k 3 "${LAB_TOOL_LIMIT:-90}" ip netns exec "$NS_DEV" "$M2M_BIN" "${cfg[@]}" "$@" \
		> "$LAB/log/m2m.out" 2> "$LAB/log/m2m.err" < /dev/null
	M2M_RC=$?
	M2M_MS=$(( $(now_ms) - t0 ))
	M2M_OUT=$(cat "$LAB/log/m2m.out")
	M2M_ERR=$(cat "$LAB/log/m2m.err")
	{ echo "=== $(date -u +%T.%3N) $M2M_CMD -> rc $M2M_RC in $M2M_MS ms"; cat "$LAB/log/m2m.err"; } >> "$LAB/log/m2m.history"
	return 0
}
m2m_diag() {
	diag "    command: $M2M_CMD"
	diag "    exit $M2M_RC after $M2M_MS ms"
	[ -n "$M2M_OUT" ] && diag "    stdout: ${M2M_OUT:0:1500}"
	[ -n "$M2M_ERR" ] && diag "    stderr: ${M2M_ERR:0:1500}"
	return 0
}
is_rc() {
	if [ "$M2M_RC" = "$1" ]; then _tap_result 0 "$2"; return 0; fi
	_tap_result 1 "$2"; diag "    expected exit $1"; m2m_diag; return 1
}
rc_in() {
	local c
	for c in $1; do [ "$M2M_RC" = "$c" ] && { _tap_result 0 "$2"; return 0; }; done
	_tap_result 1 "$2"; diag "    expected exit in {$1}"; m2m_diag; return 1
}
# one_line TEXT: TEXT is exactly one non-empty line
one_line() { [ -n "$1" ] && [ "$(printf '%s\n' "$1" | wc -l)" = 1 ]; }

# jget PATH < JSON : print the value at PATH (a.b.0.c); strings raw, others as JSON; rc 1 if
# missing, 2 if the input is not JSON.
jget() { "$LAB_PY" "$LAB_TOOLS/jget.py" "$@"; }

# ------------------------------------------------------------------ charon state (device side)
# lab_sas N [IKE]: `swanctl --list-sas --raw` of charon N (one "list-sa event {...}" per IKE SA)
# lab_sa_count N: number of IKE SAs of charon N
# lab_ike_ids N: "uniqueid state" per IKE SA of charon N
lab_sas() { lab_swanctl "$1" --list-sas --raw ${2:+--ike "$2"} 2>/dev/null | grep '^list-sa event'; }
lab_sa_count() { local n; n=$(lab_sas "$1" | grep -c .); echo "${n:-0}"; }
lab_ike_ids() { lab_sas "$1" | sed -nE 's/^list-sa event \{[^ ]+ \{uniqueid=([0-9]+) version=2 state=([A-Z_]+) .*/\1 \2/p'; }
# lab_child_installed N: charon N has an INSTALLED CHILD_SA
lab_child_installed() { lab_sas "$1" | grep -q 'state=INSTALLED'; }
# lab_ping_inner [COUNT]: ping 10.99.1.1 from the device (0.2 s interval, 1 s wait)
lab_ping_inner() { in_dev ping -n -q -c "${1:-3}" -i 0.2 -W 1 "$LAB_INNER_IP" > /dev/null 2>&1; }

# ------------------------------------------------------------------ fail-closed guard (device side)
# lab_nft_table TABLE: the device namespace has the nftables table inet TABLE
# lab_guard_whole [PROFILE]: PROFILE's guard (default pos) has its three chains, each with
# its refusing rule (output: reject, forward and postrouting: drop)
lab_nft_table() { in_dev nft list table inet "$1" > /dev/null 2>&1; }
lab_guard_whole() {
	local t=m2m_${1:-pos}
	in_dev nft list chain inet "$t" out_guard 2>/dev/null | grep -q 'reject with icmpx admin-prohibited' &&
		in_dev nft list chain inet "$t" fwd_guard 2>/dev/null | grep -q 'drop' &&
		in_dev nft list chain inet "$t" post_guard 2>/dev/null | grep -q 'drop'
}

# ------------------------------------------------------------------ packet capture
# lab_cap_start NAME gw|dev IFACE [FILTER...]: tcpdump (--immediate-mode, packet-buffered,
# -Z root) writing $LAB/cap/NAME.pcap; returns when tcpdump is listening.
# lab_cap_stop NAME: wait 0.3 s for stragglers, SIGINT, wait for tcpdump to flush and exit.
# lab_cap_count NAME [FILTER...]: number of captured packets matching FILTER
# lab_cap_clear NAME: packets to/from 10.99.1.1 that are not UDP 500/4500 (clear leaks)
# lab_cap_show NAME [FILTER...]: the decoded packets (for diagnostics)
lab_cap_start() {
	local name=$1 where=$2 ifc=$3; shift 3
	rm -f "$LAB/cap/$name.pcap"
	lab_bg "cap-$name" --ns "$where" tcpdump -n -i "$ifc" -U --immediate-mode -Z root -s 256 \
		-w "$LAB/cap/$name.pcap" "$@"
	wait_until 5 grep -q 'listening on' "$LAB/log/cap-$name.err" || {
		diag "tcpdump $name: $(cat "$LAB/log/cap-$name.err")"; return 1; }
}
lab_cap_stop() {
	sleep 0.3
	lab_stop "cap-$1" INT 3 > /dev/null 2>&1
	return 0
}
lab_cap_count() {
	local name=$1 n; shift
	n=$(tcpdump -n -r "$LAB/cap/$name.pcap" "$@" 2>/dev/null | wc -l)
	echo "${n:-0}"
}
lab_cap_clear() { lab_cap_count "$1" "host $LAB_INNER_IP and not (udp port 500 or udp port 4500)"; }
lab_cap_show() { local name=$1; shift; tcpdump -n -r "$LAB/cap/$name.pcap" "$@" 2>/dev/null | head -n "${LAB_CAP_SHOW:-20}"; }

# ------------------------------------------------------------------ teardown
# lab_die MSG: the lab itself failed (not the tool): report a failing test and exit 1; the
# exit trap cleans up.
lab_die() {
	TAP_N=$((TAP_N + 1))
	echo "not ok $TAP_N - lab: ${1//#/\\#}"
	diag "lab failure: $*"
	TAP_FAILED=$((TAP_FAILED + 1))
	exit 1
}
# lab_on_exit CMD: run CMD (eval) at teardown before the lab is destroyed
_LAB_EXIT_HOOKS=()
lab_on_exit() { _LAB_EXIT_HOOKS+=("$1"); }
_lab_exit() {
	local rc=$? h f
	[ "${BASHPID}" = "${_LAB_OWNER:-}" ] || return "$rc"
	trap - EXIT INT TERM HUP
	set +e
	for h in "${_LAB_EXIT_HOOKS[@]}"; do eval "$h" > /dev/null 2>&1; done
	if [ -n "${LAB:-}" ] && [ -d "$LAB" ] && { [ "$rc" != 0 ] || [ "$TAP_FAILED" != 0 ]; }; then
		diag "----- lab $LAB: failure (rc=$rc, failed=$TAP_FAILED); last lines of the logs:"
		for f in "$LAB/dev/charon.log" "$LAB/gw/charon.log" "$LAB/log/m2m.history"; do
			[ -s "$f" ] && diag "== $f" && diag "$(tail -n "${LAB_DIAG_LINES:-25}" "$f")"
		done
	fi
	if [ -n "${LAB:-}" ] && [ -d "$LAB" ] && { [ "${_LAB_MANUAL:-0}" != 1 ] || [ "$rc" != 0 ]; }; then
		local keep=0
		[ "${LAB_KEEP:-0}" = 1 ] && keep=1
		[ "${LAB_KEEP:-0}" = fail ] && { [ "$rc" != 0 ] || [ "$TAP_FAILED" != 0 ]; } && keep=1
		_lab_teardown "$LAB" "$keep"
		[ $keep = 1 ] && diag "lab kept: $LAB"
	fi
	[ "$rc" = 0 ] && [ "$TAP_FAILED" -gt 0 ] && rc=$(( TAP_FAILED > 254 ? 254 : TAP_FAILED ))
	exit "$rc"
}
# _lab_teardown DIR [KEEP]: stop recorded processes (TERM all, wait 3 s, KILL), kill what is
# left in the lab's own namespaces, delete them, remove DIR (unless KEEP=1). Idempotent.
_lab_teardown() (
	set +e
	local dir=$1 keep=${2:-0} recs=() name pid st ns p i left
	case $dir in /tmp/m2m-test.?*) ;; *) echo "refusing to tear down $dir" >&2; exit 1 ;; esac
	[ -f "$dir/lab.env" ] || exit 0
	# shellcheck disable=SC1091
	. "$dir/lab.env"
	if [ -f "$dir/pids/list" ]; then
		while read -r name pid st; do recs=("$pid $st" "${recs[@]}"); done < "$dir/pids/list"
		for p in "${recs[@]}"; do set -- $p; lab_alive "$1" "$2" && kill -TERM "$1" 2>/dev/null; done
		for ((i = 0; i < 60; i++)); do
			left=0
			for p in "${recs[@]}"; do set -- $p; lab_alive "$1" "$2" && left=1; done
			[ $left = 0 ] && break
			sleep 0.05
		done
		for p in "${recs[@]}"; do set -- $p; lab_alive "$1" "$2" && kill -KILL "$1" 2>/dev/null; done
	fi
	for ns in "$NS_DEV" "$NS_GW"; do
		[ -e "/run/netns/$ns" ] || continue
		for ((i = 0; i < 3; i++)); do
			p=$(ip netns pids "$ns" 2>/dev/null)
			[ -z "$p" ] && break
			# shellcheck disable=SC2086
			kill -KILL $p 2>/dev/null
			sleep 0.1
		done
		ip netns del "$ns" 2>/dev/null || echo "# lab: could not delete namespace $ns" >&2
	done
	[ "$keep" = 1 ] || rm -rf "$dir"
)

# ------------------------------------------------------------------ CLI (when executed)
_lab_main() {
	case ${1:-} in
	up)
		local why; why=$(_lab_check)
		[ -z "$why" ] || { echo "cannot build a lab here: $why" >&2; exit 1; }
		_LAB_MANUAL=1
		lab_up
		# a manual lab outlives this script; its charons are stopped by "down"
		cat <<EOF
lab: $LAB
  namespaces: $NS_GW $NS_DEV
  gateway VICI: $(lab_vici_uri gw)   device VICI: $(lab_vici_uri dev)
  tool config:  $LAB/dev/m2m.yaml
  try: ip netns exec $NS_DEV $M2M_BIN -c $LAB/dev/m2m.yaml up pos
       ip netns exec $NS_DEV ping $LAB_INNER_IP
       . tests/lab/lab.sh; lab_attach $LAB; lab_swanctl dev --list-sas
  tear down: $0 down $LAB
EOF
		;;
	down)
		[ -n "${2:-}" ] || { echo "usage: $0 down DIR" >&2; exit 2; }
		_lab_teardown "${2%/}" 0 && echo "lab ${2%/} torn down"
		;;
	env)
		[ -f "${2:-}/lab.env" ] || { echo "usage: $0 env DIR" >&2; exit 2; }
		cat "$2/lab.env"
		;;
	gc)
		local d
		for d in /tmp/m2m-test.*; do
			[ -f "$d/lab.env" ] || continue
			( . "$d/lab.env"
			  [ "$LAB_MANUAL" = 1 ] && [ "${2:-}" != --all ] && exit 0
			  lab_alive "$LAB_OWNER" "$LAB_OWNER_START" && [ "$LAB_MANUAL" != 1 ] && exit 0
			  _lab_teardown "$d" 0 && echo "removed stale lab $d" )
		done
		;;
	*)
		sed -n '2,/^$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
		exit 2
		;;
	esac
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then _lab_main "$@"; fi
