# shellcheck shell=bash disable=SC2034
#
# tests/lab/gps.sh - the position part of the lab, on top of tests/lab/lab.sh (which it
# only extends with new functions): a real gpsd (Debian's gpsd 3.22, see
# ../shared/lab/policy.md section 1) in the DEVICE namespace, where the tools under test
# run (m2m, in_dev), fed NMEA 0183 over UDP by tests/tools/nmea-feed.py, and things on its
# port that are not a working gpsd (tests/tools/gpsd-peer.py).
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/gps.sh"
#   lab_require; lab_gps_require
#   lab_init; lab_net
#   lab_gps_up
#   lab_gps_at 48.8566 2.3522 || lab_die "no fix"     # one epoch; returns once gpsd has it
#   in_dev "$LAB_GPS_FIX" 127.0.0.1 "$(lab_gps_port)" 2000
#
# gpsd runs as `gpsd -N -n -b -S PORT -F SOCK udp://127.0.0.1:NMEA_PORT`: in the
# foreground (-N: its PID is the one recorded), reading its source without waiting for a
# client (-n), read-only (-b: it never writes to the "receiver"), its control socket in
# the lab dir (-F). Without -G it listens on the loopback only, here the device
# namespace's own: nothing outside the lab reaches it, and its ports collide with nothing.
# It is recorded as "gpsd" (lab_bg), so the lab's teardown stops it and `tests/lab/lab.sh
# gc` finds it in a stale lab's pids/list (and in its namespace).
#
# Functions:
#   lab_gps_require          "1..0 # SKIP" unless gpsd is installed (scripts/deps.sh)
#   lab_gps_up               start gpsd (needs lab_net); ready when it listens on both
#                            ports. Exports LAB_GPS_PORT (TCP) and LAB_GPS_NMEA_PORT (UDP)
#   lab_gps_down             stop it (and the peer)
#   lab_gps_port             gpsd's TCP port
#   lab_gps_feed [-n N] [-i S] [--hdop H] LAT LON
#                            N epochs (default 1) at LAT LON, one every S seconds, each
#                            stamped with the current UTC time; does not wait
#   lab_gps_at LAT LON [HDOP]  one epoch at LAT LON now, and wait (5 s) until gpsd reports
#                            that fix (mode >= 2, that place, that epoch's time; asked
#                            over gpsd's own protocol by nmea-feed.py, not by the code under
#                            test); rc 1 if it does not
#   lab_gps_peer MODE        (re)start tests/tools/gpsd-peer.py on 127.0.0.1 in the device
#                            namespace (any free port), recorded as "gpspeer"; its port in
#                            LAB_GPS_PEER_PORT. MODE: silent, garbage, endless, dribble, flood
#                            (see the tool). Its log: $LAB/log/gpspeer.out
#   lab_gps_free_port        a TCP port nothing listens on in the device namespace
#   LAB_GPS_FIX              tests/tools/gps-fix (pol_gpsd_fix): HOST PORT TIMEOUT_MS

LAB_GPS_FIX=${M2M_BUILD_DIR:-$LAB_REPO/build}/tests/tools/gps-fix

lab_gps_require() {
	command -v gpsd > /dev/null || { echo "1..0 # SKIP gpsd not installed (scripts/deps.sh)"; exit 0; }
}

lab_gps_up() {
	if [ -z "${NS_DEV:-}" ] || [ ! -e "/run/netns/$NS_DEV" ]; then
		lab_die "lab_gps_up: no device namespace (lab_net first)"
	fi
	lab_gps_down
	LAB_GPS_PORT=${LAB_GPS_PORT_DEFAULT:-29470} LAB_GPS_NMEA_PORT=${LAB_GPS_NMEA_PORT_DEFAULT:-29471}
	mkdir -p "$LAB/gps"
	rm -f "$LAB/gps/gpsd.sock"
	lab_bg gpsd --ns dev gpsd -N -n -b -S "$LAB_GPS_PORT" -F "$LAB/gps/gpsd.sock" \
		"udp://127.0.0.1:$LAB_GPS_NMEA_PORT"
	wait_until 5 _lab_gps_listening || {
		lab_proc_alive gpsd || diag "gpsd exited: $(tail -n 5 "$LAB/log/gpsd.err")"
		lab_die "gpsd did not start listening on 127.0.0.1:$LAB_GPS_PORT (tcp) and :$LAB_GPS_NMEA_PORT (udp)"
	}
	export LAB_GPS_PORT LAB_GPS_NMEA_PORT
	lab_log "gpsd on 127.0.0.1:$LAB_GPS_PORT in $NS_DEV (pid $(lab_pid gpsd)), NMEA on udp $LAB_GPS_NMEA_PORT"
}
_lab_gps_listening() {
	lab_proc_alive gpsd &&
		in_dev ss -Hltn "sport = :$LAB_GPS_PORT" | grep -q '127\.0\.0\.1' &&
		in_dev ss -Hlun "sport = :$LAB_GPS_NMEA_PORT" | grep -q .
}

lab_gps_down() {
	lab_stop gpsd TERM 3 > /dev/null 2>&1
	lab_stop gpspeer TERM 3 > /dev/null 2>&1
	return 0
}

lab_gps_port() { echo "$LAB_GPS_PORT"; }

# (-- before the positions: a negative one is no option)
lab_gps_feed() {
	local n=$#
	[ $n -ge 2 ] || lab_die "lab_gps_feed [OPTION...] LAT LON"
	in_dev "$LAB_PY" "$LAB_TOOLS/nmea-feed.py" "${@:1:n-2}" -- "$LAB_GPS_NMEA_PORT" "${@:n-1:1}" "${@:n:1}" \
		>> "$LAB/log/nmea-feed.out" 2>&1
}
lab_gps_at() {
	local hdop=()
	[ -n "${3:-}" ] && hdop=(--hdop "$3")
	in_dev "$LAB_PY" "$LAB_TOOLS/nmea-feed.py" "${hdop[@]}" --await "$LAB_GPS_PORT" \
		-- "$LAB_GPS_NMEA_PORT" "$1" "$2" >> "$LAB/log/nmea-feed.out" 2>&1
}

lab_gps_peer() {
	lab_stop gpspeer TERM 3 > /dev/null 2>&1
	: > "$LAB/log/gpspeer.out"
	lab_bg gpspeer --ns dev "$LAB_PY" "$LAB_TOOLS/gpsd-peer.py" "$1" 127.0.0.1 0
	wait_until 5 grep -q '^listening ' "$LAB/log/gpspeer.out" ||
		lab_die "gpsd-peer $1 did not start: $(tail -n 3 "$LAB/log/gpspeer.err")"
	LAB_GPS_PEER_PORT=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$LAB/log/gpspeer.out")
	export LAB_GPS_PEER_PORT
	lab_log "gpsd-peer $1 on 127.0.0.1:$LAB_GPS_PEER_PORT"
}

lab_gps_free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		in_dev ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}
