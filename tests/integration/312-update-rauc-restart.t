#!/bin/bash
# One RAUC Install across a kill -9 of its client. RAUC's service runs an install it was
# handed on its own after its D-Bus client went away, and refuses a second one meanwhile
# ("Already processing"). The engine records in the journal's installing record that the
# install was handed to RAUC (proc.service "rauc") before `rauc install` runs; a restart
# reads RAUC's Operation (D-Bus de.pengutronix.rauc.Installer, property Operation, with
# busctl) until it is "idle", within the install's limit and its own run's bound (exit 11,
# still installing), then judges from the slots: the target slot primary is the install
# done, no second Install. Then the reboot into the new slot and the commit, as 303 and
# 238 do. The slow install: the lab's bootloader hook "hang" holds RAUC at the start of
# its write ("set-state B bad", which RAUC calls once per Install) until it is removed.
# Cases: m2mdm-update install killed while RAUC installs; a check with a 3 s bound: exit
# 11, still installing, no Install; a check without: waits, the hang ends, RAUC finishes,
# the check sees slot B primary and does not install again; one "set-state B bad" in the
# bootloader's calls and no "Already processing"; reboot into B, check: committed.
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
for c in busctl python3; do
	command -v $c > /dev/null || { echo "1..0 # SKIP missing $c (scripts/deps.sh)"; exit 0; }
done
T=${M2M_BIN_DIR:-$LAB_REPO/build/bin}/m2mdm-update
if [ ! -x "$T" ]; then echo "1..1"; echo "not ok 1 - $T exists (make)"; exit 1; fi

rauc_lab_up
P=$RAUC_LAB_PKI
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
LIMIT=60 # update.timeout: the run's bound, and so the install's limit (s)
cat > "$LAB/ok.yaml" << EOF
version: 1
device:
  id: lab-312
  model: lab-a
state_dir: $LAB/state
update:
  trust: $P/ca.pem
  timeout: $LIMIT
  jitter: 0
  health: {timeout: 60s}
  installers:
    rauc:
      config: $RAUC_LAB_CONF
EOF
chmod 0600 "$LAB/ok.yaml"

# run ARGS...: the tool -> RC OUT ERR MS
run() {
	local t0
	t0=$(now_ms)
	timeout -k 5 180 "$T" -c "$LAB/ok.yaml" "$@" > "$LAB/out" 2> "$LAB/err" < /dev/null
	RC=$?
	MS=$(($(now_ms) - t0))
	OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
	{ echo "=== m2mdm-update $* -> $RC in $MS ms"; cat "$LAB/out" "$LAB/err"; } >> "$LAB/log/m2m.history"
}
st() {
	"$T" -c "$LAB/ok.yaml" status --json > "$LAB/status.json" 2> /dev/null
	python3 -c 'import json, sys
d = json.load(open(sys.argv[1]))
print(" ".join(str(d.get(k)) for k in sys.argv[2:]))' "$LAB/status.json" "$@"
}
# installs: RAUC's Installs that reached the slot (each begins with "set-state B bad")
installs() { grep -c ' set-state B bad' "$RAUC_LAB_BOOT/calls.log"; }
operation() {
	busctl --address="$DBUS_SYSTEM_BUS_ADDRESS" get-property de.pengutronix.rauc / \
		de.pengutronix.rauc.Installer Operation 2> /dev/null
}

head -c $((3 * 1048576 + 4096)) /dev/urandom > "$LAB/img2"
b=$(rauc_lab_bundle 2.0.0 "$LAB/img2")
printf '{"format":1,"type":"firmware","name":"lab-fw","version":"2.0.0","models":["lab-a"],"installer":"rauc","expires":"%s"}\n' \
	"$EXP" > "$LAB/m2.json"
"$T" -q sign --manifest "$LAB/m2.json" --payload "$b" --key "$P/signer.key" \
	--cert "$P/signer.pem" -o "$LAB/fw-2.0.0.m2mupd" 2>> "$LAB/log/sign.err"
ok "package 2.0.0 (a RAUC bundle inside)" test -s "$LAB/fw-2.0.0.m2mupd"
is "$(rauc_lab_status)" "booted=A primary=A A=good B=good" "RAUC: a fresh device, booted A, primary A"

# ---- the install, handed to RAUC, which hangs at its start; its client killed
touch "$RAUC_LAB_BOOT/hang"
lab_bg inst "$T" -c "$LAB/ok.yaml" install "$LAB/fw-2.0.0.m2mupd"
ok "RAUC began the Install (set-state B bad) and hangs there" \
	wait_until 60 eval '[ "$(installs)" = 1 ]'
read -r ipid _ < "$LAB/pids/inst"
lab_stop inst KILL 5 > /dev/null 2>&1
nok "m2mdm-update install killed (kill -9)" eval "kill -0 $ipid 2> /dev/null"
is "$(operation)" 's "installing"' "RAUC's Operation (D-Bus, busctl): installing, without its client"
grep -q '"state":"installing".*"service":"rauc"' "$LAB/state/update.journal"
is $? 0 "the journal's installing record says the install was handed to RAUC"

# ---- a check whose own bound ends first: exit 11, still installing, no second Install
run check --timeout 3
is "$RC" 11 "check --timeout 3 while RAUC installs: exit 11 (busy)"
like "$ERR" "still installing the install an earlier run handed to it" "... it says RAUC still installs"
is "$(st state)" "installing" "the update is still installing"
is "$(installs)" 1 "no second Install"

# ---- a check that waits: the hang ends 3 s later, RAUC finishes, no second Install
( sleep 3; rm -f "$RAUC_LAB_BOOT/hang" ) &
hang_pid=$!
run -v check
wait "$hang_pid"
is "$RC" 0 "check: exit 0 once RAUC finished the install"
like "$ERR" "handed the install to RAUC: waiting for RAUC to be idle" "check -v: it waited for RAUC"
like "$ERR" "RAUC finished the install the earlier run handed to it: slot B is primary; not installed again" \
	"check -v: the slot told it the install was done"
is "$(installs)" 1 "one Install only (one set-state B bad in the bootloader's calls)"
ok "RAUC never said Already processing" eval '! grep -q "Already processing" "$LAB/err" "$LAB/log/rauc-service.log"'
# the bound: the install's limit (update.timeout, $LIMIT s); the wait ends at RAUC's end,
# polled every 200 ms (slack for a loaded machine: the hang's 3 s plus RAUC's copy of 3 MiB)
ok "within the install's limit: ${MS} ms (limit ${LIMIT} s)" test "$MS" -lt $((LIMIT * 1000))
ok "slot B holds 2.0.0's image" rauc_lab_slot_is B "$LAB/img2"
is "$(st state slot next)" "installed B health" "installed into slot B, the health check next"
is "$(rauc_lab_status)" "booted=A primary=B A=good B=good" "RAUC: still booted A, B primary"

# ---- the reboot into B; check commits
rauc_lab_reboot B
run check
is "$RC" 0 "check after the reboot into B: exit 0"
like "$OUT" "committed lab-fw 2.0.0" "it says committed"
is "$(st state installed)" "committed 2.0.0" "committed: 2.0.0"
is "$(rauc_lab_status)" "booted=B primary=B A=good B=good" "RAUC: booted B, primary B, good"
is "$(installs)" 1 "still one Install"

[ "$TAP_FAILED" = 0 ] || diag "$(tail -40 "$LAB/log/m2m.history")"
done_testing
