#!/bin/bash
# m2mdm-status --serve against a hostile server (tests/tools/coap-hostile.py, a raw CoAP
# peer whose expected answers come from RFC 7252 and RFC 7959): a Size1 claim of 4 GiB
# and bodies grown past dm.max_body are refused with 4.13 and Size1 = the limit, nothing
# allocated from the claim; stray Block1 blocks get 4.08 and change nothing; a write in
# blocks applies whole or not at all; SZX 7, an unknown Accept and a wrong If-Match get
# 4.00, 4.06 and 4.12. Under a stream of oversized bodies the client's peak RSS stays
# within 1 MB of its idle RSS.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 27
port=$(free_port)
ep=it-hostile-$port
limit=65536
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $ep, manufacturer: m2m test lab, model: hostile}
state_dir: $T/state
charon: {vici: "unix://$T/no-charon.vici"}
dm:
  server: "coap://127.0.0.1:$port"
  security: nosec
  lifetime: 10m
  max_body: 64KiB
  hooks: {reboot: $T/reboot}
YAML
# the reboot hook counts its runs (an Execute of Reboot sent twice must run it once)
printf '#!/bin/sh\necho run >> %s/reboots\n' "$T" > "$T/reboot" && chmod 755 "$T/reboot"
export M2M_CONFIG=$T/m2m.yaml
bg "$T/srv.log" python3 "$ROOT/tests/tools/coap-hostile.py" "$port" "$limit" "$T/go" \
	size1 grow stray atomic szx7 accept ifmatch dup big flood 20
wait_for "$T/srv.log" '"event":"listening"' 10
bg "$T/serve.log" "$BIN/m2mdm-status" --serve
cli=$BG_PID
wait_for "$T/srv.log" '"event":"registered"' 10
ok $? "the client registered with the hostile server"
sleep 0.5
# the peak RSS from now on (clear_refs 5 resets VmHWM), against the RSS at rest
echo 5 >"/proc/$cli/clear_refs"
idle=$(awk '/^VmRSS:/ { print $2 }' "/proc/$cli/status")
touch "$T/go"
wait_for "$T/srv.log" '"event":"done"' 120
ok $? "the hostile server went through its list"
for c in size1-claim size1-then-last body-past-limit body-past-limit-not-applied \
	stray-block-more stray-block-last stray-not-applied blocks-atomic blocks-applied-whole \
	blocks-repeated blocks-restart block2-szx7 block1-szx7 accept-unknown if-match-wrong if-match-right \
	if-match-any dup-answered-again big-datagram-then-alive flood; do
	is "$(check_result "$T/srv.log" "$c")" pass "$c"
done
sleep 0.5
is "$(grep -c . "$T/reboots" 2>/dev/null)" 1 "an Execute sent again with its Message ID ran the reboot hook once (RFC 7252 4.5)"
kill -0 "$cli" 2>/dev/null
ok $? "the client is still serving"
peak=$(awk '/^VmHWM:/ { print $2 }' "/proc/$cli/status")
diag "RSS at rest ${idle} kB, peak under attack ${peak} kB"
[ -n "$peak" ] && [ -n "$idle" ] && [ $((peak - idle)) -le 1024 ]
ok $? "peak RSS under a stream of oversized bodies within 1 MB of the idle RSS (+$((peak - idle)) kB)"
grep -qE "datagram\(s\) from the server too large \(over [0-9]+ bytes\) or malformed: dropped" \
	"$T/serve.log.err"
ok $? "the dropped datagram is said in the client's log"
grep -qiE "abort|assert|sanitizer" "$T/serve.log" "$T/serve.log.err"
ok $((!$?)) "nothing in the client's log of a crash"
done_testing
