#!/bin/bash
# --serve over DTLS when the server has lost our session: a NAT between them rebinds
# (tests/tools/udp-relay.py talks to the server from a new port), so the server (libcoap's
# coap-rd-openssl, DTLS-PSK) drops our records of an epoch it does not know without a
# word, as after a restart or a failover. The Update that gets no answer is followed by
# a new handshake (RFC 6347 allows one at any time) and the Update again, within one
# Update interval. Then a lossy link (30% both ways): the Update does not block the
# client, so notifications keep flowing while it is retransmitted.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
command -v python3 >/dev/null || skip_all "python3 not installed"
plan 6
psk=it-psk-$RANDOM$RANDOM
printf '%s\n' "$psk" >"$T/psk"
chmod 600 "$T/psk"
rd=$(free_port)
relay=$(free_port)
mkfifo "$T/ctl"
bg "$T/rd.log" coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk"
bg "$T/relay.log" python3 "$ROOT/tests/tools/udp-relay.py" "$relay" "$((rd + 1))" "$T/ctl"
exec 9>"$T/ctl"
wait_for "$T/relay.log" '"event":"listening"' 10
ctl() { echo "$*" >&9; }
cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: it-recover}
state_dir: $T/state
dm:
  server: "coaps://127.0.0.1:$relay"
  security: psk
  psk_identity: it-psk
  psk_key: {file: $T/psk}
  lifetime: 12s
YAML
export M2M_CONFIG=$T/m2m.yaml
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
serve=$BG_PID
wait_for "$T/serve.log.err" "registered as it-recover" 10
ok $? "--serve registered over DTLS through the relay"
# an Update goes out 9 s after the registration (lifetime 12 s less a quarter); coap-rd,
# a CoRE resource directory, answers it 4.05, so the client registers anew each time
for ((i = 0; i < 150; i++)); do
	[ "$(grep -cE "updated |registered as" "$T/serve.log.err")" -ge 2 ] && break
	sleep 0.1
done
ctl rebind
wait_for "$T/relay.log" '"event":"rebind"' 5
n=$(grep -cE "updated |registered as" "$T/serve.log.err")
t0=$(date +%s%N)
for ((i = 0; i < 400; i++)); do
	[ "$(grep -cE "updated |registered as" "$T/serve.log.err")" -gt "$n" ] && break
	sleep 0.1
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(grep -cE "updated |registered as" "$T/serve.log.err")" -gt "$n" ]
ok $? "after the server lost the session: Updated again (${ms} ms after the rebind)"
grep -q "a new DTLS handshake, then the Update again" "$T/serve.log.err"
ok $? "through a new handshake"
# the rebind came just after an Update: the next is due 9 s later, and one Update interval
# (9 s) after that is the target
# the first Update after the rebind goes out up to 9 s later; one Update interval (9 s)
# after that is the target
[ "$ms" -le 18000 ]
ok $? "within one Update interval of the first Update that got no answer (${ms} ms from the rebind)"
diag "$(grep -E "no answer|new DTLS|registered as|updated" "$T/serve.log.err" | tail -n 4)"

# a lossy link: the Update is retransmitted by libcoap while the client serves on
ctl loss 0.3
wait_for "$T/relay.log" '"event":"loss"' 5
sleep 20
kill -0 "$serve" 2>/dev/null
ok $? "--serve still running under 30% loss"
ctl loss 0
n=$(grep -cE "updated |registered as" "$T/serve.log.err")
for ((i = 0; i < 300; i++)); do
	[ "$(grep -cE "updated |registered as" "$T/serve.log.err")" -gt "$n" ] && break
	sleep 0.1
done
[ "$(grep -cE "updated |registered as" "$T/serve.log.err")" -gt "$n" ]
ok $? "and Updating after the loss ends"
[ "$_fail" = 0 ] || diag "$(cat "$T/serve.log.err")"
done_testing
