#!/bin/bash
# A Package pushed block by block (LwM2M TS 1.1 Core E.6 "push", Block1 of RFC 7959 2.3)
# is bounded in time like any update run (update.timeout, m2m.yaml(5)): a server that sends
# a block now and then, never long enough apart for the push's idle bound (93 s, CoAP's
# MAX_TRANSMIT_WAIT), must not hold the push, and with it the update lock, for ever. With
# update.timeout 6s and a block every 2 s, a block past the bound is refused, the push
# fails (State Idle, Update Result 4), its partial download is removed and the engine is
# free for the next run. Against the project's own CoAP peer (tests/tools/lw-observer.py).
. "$(dirname "$0")/lwm2m-fw-lib.sh"
plan 8

fw_vendor
head -c 300000 /dev/urandom >"$T/fw.bin"
fw_sign "$T/fw.pkg" "$T/fw.bin" 2.0.0
ok $? "a signed package of $(stat -c %s "$T/fw.pkg") bytes"
port=$(free_port)
fw_device "$port"
sed -i 's/^update:$/update:\n  timeout: 6s/' "$T/m2m.yaml"
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/srv.log" '"event":"register"' 20
ok $? "the client registered"

# push_blocks BLOCK...: the blocks, one every 2 s, each answered before the next is
# sent, until one is refused: codes (the answers), n (the index of the last sent), c (its code)
push_blocks() {
	local base t b
	codes="" n=0
	base=$(grep -c '"event":"block"' "$T/srv.log")
	for b in "$@"; do
		t=$(date +%s%N)
		ctl block /5/0/0 "$T/fw.pkg" "$b" 6 1 42
		wait_count '"event":"block"' $((base + n + 1)) 10
		c=$(field "$(ev block /5/0/0 $((base + n + 1)))" code)
		codes="$codes $c"
		[ "$c" = 2.31 ] || return 0
		n=$((n + 1))
		sleep $(awk -v t="$t" -v now="$(date +%s%N)" 'BEGIN { s = 2 - (now - t) / 1e9; print (s > 0 ? s : 0) }')
	done
}

# block n at about 2 n seconds
push_blocks 0 1 2 3 4 5 6 7
diag "answers to the blocks, one every 2 s:$codes"
[ "$n" -ge 2 ] && [ "$n" -le 5 ] && [ "$c" != 2.31 ]
ok $? "a block after update.timeout (6 s) is refused (block $n: $c), the ones before were taken"
is "$(read_until /5/0/3 0 5) $(read_until /5/0/5 4 5)" "0 4" \
	"the push failed: State Idle (0), Update Result 4 (connection lost during the download)"
[ ! -e "$T/state/update/package" ]
ok $? "its partial download is removed"
"$BIN/m2mdm-update" status --json >"$T/st.json" 2>&1
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(d["state"] not in ("failed", "idle"))' \
	"$T/st.json"
ok $? "the engine is free and says the push ended ($(head -c 160 "$T/st.json"))"

# a sender that starts over (block 0 again) every other block: the same push, bounded from
# its first start, not re-armed by each block 0 (or it would hold the update lock for ever)
push_blocks 0 1 0 1 0 1 0 1
diag "answers to blocks 0, 1, 0, 1, ... one every 2 s:$codes"
[ "$n" -ge 2 ] && [ "$n" -le 5 ] && [ "$c" != 2.31 ]
ok $? "restarted with block 0 every other block, a block after update.timeout from the first start is refused (block $n: $c)"
is "$(read_until /5/0/3 0 5) $(read_until /5/0/5 4 5)" "0 4" \
	"that push failed too: State Idle (0), Update Result 4"
[ "$_fail" = 0 ] || { diag "$(tail -20 "$T/srv.log")"; diag "$(tail -20 "$T/serve.log.err")"; }
done_testing
