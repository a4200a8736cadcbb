# shellcheck shell=bash disable=SC2034
#
# tests/lab/mm.sh - the ModemManager part of the lab, on top of tests/lab/lab.sh (which it
# only extends with new functions): a private dbus-daemon of type "system" on a unix socket
# in the lab's directory, and ModemManager's D-Bus API served by python-dbusmock with the
# template tests/tools/mm-mock.py (one modem, Modem/0, with a SIM).
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/mm.sh"
#   lab_require; lab_mm_require
#   lab_mm_up                          # lab_init + bus + ModemManager (Modem/0 with a SIM)
#   sim_read -b "$(lab_mm_bus)" -t 2000; echo "$SIM_RC $SIM_OUT"
#   lab_mm_swap IMSI ICCID MCCMNC      # Modem/0 gets another SIM (a new SIM object)
#   lab_mm_remove_sim                  # Modem/0 has no SIM (its Sim is "/")
#   lab_mm_mock SetStall b true        # any hook of mm-mock.py (its header lists them)
#   lab_mm_mock_down / lab_mm_mock_up [JSON]   ModemManager leaves the bus / comes back
#   (cleanup is automatic: the bus and the mock are recorded lab processes)
#
# Files: $LAB/mm/bus.conf, bus.sock (the bus), $LAB/log/mm-mock.{out,err} (the mock's log).
# Exports: LAB_MM_BUS (the bus's address), LAB_MM_SIM_READ (the test tool).

LAB_MM_TEMPLATE=$LAB_TOOLS/mm-mock.py
LAB_MM_SIM_READ=${LAB_MM_SIM_READ:-$LAB_REPO/build/tests/tools/sim-read}

# lab_mm_require: skip unless dbus-daemon, busctl and python-dbusmock are there; fail the
# file if the test tool was not built (a build problem must not look like a pass)
lab_mm_require() {
	local c
	for c in dbus-daemon busctl; do
		command -v "$c" > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
	done
	"$LAB_PY" -c 'import dbusmock' 2> /dev/null ||
		{ echo "1..0 # SKIP missing python3-dbusmock (scripts/deps.sh)"; exit 0; }
	[ -x "$LAB_MM_SIM_READ" ] && return 0
	echo "1..1"; echo "not ok 1 - $LAB_MM_SIM_READ exists (run make units first)"; exit 1
}

# lab_mm_bus_up: the private bus; no service directory, so nothing is ever activated on it
lab_mm_bus_up() {
	local d=$LAB/mm
	mkdir -p "$d"
	LAB_MM_BUS=unix:path=$d/bus.sock
	cat > "$d/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>$LAB_MM_BUS</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
EOF
	rm -f "$d/bus.sock"
	lab_bg mm-bus dbus-daemon --config-file="$d/bus.conf" --nofork --nopidfile
	wait_until 5 test -S "$d/bus.sock" || lab_die "no bus socket $d/bus.sock: $(tail -n 2 "$LAB/log/mm-bus.err")"
	lab_log "ModemManager's bus up: $LAB_MM_BUS"
}

# lab_mm_busctl ARGS...: busctl on the lab's bus (5 s limit)
lab_mm_busctl() { timeout 5 busctl --address="$LAB_MM_BUS" "$@"; }

# lab_mm_mock_up [JSON]: ModemManager (the mock, with mm-mock.py's parameters); returns once
# its name is on the bus and GetManagedObjects answers
lab_mm_mock_up() {
	local params='{}'
	[ -n "${1:-}" ] && params=$1
	lab_bg mm-mock env DBUS_SYSTEM_BUS_ADDRESS="$LAB_MM_BUS" \
		"$LAB_PY" -m dbusmock --system --template "$LAB_MM_TEMPLATE" -p "$params"
	wait_until 10 quiet lab_mm_busctl call org.freedesktop.ModemManager1 /org/freedesktop/ModemManager1 \
		org.freedesktop.DBus.ObjectManager GetManagedObjects ||
		lab_die "the ModemManager mock does not answer: $(tail -n 3 "$LAB/log/mm-mock.err")"
	lab_log "ModemManager mock up ($LAB_MM_TEMPLATE ${1:-})"
}
# lab_mm_mock_down: ModemManager leaves the bus (its name has no owner afterwards)
lab_mm_mock_down() {
	lab_stop mm-mock TERM 3 > /dev/null 2>&1
	wait_until 3 _lab_mm_unowned || lab_die "org.freedesktop.ModemManager1 still has an owner"
}
_lab_mm_unowned() {
	[ "$(lab_mm_busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
		NameHasOwner s org.freedesktop.ModemManager1)" = "b false" ]
}

# lab_mm_up [JSON]: the lab dir (lab_init unless there is one), the bus and ModemManager
lab_mm_up() {
	[ -n "${LAB:-}" ] || lab_init
	lab_mm_bus_up
	lab_mm_mock_up "${1:-}"
}

# lab_mm_bus: the bus's address
lab_mm_bus() { echo "$LAB_MM_BUS"; }

# lab_mm_mock METHOD SIGNATURE ARGS...: one of mm-mock.py's hooks (org.freedesktop.DBus.Mock)
lab_mm_mock() {
	local m=$1; shift
	lab_mm_busctl call org.freedesktop.ModemManager1 /org/freedesktop/ModemManager1 \
		org.freedesktop.DBus.Mock "$m" "$@" > /dev/null || lab_die "mock hook $m failed"
}
# lab_mm_swap IMSI ICCID MCCMNC: Modem/0's SIM is replaced by a new one of these values
lab_mm_swap() { lab_mm_mock SwapSim usss 0 "$1" "$2" "$3"; }
# lab_mm_remove_sim: Modem/0 has no SIM any more
lab_mm_remove_sim() { lab_mm_mock RemoveSim u 0; }

# sim_read ARGS...: run the test tool (sim-read ARGS); sets SIM_RC, SIM_OUT, SIM_ERR and
# SIM_MS (wall time, process start included)
sim_read() {
	local t0
	t0=$(now_ms)
	timeout -k 3 "${LAB_TOOL_LIMIT:-90}" "$LAB_MM_SIM_READ" "$@" > "$LAB/log/sim.out" 2> "$LAB/log/sim.err" < /dev/null
	SIM_RC=$?
	SIM_MS=$(( $(now_ms) - t0 ))
	SIM_OUT=$(cat "$LAB/log/sim.out")
	SIM_ERR=$(cat "$LAB/log/sim.err")
	{ echo "=== $(date -u +%T.%3N) sim-read $* -> rc $SIM_RC in $SIM_MS ms"; cat "$LAB/log/sim.out" "$LAB/log/sim.err"; } >> "$LAB/log/m2m.history"
	return 0
}
