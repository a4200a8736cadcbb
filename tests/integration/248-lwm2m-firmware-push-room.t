#!/bin/bash
# A pushed Package (LwM2M TS 1.1 Core E.6, Block1 of RFC 7959 2.3) that the disk has no room
# for is refused as soon as its signed sizes are known, as a pull is: the package's rest and
# the payload verified beside it must both fit. With the state directory on a 1 MiB tmpfs (a
# private mount namespace) and a package of 600 kB (payload 600 kB: 1.2 MB in all), a block
# among the first few is answered 4.13 Request Entity Too Large (RFC 7959 2.9.3), Update
# Result is 2 (not enough storage), nothing is left in the download area, and the disk is
# free again. (Checking the payload alone, 600 kB fitted; the push then failed at its
# verification, after the whole package had come.) Against the project's own CoAP peer.
. "$(dirname "$0")/lwm2m-fw-lib.sh"
command -v unshare >/dev/null || skip_all "unshare not installed"
plan 5

fw_vendor
head -c 600000 /dev/urandom >"$T/fw.bin"
fw_sign "$T/fw.pkg" "$T/fw.bin" 2.0.0
ok $? "a signed package of $(stat -c %s "$T/fw.pkg") bytes"
port=$(free_port)
fw_device "$port"
mkdir -p "$T/state"
# the client in a mount namespace of its own, its state directory a 1 MiB tmpfs
cat >"$T/serve.sh" <<'SH'
mount -t tmpfs -o size=1m,mode=0700 m2m-test "$1" || exit 1
exec "$2" --serve -v
SH
bg "$T/serve.log" unshare -m --propagation private sh "$T/serve.sh" "$T/state" "$BIN/m2mdm-status"
cli=$BG_PID
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "the client registered (state directory on a 1 MiB tmpfs)"

codes=""
for ((n = 0; n < 40; n++)); do
	ctl block /5/0/0 "$T/fw.pkg" "$n" 6 1 42
	wait_count '"event":"block"' $((n + 1)) 10
	c=$(field "$(ev block /5/0/0 $((n + 1)))" code)
	codes="$codes $c"
	[ "$c" = 2.31 ] || break
done
diag "answers:$codes"
[ "$c" = 4.13 ] && [ "$n" -lt 10 ]
ok $? "a block among the first ten answered 4.13 (block $n: $c), before the payload came"
is "$(read_until /5/0/3 0 5) $(read_until /5/0/5 2 5)" "0 2" \
	"State Idle (0), Update Result 2 (not enough flash memory)"
left=$(nsenter -t "$cli" -m sh -c "ls -A '$T/state/update' 2>/dev/null | grep -v journal | tr '\n' ' '")
[ -z "$left" ]
ok $? "nothing left in the download area (${left:-empty})"
[ "$_fail" = 0 ] || { diag "$(tail -20 "$T/serve.log.err")"; }
done_testing
