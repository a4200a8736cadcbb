#!/bin/bash
# What object 5 (LwM2M TS 1.1 Core E.6) reports after a restart, and how it describes
# itself. A Package URI refused at the write (Update Result 9, unsupported protocol; 7,
# invalid URI) is reported again by the next run of --serve, at its next registration,
# with the URI that was refused; an empty Package URI resets it (0), and that too holds
# across a restart. A Discover of /5 (the Device Management interface's Discover, in
# link-format) lists the object, its instance and each resource a server may read or
# observe, Protocol Support (8) with dim=4, and the attributes written; the registration
# links </5/0>, and </5> on a device without an update: section (no instance). A push
# cut by kill -9 of the client is failed by its next run (a push cannot be resumed:
# Update Result 4, connection lost) and a new push is taken.
# Against the project's CoAP peer (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 16

fw_vendor
head -c 20000 /dev/urandom >"$T/fw.bin"
fw_sign "$T/fw.pkg" "$T/fw.bin" 2.0.0
port=$(free_port)
fw_device "$port"
# serve N: the Nth run of --serve, until it registered (or, after a kill -9 left its
# registration in the state directory, updated it)
serve() {
	bg "$T/serve$1.log" "$BIN/m2mdm-status" --serve -v
	cli=$BG_PID
	wait_count '"event":"(register|update)"' "$1" 20
}
stop() { kill -TERM "$cli"; wait "$cli" 2>/dev/null; }

serve 1
ok $? "first run registered"
ctl write /5/0/1 ftp://127.0.0.1/fw.pkg
is "$(answer write /5/0/1) $(read_until /5/0/5 9 2)" "2.04 9" "ftp:// written: 2.04, Update Result 9 (unsupported protocol)"
stop
serve 2
ok $? "second run registered"
is "$(read_until /5/0/5 9 1) $(read_until /5/0/3 0 1) $(read_until /5/0/1 ftp://127.0.0.1/fw.pkg 1)" \
	"9 0 ftp://127.0.0.1/fw.pkg" "after the restart: Update Result 9, State Idle, the Package URI refused"
ctl write /5/0/1 not-a-uri
is "$(answer write /5/0/1 2) $(read_until /5/0/5 7 2)" "2.04 7" "no URI written: Update Result 7 (invalid URI)"
stop
serve 3
ok $? "third run registered"
is "$(read_until /5/0/5 7 1)" 7 "after the restart: Update Result 7"
ctl write /5/0/1
is "$(answer write /5/0/1 3) $(read_until /5/0/5 0 2)" "2.04 0" "an empty Package URI: Update Result 0"
stop
serve 4
is "$(read_until /5/0/5 0 1) $(read_until /5/0/1 '' 1)" "0 " "after the restart: Update Result 0, no Package URI"

# ---- a push cut by kill -9
ctl block /5/0/0 "$T/fw.pkg" 0 6 1 42
ctl block /5/0/0 "$T/fw.pkg" 1 6 1 42
wait_count '"event":"block"' 2 10
is "$(field "$(ev block /5/0/0 2)" code) $(read_until /5/0/3 1 2)" "2.31 1" "a push begun: State Downloading (1)"
kill -KILL "$cli"
wait "$cli" 2>/dev/null
serve 5
is "$(read_until /5/0/5 4 2) $(read_until /5/0/3 0 1)" "4 0" \
	"after kill -9 and a restart: the cut push failed, Update Result 4 (connection lost), State Idle"
ctl block /5/0/0 "$T/fw.pkg" 0 6 1 42
wait_count '"event":"block"' 3 10
is "$(field "$(ev block /5/0/0 3)" code)" 2.31 "a new push is taken"

# ---- Discover of /5 (Accept: application/link-format)
ctl fetch /5 40
wait_count '"event":"fetch","path":"/5"' 1 10
d=$(field "$(ev fetch /5)" value)
diag "Discover /5: $d"
ok_all=0
for l in '</5>' '</5/0>' '</5/0/1>' '</5/0/3>' '</5/0/5>' '</5/0/6>' '</5/0/7>' '</5/0/8>;dim=4' '</5/0/9>'; do
	grep -qF "$l" <<<"$d" || { ok_all=1; diag "missing: $l"; }
done
ok $ok_all "Discover /5 lists the instance, every readable (observable) resource, Protocol Support with dim=4"
ctl attr /5/0/3 pmin=1
wait_count '"event":"attr","path":"/5/0/3"' 1 10
ctl fetch /5 40
wait_count '"event":"fetch","path":"/5"' 2 10
grep -qF '</5/0/3>;pmin=1' <<<"$(field "$(ev fetch /5 2)" value)"
ok $? "with the attributes written to State (</5/0/3>;pmin=1)"
grep -m1 '"event":"register"' "$T/srv.log" | grep -qF '</5/0>'
ok $? "the registration links </5/0>"
stop

# a device without an update: section: object 5 has no instance, and is still announced
sed -i '/^update:/,$d' "$T/m2m.yaml"
serve 6
grep '"event":"register"' "$T/srv.log" | tail -1 | grep -qE '</5>(,|")'
ok $? "without an update: section the registration links </5> ($(grep '"event":"register"' "$T/srv.log" | tail -1 | grep -oE '</5[^,]*'))"
stop
[ "$_fail" = 0 ] || { diag "$(tail -30 "$T/srv.log")"; diag "$(tail -20 "$T/serve1.log.err")"; }
done_testing
