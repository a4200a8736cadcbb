#!/bin/bash
# 160-policy-gpsd.t - the policy's position input (lib/policy/gpsd.c: pol_gpsd_fix, through
#   tests/tools/gps-fix) against a real gpsd 3.22 fed NMEA over UDP (tests/lab/gps.sh) and
#   against things on its port that are not gpsd (tests/tools/gpsd-peer.py), all on the
#   device namespace's loopback.
#   From gpsd_json(5): a client asks with request lines of at most 80 US-ASCII characters;
#   ?WATCH activates the devices and ?POLL answers with the last TPV of each; a TPV's mode 2
#   and 3 are fixes, "time" is ISO 8601 UTC. From policy_int.h: M2M_OK with a fix (the
#   POLL's, or the next TPV's); DAEMON (4) if gpsd is not there; TIMEOUT (5) if it has no
#   fix by the deadline, or if stopped; PROTOCOL (12) if what answers is not gpsd (a line
#   that is not its JSON, a line over 64 KiB, more than 1 MiB without a fix). One deadline
#   holds over lookup, connect and every read, and the stop flag is looked at every 100 ms.
#
#   Timing: measured from outside (ip netns exec + process start), so a bound is the
#   deadline + 100 ms + LOAD_SLACK_MS (default 300 ms, as in 152); "at once" is 500 ms +
#   slack. A lower bound (the call's own time) checks that a TIMEOUT did wait for its
#   deadline. The times and peak resident sizes are printed as notes.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/gps.sh"
lab_require
lab_gps_require
[ -x "$LAB_GPS_FIX" ] || { echo "1..1"; echo "not ok 1 - $LAB_GPS_FIX exists (make units)"; exit 1; }
lab_init
lab_net
lab_gps_up

SLACK=${LOAD_SLACK_MS:-300}
ONCE=$((500 + SLACK))

# fix PORT TIMEOUT_MS [HOST]: gps-fix in the device namespace; FIX_RC, FIX_OUT, FIX_ERR,
# FIX_MS (outside), and its fields with fld NAME (ms: the call's own time, rss: peak KB)
fix() {
	local t0
	t0=$(now_ms)
	in_dev timeout -k 2 60 "$LAB_GPS_FIX" "${3:-127.0.0.1}" "$1" "$2" > "$LAB/log/gpsfix.out" 2> "$LAB/log/gpsfix.err"
	FIX_RC=$?
	FIX_MS=$(( $(now_ms) - t0 ))
	FIX_OUT=$(cat "$LAB/log/gpsfix.out")
	FIX_ERR=$(cat "$LAB/log/gpsfix.err")
	note "gps-fix ${3:-127.0.0.1} $1 $2: exit $FIX_RC after $FIX_MS ms: $FIX_OUT${FIX_ERR:+ / $FIX_ERR}"
}
fld() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< " $FIX_OUT"; }
# near A B: |A - B| <= 1e-5 (degrees)
near() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && d <= 0.00001) }'; }
# is_fix DESC LAT LON: a fix there, mode 3, stamped within 5 s of now, with an eph
is_fix() {
	local now
	now=$(date +%s)
	is "$FIX_RC" 0 "$1: exit 0 (a fix)" || diag "    $FIX_ERR"
	ok "$1: latitude $(fld lat) is $2 (within 1e-5 degrees)" near "$(fld lat)" "$2"
	ok "$1: longitude $(fld lon) is $3 (within 1e-5 degrees)" near "$(fld lon)" "$3"
	is "$(fld mode)" 3 "$1: mode 3 (GGA with an altitude: a 3D fix)"
	cmp_ok "$(fld time)" -le $((now + 5)) "$1: its time is now (at most 5 s ahead)"
	cmp_ok "$(fld time)" -ge $((now - 5)) "$1: its time is now (at most 5 s behind)"
	like "$(fld eph)" '^[0-9]+\.[0-9]$' "$1: gpsd's horizontal error estimate (eph) came with it"
}
# bounded DESC RC DEADLINE: exit RC within DEADLINE + 100 ms + slack, and (a TIMEOUT) not before
bounded() {
	local port=$4
	is "$FIX_RC" "$2" "$1: exit $2" || diag "    $FIX_ERR"
	cmp_ok "$FIX_MS" -le $(($3 + 100 + SLACK)) "$1: within the deadline ($3 ms) + 100 ms (+ ${SLACK} ms load slack)"
	[ "$2" = 5 ] && cmp_ok "$(fld ms)" -ge "$3" "$1: the call waited for its deadline"
	ok "$1: one line of error, naming gpsd and 127.0.0.1:$port" \
		eval '[[ $FIX_ERR == "gps-fix: gpsd at 127.0.0.1:$port: "* ]] && one_line "$FIX_ERR"'
}

P=$LAB_GPS_PORT

# ---- gpsd runs and has had no fix yet: it answers, with nothing to give
fix "$P" 1500
bounded "gpsd without a fix" 5 1500 "$P"
like "$FIX_ERR" "no fix" "gpsd without a fix: the error says gpsd has none"

# ---- the next TPV: no fix when asked, one epoch while waiting
lab_bg gpsfix-wait --ns dev "$LAB_GPS_FIX" 127.0.0.1 "$P" 5000
pid=$LAB_BG_PID
sleep 0.5
lab_gps_feed 52.5200066 13.4049540 || lab_die "nmea-feed failed: $(tail -n 3 "$LAB/log/nmea-feed.out")"
wait "$pid"
FIX_RC=$? FIX_OUT=$(cat "$LAB/log/gpsfix-wait.out") FIX_ERR=$(cat "$LAB/log/gpsfix-wait.err")
note "waiting gps-fix: exit $FIX_RC: $FIX_OUT${FIX_ERR:+ / $FIX_ERR}"
is "$FIX_RC" 0 "an epoch during the call: its fix (the next TPV)"
# gpsd reports the epoch's RMC (2D, no eph) before its GGA completes the 3D fix
like "$(fld mode)" '^[23]$' "... a 2D or 3D fix"
ok "... at 52.5200066 (within 1e-5 degrees)" near "$(fld lat)" 52.5200066
ok "... and 13.4049540" near "$(fld lon)" 13.4049540
cmp_ok "$(fld ms)" -lt 5000 "... before the deadline"

# ---- a fix fed before the call: gpsd's POLL answer has it at once
ok "lab: gpsd reports the fix at 48.8566 2.3522" lab_gps_at 48.8566 2.3522
fix "$P" 3000
is_fix "the last fix (POLL)" 48.8566 2.3522
cmp_ok "$FIX_MS" -le "$ONCE" "the last fix: at once, not at the next epoch"

# south and west: negative latitude and longitude
ok "lab: gpsd reports the fix at -22.9068 -43.1729" lab_gps_at -22.9068 -43.1729
fix "$P" 3000
is_fix "a new position, south and west" -22.9068 -43.1729

# gpsd by name: the lookup (m2m_resolve) inside the deadline
fix "$P" 3000 localhost
is "$FIX_RC" 0 "gpsd at localhost: a fix"
ok "... the same position" near "$(fld lat)" -22.9068

# ---- nothing listens on the port: gpsd is not there
F=$(lab_gps_free_port)
fix "$F" 3000
is "$FIX_RC" 4 "nothing on the port: exit 4 (DAEMON)"
cmp_ok "$FIX_MS" -le "$ONCE" "nothing on the port: at once, not at the deadline"
like "$FIX_ERR" "^gps-fix: gpsd at 127\.0\.0\.1:$F: " "nothing on the port: the error names gpsd and 127.0.0.1:$F"

# ---- a peer that accepts and never writes
lab_gps_peer silent
fix "$LAB_GPS_PEER_PORT" 2000
bounded "silent peer" 5 2000 "$LAB_GPS_PEER_PORT"
req=$(sed -n 's/^request //p' "$LAB/log/gpspeer.out" | head -n1)
is "$req" '?WATCH={"enable":true,"json":true};?POLL;' "the request: ?WATCH with JSON, then ?POLL (gpsd_json(5))"
cmp_ok "${#req}" -le 80 "the request line: at most 80 characters (gpsd_json(5))"
ok "the request line: US-ASCII" eval '[[ $req =~ ^[\ -~]+$ ]]'

# ---- the stop flag: SIGTERM to gps-fix during a wait on the silent peer
n0=$(grep -c '^request ' "$LAB/log/gpspeer.out")
lab_bg gpsfix-stop --ns dev "$LAB_GPS_FIX" 127.0.0.1 "$LAB_GPS_PEER_PORT" 30000
pid=$LAB_BG_PID
wait_until 5 eval '[ "$(grep -c "^request " "$LAB/log/gpspeer.out")" -gt "$n0" ]' ||
	lab_die "gps-fix never reached the silent peer"
sleep 0.3
t0=$(now_ms)
kill -TERM "$pid"
wait "$pid"
rc=$? ms=$(( $(now_ms) - t0 ))
note "SIGTERM: exit $rc after $ms ms: $(cat "$LAB/log/gpsfix-stop.out") / $(cat "$LAB/log/gpsfix-stop.err")"
is "$rc" 5 "stopped: exit 5 (TIMEOUT)"
cmp_ok "$ms" -le $((100 + SLACK)) "stopped: the call ended within 100 ms of the stop flag (+ slack)"
like "$(cat "$LAB/log/gpsfix-stop.err")" "stopped" "stopped: the error says so"

# ---- a peer that writes lines that are not JSON
lab_gps_peer garbage
fix "$LAB_GPS_PEER_PORT" 2000
bounded "garbage" 12 2000 "$LAB_GPS_PEER_PORT"
cmp_ok "$FIX_MS" -le "$ONCE" "garbage: at once"
nok "garbage: no control character in the error" grep -q '[[:cntrl:]]' <<< "$FIX_ERR"

# the peak resident size of a call that fails at once: the base for the bounds below
fix "$F" 1000
RSS0=$(fld rss)

# ---- a peer that writes one line that never ends
lab_gps_peer endless
fix "$LAB_GPS_PEER_PORT" 5000
bounded "endless line" 12 5000 "$LAB_GPS_PEER_PORT"
like "$FIX_ERR" "64 KiB" "endless line: the error names the line bound"
cmp_ok "$FIX_MS" -le "$ONCE" "endless line: at once (64 KiB, not the deadline)"
cmp_ok "$(fld rss)" -le $((RSS0 + 512)) "endless line: peak RSS $(fld rss) KB, at most 512 KB over a call that read nothing ($RSS0 KB)"

# ---- a peer that writes gpsd's lines, valid and without a fix, as fast as it can
lab_gps_peer flood
fix "$LAB_GPS_PEER_PORT" 5000
bounded "flood without a fix" 12 5000 "$LAB_GPS_PEER_PORT"
like "$FIX_ERR" "1 MiB" "flood: the error names the total bound"
cmp_ok "$(fld rss)" -le $((RSS0 + 1024)) "flood: peak RSS $(fld rss) KB, at most 1 MiB over a call that read nothing"

# ---- a peer that dribbles gpsd's VERSION line, a byte every 0.3 s
lab_gps_peer dribble
fix "$LAB_GPS_PEER_PORT" 2000
bounded "dribbling peer" 5 2000 "$LAB_GPS_PEER_PORT"

# ---- a name whose lookup gets no answer (the device namespace reaches no name server):
#      the deadline holds over the lookup; not there (4) if the resolver gives up first
lab_gps_down
fix "$P" 1500 gpsd.m2m-lab.invalid
like "$FIX_RC" '^[45]$' "a name that does not resolve: exit 4 or 5"
cmp_ok "$FIX_MS" -le $((1500 + 100 + SLACK)) "a name that does not resolve: within the deadline + 100 ms (+ slack)"
like "$FIX_ERR" "^gps-fix: gpsd at gpsd\.m2m-lab\.invalid:$P: " "the error names gpsd and the name"

done_testing
