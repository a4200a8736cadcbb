#!/bin/bash
# 71-watch-poll.t - the always-on supervisor in an application's own poll loop
# (examples/vpn-watch-poll.c: m2m_vpn_watch_fd/step next to its stdin):
#   brings the tunnel up and answers its stdin meanwhile;
#   gateway stopped and the tunnel terminated: the supervisor initiates (charon waits up to
#   30 s for the CHILD SA) and the application still answers every line within 1 s, which a
#   step that waited for the initiate would not;
#   gateway back -> tunnel back; device charon restarted (the event connection is re-made,
#   the polled fd stays) -> tunnel back;
#   "quit" on stdin -> exits 0 within 2 s; a second run cancelled by EOF on stdin in the
#   middle of an initiate -> exits 0 within 3 s.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
APP=${M2M_BUILD_DIR:-$(dirname "$M2M_BIN")/..}/examples/vpn-watch-poll
[ -x "$APP" ] || { echo "1..1"; echo "not ok 1 - $APP built"; exit 1; }
lab_up
lab_dev_config pos mode=always-on dpd=2s

ike_up() {   # an ESTABLISHED IKE SA other than $1 with an INSTALLED CHILD_SA
	local ids
	ids=$(lab_ike_ids dev | awk '$2 == "ESTABLISHED" { print $1 }')
	[ -n "$ids" ] && ! grep -qx "${1:-none}" <<< "$ids" && lab_child_installed dev
}
cur_ike() { lab_ike_ids dev | awk '$2 == "ESTABLISHED" { print $1; exit }'; }
# app NAME: start the example in the device namespace, its stdin the fifo held open on fd 7
app() {
	rm -f "$LAB/ctl" && mkfifo "$LAB/ctl"
	M2M_CONFIG=$M2M_CONFIG_FILE ip netns exec "$NS_DEV" "$APP" pos < "$LAB/ctl" \
		> "$LAB/log/$1.out" 2> "$LAB/log/$1.err" &
	_lab_record "$1" $!
	APP_PID=$!
	exec 7> "$LAB/ctl"
}
# ask NAME: one line to the application; prints the ms until it answered (9999: not in 3 s)
ask() {
	local before t0 out=$LAB/log/$1.out
	before=$(grep -c '^alive$' "$out")
	t0=$(now_ms)
	echo hello >&7
	while [ "$(grep -c '^alive$' "$out")" -le "$before" ]; do
		[ $(( $(now_ms) - t0 )) -ge 3000 ] && { echo 9999; return; }
		sleep 0.02
	done
	echo $(( $(now_ms) - t0 ))
}
logged() { grep -c -- "$2" "$LAB/log/$1.err"; }
initiated() { [ "$(logged "$1" 'pos: initiating to')" -gt "$2" ]; }   # initiated NAME N: more than N initiates
# wait_exit PID SEC: the process ends within SEC s; EXIT_RC its status
wait_exit() {
	local end=$(( $(now_ms) + $2 * 1000 ))
	EXIT_RC=""
	while lab_alive "$1" && [ "$(now_ms)" -lt "$end" ]; do sleep 0.02; done
	lab_alive "$1" && return 1
	wait "$1"; EXIT_RC=$?
	return 0
}

app app1
ok "the application brings the tunnel up by itself (within 15 s)" wait_until 15 ike_up
ok "traffic through the tunnel" lab_ping_inner 2
cmp_ok "$(ask app1)" -lt 1000 "the application answers its stdin while it supervises"
like "$(cat "$LAB/log/app1.err")" "supervising 1 profile" "  its log callback got the supervisor's lines"

# ---- gateway gone, tunnel terminated: a long initiate runs while the application answers
n0=$(logged app1 'pos: initiating to')
f0=$(logged app1 'next try in')
lab_charon_stop gw --kill
lab_swanctl dev --terminate --ike m2m-pos --force > /dev/null 2>&1
ok "after the tunnel was terminated the supervisor initiates (within 15 s)" \
	wait_until 15 initiated app1 "$n0"
worst=0
for i in 1 2 3 4 5; do
	ms=$(ask app1)
	[ "$ms" -gt "$worst" ] && worst=$ms
	sleep 0.5
done
cmp_ok "$worst" -lt 1000 "while charon waits for the gateway, every line is answered within 1 s (worst ${worst} ms)"
is "$(logged app1 'next try in')" "$f0" "  and that initiate was still waiting throughout (no failure logged yet)"

# ---- gateway back
t0=$(now_ms)
lab_charon_start gw
lab_gw_load
ok "gateway back: tunnel back within 40 s" wait_until 40 ike_up
diag "  back $(( $(now_ms) - t0 )) ms after the gateway"
ok "traffic through the tunnel" lab_ping_inner 2

# ---- device charon restarted: the event connection is made anew, the fd polled stays
old=$(cur_ike)
lab_charon_stop dev
lab_charon_start dev
ok "device charon restarted: tunnel back within 30 s" wait_until 30 ike_up "$old"
ok "traffic through the new tunnel" lab_ping_inner 2
cmp_ok "$(logged app1 "lost charon's event stream")" -ge 1 "  the supervisor noticed charon's restart"
cmp_ok "$(ask app1)" -lt 1000 "the application still answers"

# ---- "quit"
t0=$(now_ms)
echo quit >&7
ok "'quit' on stdin: the application exits within 2 s" wait_exit "$APP_PID" 2
diag "  exited $(( $(now_ms) - t0 )) ms after quit"
is "${EXIT_RC:-}" 0 "  with status 0"
exec 7>&-
like "$(tail -n 1 "$LAB/log/app1.err")" "stopping; tunnels and fail-closed guards stay as they are" \
	"  its last line says what stays"
ok "the tunnel stays up after the application stopped" ike_up

# ---- EOF on stdin in the middle of an initiate
lab_charon_stop gw --kill
lab_swanctl dev --terminate --ike m2m-pos --force > /dev/null 2>&1
app app2
ok "a second run initiates (within 15 s)" wait_until 15 initiated app2 0
sleep 1
t0=$(now_ms)
exec 7>&-
ok "EOF on stdin during the initiate: the application exits within 3 s" wait_exit "$APP_PID" 3
diag "  exited $(( $(now_ms) - t0 )) ms after EOF"
is "${EXIT_RC:-}" 0 "  with status 0"
[ "${EXIT_RC:-}" = 0 ] || diag "app2 stderr: $(tail -n 20 "$LAB/log/app2.err")"
done_testing
