#!/bin/bash
# 33-time-limits.t - every command returns within its time limit + 100 ms whatever charon
# does (issue 17, finding 4; m2mvpn-connect(1): "The tool returns within this limit").
# A fake VICI peer (tests/tools/vici-stall.py) stands in for charon:
#   silent   accepts, reads, never answers
#   dribble  answers one byte a second, a packet that never ends
#   events   confirms registrations, then streams events and never the command's answer
#   full     accepts nobody (its listen queue is full: connect() would block)
# Against each: up --timeout 1, up with the profile's timeout (1s), down --timeout 1,
# status (its limit: 5 s), and watch's start (its first attempt, bounded by the profile's
# timeout, is reported within 1 s + 100 ms, and SIGTERM ends it).
# The time is the wall time of the whole process (start, config, exit included), taken
# here, so the 100 ms also cover process start-up on a loaded machine; the tool itself cuts
# every wait at its limit. No namespace or charon is needed: the socket is a path.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_init
STALL=$LAB/stall.vici
plan 26

# run ARGS...: the tool, timed; sets RC, MS, ERR
run() {
	local t0
	t0=$(now_ms)
	timeout -k 1 30 "$M2M_BIN" -c "$M2M_CONFIG_FILE" "$@" > "$LAB/log/run.out" 2> "$LAB/log/run.err" < /dev/null
	RC=$? MS=$(( $(now_ms) - t0 )) ERR=$(cat "$LAB/log/run.err")
}
# within LIMIT_MS DESC: the last run returned a failure within LIMIT_MS + 100, one line
within() {
	if [ "$RC" != 0 ] && [ "$MS" -le $(($1 + 100)) ] && one_line "$ERR"; then
		pass "$2 (exit $RC, $MS ms)"
	else
		fail "$2"; diag "    exit $RC after $MS ms, limit $1 ms + 100"; diag "    stderr: ${ERR:0:500}"
	fi
}

lab_dev_config pos vici="unix://$STALL" mode=always-on extra="timeout: 1s"
for mode in silent dribble events full; do
	lab_bg stall "$LAB_PY" "$LAB_TOOLS/vici-stall.py" "$mode" "$STALL"
	wait_until 5 grep -q ready "$LAB/log/stall.out" || lab_die "vici-stall.py $mode did not start"

	run up pos --timeout 1
	within 1000 "$mode: up --timeout 1"
	run up pos
	within 1000 "$mode: up with the profile's timeout (1s)"
	run down pos --timeout 1
	within 1000 "$mode: down --timeout 1"
	run status pos
	within 5000 "$mode: status"

	# watch: the first attempt's failure is logged within the profile's timeout
	t0=$(now_ms)
	lab_bg watch "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos
	WAIT_STEP=0.01 wait_until 5 grep -q "next try in" "$LAB/log/watch.err"
	took=$(( $(now_ms) - t0 ))
	cmp_ok "$took" -le 1100 "$mode: watch reports its first attempt within 1 s + 100 ms ($took ms)" ||
		diag "$(cat "$LAB/log/watch.err")"
	lab_stop watch TERM 2
	is "$?" 0 "$mode: watch stops on SIGTERM, exit 0"
	lab_stop stall
done

# down with its default limit (10 s) against the silent peer: before the fix it took 12 s
lab_bg stall "$LAB_PY" "$LAB_TOOLS/vici-stall.py" silent "$STALL"
wait_until 5 grep -q ready "$LAB/log/stall.out" || lab_die "vici-stall.py silent did not start"
run down pos
within 10000 "silent: down with its default limit (10 s)"
is "$RC" 5 "... exit 5 (timeout)"
lab_stop stall
