#!/bin/bash
# 161-policy-sim.t - lib/policy reads the SIM from ModemManager over D-Bus (pol_sim_read,
#   through tests/tools/sim-read), against ModemManager's API served by python-dbusmock
#   (tests/tools/mm-mock.py) on a private bus (tests/lab/mm.sh).
#   Contract (lib/policy/policy_int.h, ModemManager's D-Bus API): the SIM is that of the
#   first modem ModemManager manages; its Sim property is the SIM object's path, "/" for
#   none (present false); SimIdentifier, Imsi and OperatorIdentifier are the SIM object's
#   properties, read afresh at every call (a swapped SIM is a new SIM object). ModemManager
#   with no modem: OK with modem false. No bus, or ModemManager not on it: DAEMON (4). No
#   answer by the deadline: TIMEOUT (5) within it + 100 ms, and at once when stopped. An
#   answer of the wrong shape or a string that is not printable ASCII or too long for its
#   field: PROTOCOL (12).
#
#   Timing: measured from outside (process start included), so a bound is the deadline +
#   100 ms + LOAD_SLACK_MS (default 300 ms: the shared 2-core test machine), as in 152.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/mm.sh"
lab_require
lab_mm_require
lab_mm_up '{"Imsi": "001010123456789", "SimIdentifier": "8988211000000123456", "OperatorIdentifier": "00101"}'

SLACK=${LOAD_SLACK_MS:-300}
BUS=$(lab_mm_bus)

ok_read() {   # ok_read DESC EXPECTED-LINE
	sim_read -b "$BUS" -t 3000
	if [ "$SIM_RC" != 0 ]; then fail "$1"; diag "    exit $SIM_RC: $SIM_ERR"; return 1; fi
	is "$SIM_OUT" "$2" "$1"
}
rc_is() {   # rc_is RC DESC
	if [ "$SIM_RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $SIM_RC after $SIM_MS ms: $SIM_ERR $SIM_OUT"; return 1
}

# ---- the SIM as ModemManager serves it
ok_read "the SIM of Modem/0: ICCID, IMSI and operator as served" \
	"modem=1 present=1 iccid=8988211000000123456 imsi=001010123456789 operator=00101"

# ---- another SIM in the modem (a new SIM object): read afresh; an ICCID padded with F
lab_mm_swap 001019999999999 89882110000009999F 310410
ok_read "a swapped SIM: the new one's fields" \
	"modem=1 present=1 iccid=89882110000009999F imsi=001019999999999 operator=310410"

# ---- the bus's own system bus address when none is given
DBUS_SYSTEM_BUS_ADDRESS=$BUS sim_read -t 3000
rc_is 0 "no address given: the system bus of DBUS_SYSTEM_BUS_ADDRESS"
like "$SIM_OUT" "imsi=001019999999999" "... the same SIM"

# ---- no SIM in the modem (its Sim is "/")
lab_mm_remove_sim
ok_read "no SIM: a modem, present false, no fields" "modem=1 present=0 iccid= imsi= operator="

# ---- ModemManager with no modem
lab_mm_mock RemoveModem u 0
ok_read "ModemManager with no modem: OK, modem false" "modem=0 present=0 iccid= imsi= operator="

# ---- two modems: the first is the lower number (Modem/3 before Modem/12)
lab_mm_mock AddModem usss 12 001010000000012 8988211000000000012 00101
lab_mm_mock AddModem usss 3 001010000000003 8988211000000000003 00102
ok_read "two modems: the SIM of the first (Modem/3, not Modem/12)" \
	"modem=1 present=1 iccid=8988211000000000003 imsi=001010000000003 operator=00102"
lab_mm_mock RemoveModem u 12
lab_mm_mock RemoveModem u 3

# ---- the SIM object named in the list is gone when read (swapped in between): read again
lab_mm_mock AddModem usss 0 001010123456789 8988211000000123456 00101
lab_mm_mock SetRace sss 001012222222222 8988211000000222222 00102
ok_read "a SIM swapped between the list and its read: the new SIM's fields" \
	"modem=1 present=1 iccid=8988211000000222222 imsi=001012222222222 operator=00102"

# ---- strings that are no ICCID, IMSI or operator: PROTOCOL, and nothing of them shown
lab_mm_swap 001010123456789 "$(printf '8988\033[31m\033]0;x\a12')" 00101
sim_read -b "$BUS" -t 3000
rc_is 12 "an ICCID with control characters (escape sequences): PROTOCOL"
ok "... one line of error" one_line "$SIM_ERR"
nok "... the message holds no control character (ESC, BEL)" grep -q $'[\x1b\x07]' <<< "$SIM_ERR"
is "$SIM_OUT" "" "... no SIM printed"

lab_mm_swap 001010123456789 "$(printf '8%.0s' {1..200})" 00101
sim_read -b "$BUS" -t 3000
rc_is 12 "an ICCID of 200 digits: PROTOCOL"
like "$SIM_ERR" "SimIdentifier" "... the field is named"
unlike "$SIM_ERR" "8888888888888888888888888" "... its value is not shown"

lab_mm_swap 0010101234567890 8988211000000123456 00101
sim_read -b "$BUS" -t 3000
rc_is 12 "an IMSI of 16 digits: PROTOCOL"
lab_mm_swap 001010123456789 8988211000000123456 0010
sim_read -b "$BUS" -t 3000
rc_is 12 "an operator of 4 digits: PROTOCOL"

lab_mm_swap 001010123456789 8988211000000123456 00101
lab_mm_mock SetSimAsString u 0
sim_read -b "$BUS" -t 3000
rc_is 12 "a modem whose Sim is a string, not an object path: PROTOCOL"
like "$SIM_ERR" "Sim" "... Sim is named"
lab_mm_mock RemoveModem u 0
lab_mm_mock AddModem usss 0 001010123456789 8988211000000123456 00101
ok_read "a good modem again: read" \
	"modem=1 present=1 iccid=8988211000000123456 imsi=001010123456789 operator=00101"

# ---- ModemManager on the bus never answers: TIMEOUT by the deadline
lab_mm_mock SetStall b true
sim_read -b "$BUS" -t 1000
note "silent ModemManager: exit $SIM_RC after $SIM_MS ms: $SIM_ERR"
rc_is 5 "ModemManager that never answers: TIMEOUT"
cmp_ok "$SIM_MS" -le $((1000 + 100 + SLACK)) "... within the deadline (1 s) + 100 ms (+ ${SLACK} ms load slack)"
cmp_ok "$SIM_MS" -ge 950 "... after waiting for it"

# ---- stopped (SIGTERM sets the stop flag) while ModemManager does not answer
lab_bg sim-term "$LAB_MM_SIM_READ" -b "$BUS" -t 30000
pid=$LAB_BG_PID
sleep 0.5
t0=$(now_ms)
kill -TERM "$pid"
WAIT_STEP=0.02 wait_until 5 eval '! lab_alive '"$pid"
ms=$(( $(now_ms) - t0 ))
wait "$pid" 2> /dev/null; rc=$?
note "stopped: exit $rc after $ms ms: $(cat "$LAB/log/sim-term.err")"
is "$rc" 5 "stopped while waiting: TIMEOUT"
cmp_ok "$ms" -le $((100 + SLACK)) "... within 100 ms of the stop flag (+ ${SLACK} ms load slack)"
lab_stop sim-term KILL 1
lab_mm_mock SetStall b false

# ---- ModemManager not on the bus: DAEMON
lab_mm_mock_down
sim_read -b "$BUS" -t 3000
rc_is 4 "ModemManager not on the bus: DAEMON"
like "$SIM_ERR" "not on the bus" "... says so"
cmp_ok "$SIM_MS" -le $((200 + SLACK)) "... at once, not at the deadline"

# ---- no bus: no socket there, or a socket nobody listens on: DAEMON at once
sim_read -b "unix:path=$LAB/mm/none.sock" -t 3000
rc_is 4 "no bus socket: DAEMON"
cmp_ok "$SIM_MS" -le $((100 + SLACK)) "... at once"
"$LAB_PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$LAB/mm/stale.sock"
ok "lab: a socket file nobody listens on" test -S "$LAB/mm/stale.sock"
sim_read -b "unix:path=$LAB/mm/stale.sock" -t 3000
rc_is 4 "a bus socket nobody listens on (refused): DAEMON"
cmp_ok "$SIM_MS" -le $((100 + SLACK)) "... at once"

# ---- a socket that accepts and never speaks (no handshake): TIMEOUT by the deadline
lab_bg mm-silent "$LAB_PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    held.append(s.accept())' "$LAB/mm/silent.sock"
wait_until 5 test -S "$LAB/mm/silent.sock" || lab_die "the silent socket did not come up"
sim_read -b "unix:path=$LAB/mm/silent.sock" -t 1000
note "silent socket: exit $SIM_RC after $SIM_MS ms: $SIM_ERR"
rc_is 5 "a bus that accepts and never answers: TIMEOUT"
cmp_ok "$SIM_MS" -le $((1000 + 100 + SLACK)) "... within the deadline (1 s) + 100 ms (+ ${SLACK} ms load slack)"
cmp_ok "$SIM_MS" -ge 950 "... after waiting for it"
lab_stop mm-silent

# ---- an address whose connect could not be bounded is refused
sim_read -b "tcp:host=localhost,port=1" -t 3000
rc_is 3 "a tcp: address: refused (CONFIG), only unix: is taken"

done_testing
