#!/bin/bash
# 40-daemon.t - charon not reachable over VICI -> exit 4, one line naming the socket:
#   device charon stopped (SIGTERM: charon removes its socket)  -> ENOENT
#   device charon SIGKILLed (stale socket file, nobody listening) -> ECONNREFUSED
#   charon.vici points to a regular file                         -> ENOTSOCK/ECONNREFUSED
#   down: exit 0 when charon is known not to run (no socket, nobody listening: no tunnel),
#     exit 4 when the socket cannot be used (a regular file): that says nothing of charon,
#     which may hold the tunnel; so does the wipe (m2mdm-policy wipe: INCOMPLETE, 4)
#   charon back -> up exit 0
#   charon restarted while up waits for the profile lock -> up talks to the new one, exit 0
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
SOCK=$LAB/dev/run/charon.vici

check4() {   # check4 NAME PATH
	m2m up pos --timeout 10
	is_rc 4 "$1: up exit 4"
	cmp_ok "$M2M_MS" -le 2000 "$1: reported at once (${M2M_MS} ms)"
	ok "$1: error is one line on stderr" one_line "$M2M_ERR" || m2m_diag
	like "$M2M_ERR" "${2//./\\.}" "$1: message names the socket $2"
}

lab_charon_stop dev
check4 "device charon stopped" "$SOCK"
m2m down pos
is_rc 0 "device charon stopped: down exit 0 (no charon, no tunnel)"

lab_charon_start dev
lab_charon_kill dev
ok "SIGKILLed charon left its socket file behind" test -S "$SOCK"
check4 "device charon killed (stale socket)" "$SOCK"
m2m down pos
is_rc 0 "device charon killed: down exit 0"

: > "$LAB/dev/not-a-socket"
lab_dev_config pos vici="unix://$LAB/dev/not-a-socket"
check4 "charon.vici is a regular file" "$LAB/dev/not-a-socket"
m2m down pos
is_rc 4 "charon.vici is a regular file: down exit 4, not taken for a charon that is gone"
like "$M2M_ERR" "not-a-socket is not a VICI socket" "  the message names the socket"

lab_dev_config pos
lab_charon_start dev
m2m up pos --timeout 10
is_rc 0 "device charon back: up exit 0"
m2m down pos
is_rc 0 "down exit 0"

# charon restarts while "up" waits for the profile's lock (another up holds it): up talks
# to the charon that runs once it has the lock, not to the one that ran when it started
lab_bg holder flock "$LAB/dev/state/vpn-pos.lock" sleep 3
sleep 0.3
lab_bg waiter ip netns exec "$NS_DEV" "$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 20
waiter=$LAB_BG_PID
sleep 0.7
lab_charon_stop dev
lab_charon_start dev
wait "$waiter"
is "$?" 0 "charon restarted while up waited for the lock: up exit 0" ||
	diag "$(cat "$LAB/log/waiter.err")"
ok "... the tunnel is up" lab_child_installed dev

# the wipe, with the tunnel up and the socket unusable: charon's part is not confirmed
lab_dev_config pos vici="unix://$LAB/dev/not-a-socket"
M2M_BIN=$M2M_BIN_DIR/m2mdm-policy m2m wipe --reason "test 40" --yes
is_rc 4 "wipe with charon.vici a regular file: exit 4 (the local daemon: the first failure's class)"
like "$M2M_OUT" "wipe INCOMPLETE" "  INCOMPLETE"
like "$M2M_ERR" "connection and credentials in charon: NOT destroyed" "  it says charon's part was not done"
lab_dev_config pos
m2m down pos
done_testing
