#!/bin/bash
# Object 5 (LwM2M TS 1.1 Core E.6) after kill -9 of m2mdm-status --serve in Updating (3),
# then a restart: the update ends as the engine's journal says, and the server sees it
# after the next registration. The installer is a script that waits, so that Updating
# lasts; the kill leaves the journal at "installing". After the restart the install is
# done again (the engine's recovery): once it succeeds and the health check (the
# registration) passes, Update Result 1 (E.6: "Firmware updated successfully") and State
# Idle; once it fails, the engine rolls back (the installer's rollback) and the server
# sees Update Result 8 ("Firmware update failed") with State Idle and the device still
# on the version it had. And a --serve stopped (SIGTERM) while the health check of its
# update waits (its registration not proven: the server deaf) leaves the update installed,
# not rolled back: the next run checks again and commits (Update Result 1). Against the
# project's CoAP peer (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 17

fw_vendor
W=$T/www
mkdir -p "$W"
head -c 30000 /dev/urandom >"$T/fw.bin"
fw_sign "$W/fw-2.pkg" "$T/fw.bin" 2.0.0
fw_sign "$W/fw-3.pkg" "$T/fw.bin" 3.0.0
fw_slow_http "$W"
port=$(free_port)
fw_device "$port"
# the installer: records its calls; install writes its pid, waits for $T/go (at most
# 60 s), then exits with what $T/install-rc says (0 if absent)
cat >"$T/install.sh" <<EOS
#!/bin/sh
echo "\$1 \$M2M_UPDATE_NAME \$M2M_UPDATE_VERSION" >> "$T/calls"
[ "\$1" = install ] || exit 0
echo \$\$ > "$T/inst.pid"
i=0
while [ ! -e "$T/go" ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
exit \$(cat "$T/install-rc" 2>/dev/null || echo 0)
EOS
chmod 0755 "$T/install.sh"
serve() {
	bg "$T/serve$1.log" "$BIN/m2mdm-status" --serve -v
	cli=$BG_PID
	wait_count '"event":"(register|update)"' "$1" 20
}
# the installer that the killed client left waiting (this test's own script): ended
reap_installer() {
	local p
	p=$(cat "$T/inst.pid" 2>/dev/null) || return 0
	kill -TERM "$p" 2>/dev/null
	rm -f "$T/inst.pid"
}
trap 'reap_installer; _cleanup' EXIT
# kill_in_updating VERSION N: pull and execute VERSION, kill -9 the client (run N) once
# the installer waits
kill_in_updating() {
	ctl write /5/0/1 "http://127.0.0.1:$hp/fw-$1.pkg"
	[ "$(read_until /5/0/3 2 20)" = 2 ] || return 1
	ctl exec /5/0/2
	[ "$(read_until /5/0/3 3 10)" = 3 ] || return 1
	for ((i = 0; i < 100; i++)); do [ -s "$T/inst.pid" ] && break; sleep 0.1; done
	[ -s "$T/inst.pid" ] || return 1
	kill -KILL "$cli"
	wait "$cli" 2>/dev/null
	reap_installer
}

serve 1
kill_in_updating 2
ok $? "2.0.0 pulled, Update executed, State Updating (3), the installer waiting: kill -9"
touch "$T/go"
serve 2
ok $? "restarted: registered again"
is "$(read_until /5/0/5 1 30) $(read_until /5/0/3 0 1)" "1 0" \
	"the install done again and committed: Update Result 1 (success), State Idle"
is "$(grep -c '^install gate-fw 2.0.0' "$T/calls") $(grep -c '^commit gate-fw 2.0.0' "$T/calls")" "2 1" \
	"installed twice (the cut one, again after the restart), committed once"
is "$("$BIN/m2mdm-update" status --json | tr -d ' ' | grep -oE '"installed":"[^"]*"')" '"installed":"2.0.0"' \
	"the engine: 2.0.0 installed"

# ---- a cut install that fails when done again: rolled back
rm -f "$T/go"
kill_in_updating 3
ok $? "3.0.0 pulled, Update executed, State Updating (3), the installer waiting: kill -9"
echo 1 >"$T/install-rc"
touch "$T/go"
serve 3
ok $? "restarted: registered again"
is "$(read_until /5/0/5 8 30) $(read_until /5/0/3 0 1)" "8 0" \
	"the install failed when done again: Update Result 8 (update failed), State Idle"
grep -q '^rollback gate-fw 3.0.0' "$T/calls"
ok $? "the installer's rollback ran"
is "$("$BIN/m2mdm-update" status --json | tr -d ' ' | grep -oE '"(installed|state)":"[^"]*"' | tr '\n' ' ')" \
	'"state":"rolled-back" "installed":"2.0.0" ' "the engine: rolled back, still on 2.0.0"
kill -TERM "$cli"
wait "$cli" 2>/dev/null
# and so it stays across one more restart
serve 4
ok $? "restarted once more"
is "$(read_until /5/0/5 8 2) $(read_until /5/0/3 0 1)" "8 0" "still Update Result 8, State Idle"
kill -TERM "$cli"
wait "$cli" 2>/dev/null

# ---- a --serve stopped (SIGTERM) while its update's health check waits: not a rollback
# (the check was cut, not failed); the next run checks again and commits. The check
# waits because the serving client's last Update failed (the server deaf).
sed -i 's/lifetime: 10m/lifetime: 20s/' "$T/m2m.yaml"
rm -f "$T/go" "$T/install-rc"
serve 5
ctl write /5/0/1 "http://127.0.0.1:$hp/fw-3.pkg"
is "$(read_until /5/0/3 2 20)" 2 "3.0.0 pulled again: Downloaded"
ctl exec /5/0/2
[ "$(read_until /5/0/3 3 10)" = 3 ]
ok $? "Update executed: Updating"
ctl deaf
# the client's next Update (lifetime 20 s) finds nobody: its registration is not proven
wait_for "$T/serve5.log.err" 'unreachable' 25
ok $? "the serving client's Update failed (the server deaf)"
touch "$T/go"
for ((i = 0; i < 100; i++)); do
	"$BIN/m2mdm-update" status --json | tr -d ' ' | grep -q '"state":"installed"' && break
	sleep 0.1
done
sleep 1
kill -TERM "$cli"
wait "$cli" 2>/dev/null
st=$("$BIN/m2mdm-update" status --json | tr -d ' \n')
is "$(grep -oE '"state":"[^"]*"' <<<"$st") $(grep -c '^rollback gate-fw 3.0.0' "$T/calls")" '"state":"installed" 1' \
	"stopped in its health check: still installed, not rolled back (the one rollback is the case above)"
ctl hear
serve 6
is "$(read_until /5/0/5 1 30) $(read_until /5/0/3 0 1)" "1 0" \
	"the next run checks again: committed, Update Result 1, State Idle"
kill -TERM "$cli"
wait "$cli" 2>/dev/null
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(cat "$T/calls")"; diag "$(tail -30 "$T/serve3.log.err")"; }
done_testing
