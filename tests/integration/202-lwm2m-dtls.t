#!/bin/bash
# DTLS and block-wise transfers against libcoap's own servers (libcoap3-bin):
# registration over DTLS-PSK and DTLS-X.509 with coap-rd-openssl (a CoRE
# resource directory: it accepts the LwM2M Register POST /rd), a wrong PSK
# and a foreign CA failing within our own deadline, and 1 MiB block-wise
# PUT (Block1) and GET (Block2) through lib/coap with coap-server-openssl,
# plain and DTLS-PSK. The PSK must appear in no output, log or state file.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
command -v openssl >/dev/null || skip_all "openssl not installed"
plan 24
psk=it-psk-$RANDOM$RANDOM
printf '%s\n' "$psk" >"$T/psk"
printf 'not-the-key\n' >"$T/wrong"
chmod 600 "$T/psk" "$T/wrong"
# server: the name the device connects to; server-wrongname: another one
test_pki ca server client server-wrongname
test_pki other-ca stranger
cat "$T/server.pem" "$T/server.key" >"$T/server-all.pem"
cat "$T/server-wrongname.pem" "$T/server-wrongname.key" >"$T/wrongname-all.pem"

rd=$(free_port)
bg "$T/rd.log" coap-rd-openssl -A 127.0.0.1 -p "$rd" -k "$psk" -c "$T/server-all.pem" \
	-C "$T/ca.pem" -R "$T/ca.pem"
sleep 0.3
conf() { # name security extra-yaml
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: it-$1}
state_dir: $T/state-$1
dm:
  server: "coaps://127.0.0.1:$((rd + 1))"
  security: $2
  queue_window: 300ms
  timeout: 10s
$3
YAML
}
conf psk psk "  psk_identity: it-psk
  psk_key: {file: $T/psk}"
conf wrong psk "  psk_identity: it-psk
  psk_key: {file: $T/wrong}"
conf x509 x509 "  cert: $T/client.pem
  key: $T/client.key
  ca: $T/ca.pem"
conf stranger x509 "  cert: $T/stranger.pem
  key: $T/stranger.key
  ca: $T/ca.pem"
conf foreign x509 "  cert: $T/client.pem
  key: $T/client.key
  ca: $T/other-ca.pem"

M2M_CONFIG=$T/psk.yaml "$BIN/m2mdm-status" --report -v >"$T/psk.out" 2>"$T/psk.err"
is $? 0 "DTLS-PSK: registered with coap-rd-openssl"
grep -q "registered as it-psk at /rd/" "$T/psk.err"
ok $? "DTLS-PSK: Location-Path received"
t0=$(date +%s%N)
M2M_CONFIG=$T/wrong.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/wrong.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 7 ] && grep -q "not our Finished: PSK key" "$T/wrong.err"
ok $? "wrong PSK: exit 7 (auth-local), named as such, got $rc ($(cat "$T/wrong.err"))"
[ "$ms" -lt 4500 ]
ok $? "wrong PSK: reported within our 3 s deadline, not libcoap's 3 min ($ms ms)"
# with a long deadline: the server's silence after our Finished is enough
t0=$(date +%s%N)
M2M_CONFIG=$T/wrong.yaml "$BIN/m2mdm-status" --report -t 30 2>"$T/wrong2.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 7 ] && [ "$ms" -lt 8000 ]
ok $? "wrong PSK, 30 s deadline: exit 7 after the Finished went unanswered ($rc, $ms ms)"
M2M_CONFIG=$T/x509.yaml "$BIN/m2mdm-status" --report -v >"$T/x509.out" 2>"$T/x509.err"
is $? 0 "DTLS-X.509: registered with coap-rd-openssl"
M2M_CONFIG=$T/foreign.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/foreign.err"
rc=$?
[ "$rc" = 8 ] && grep -q "the server.s certificate /CN=server (issuer /CN=ca): .*other-ca.pem" "$T/foreign.err"
ok $? "DTLS-X.509: a server certificate from a foreign CA: exit 8 (auth-remote), got $rc ($(cat "$T/foreign.err"))"
M2M_CONFIG=$T/stranger.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/stranger.err"
rc=$?
[ "$rc" = 7 ] && grep -q "the server refused us" "$T/stranger.err"
ok $? "DTLS-X.509: our certificate from a CA the server does not trust: exit 7 (auth-local), got $rc ($(cat "$T/stranger.err"))"
rd2=$(free_port)
bg "$T/rd2.log" coap-rd-openssl -A 127.0.0.1 -p "$rd2" -c "$T/wrongname-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
sleep 0.3
sed "s/127.0.0.1:$((rd + 1))/127.0.0.1:$((rd2 + 1))/" "$T/x509.yaml" >"$T/wrongname.yaml"
M2M_CONFIG=$T/wrongname.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/wrongname.err"
rc=$?
[ "$rc" = 8 ] && grep -q "is not issued for 127.0.0.1" "$T/wrongname.err"
ok $? "DTLS-X.509: a certificate from the right CA for another name: exit 8, got $rc ($(cat "$T/wrongname.err"))"
nobody=$(free_port)
sed "s/127.0.0.1:$((rd + 1))/127.0.0.1:$nobody/" "$T/psk.yaml" >"$T/nobody.yaml"
M2M_CONFIG=$T/nobody.yaml "$BIN/m2mdm-status" --report -t 3 2>"$T/nobody.err"
is $? 6 "DTLS: nothing listening: exit 6 (unreachable): $(cat "$T/nobody.err")"
M2M_CONFIG=$T/psk.yaml "$BIN/m2mdm-status" --json >"$T/psk.json"
ok $? "--json with a PSK configuration"
! grep -rqF "$psk" "$T"/*.out "$T"/*.err "$T"/*.json "$T"/state-*
ok $? "the PSK appears in no output, log or state file"

srv=$(free_port)
bg "$T/cs.log" coap-server-openssl -A 127.0.0.1 -p "$srv" -d 8 -k "$psk"
sleep 0.3
head -c 1048576 /dev/urandom >"$T/blob"
"$TOOLS/coap-probe" put "coap://127.0.0.1:$srv" blob "$T/blob" >"$T/put.json"
is $? 0 "block-wise PUT of 1 MiB (Block1), UDP: $(cat "$T/put.json")"
"$TOOLS/coap-probe" -m 2097152 get "coap://127.0.0.1:$srv" blob "$T/got" >"$T/get.json"
is $? 0 "block-wise GET of 1 MiB (Block2), UDP: $(cat "$T/get.json")"
cmp -s "$T/blob" "$T/got"
ok $? "UDP: what came back is what went out"
"$TOOLS/coap-probe" -i it -k "$T/psk" put "coaps://127.0.0.1:$((srv + 1))" blob2 "$T/blob" >"$T/put2.json"
is $? 0 "block-wise PUT, DTLS-PSK: $(cat "$T/put2.json")"
"$TOOLS/coap-probe" -m 2097152 -i it -k "$T/psk" get "coaps://127.0.0.1:$((srv + 1))" blob2 "$T/got2" >"$T/get2.json"
is $? 0 "block-wise GET, DTLS-PSK: $(cat "$T/get2.json")"
cmp -s "$T/blob" "$T/got2"
ok $? "DTLS-PSK: what came back is what went out"
# an answer over the body limit is refused before it is all fetched (RFC 7959 4: Size2)
"$TOOLS/coap-probe" -m 65536 get "coap://127.0.0.1:$srv" blob "$T/got3" >"$T/get3.json"
is $? 12 "GET of 1 MiB with a 64 KiB limit: refused (12): $(cat "$T/get3.json")"
grep -q "larger than the limit of 65536 bytes" "$T/get3.json"
ok $? "the limit is named"

# always-on over DTLS: the server restarts and forgets the session; the
# device's next Update goes through a new handshake and a new Register
rd3=$(free_port)
bg "$T/rd3.log" coap-rd-openssl -A 127.0.0.1 -p "$rd3" -k "$psk"
rd3_pid=$BG_PID
sleep 0.3
sed "s/127.0.0.1:$((rd + 1))/127.0.0.1:$((rd3 + 1))/; s/state-psk/state-restart/" "$T/psk.yaml" |
	sed 's/^  timeout: .*/  timeout: 10s\n  lifetime: 12s/' >"$T/restart.yaml"
bg "$T/serve.log" env M2M_CONFIG="$T/restart.yaml" "$BIN/m2mdm-status" --serve -v
serve=$BG_PID
wait_for "$T/serve.log.err" "registered as it-psk" 5
kill "$rd3_pid"
wait "$rd3_pid" 2>/dev/null
bg "$T/rd3b.log" coap-rd-openssl -A 127.0.0.1 -p "$rd3" -k "$psk"
rd3b_pid=$BG_PID
t0=$(date +%s)
for ((i = 0; i < 300; i++)); do
	[ "$(grep -c "registered as it-psk" "$T/serve.log.err")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c "registered as it-psk" "$T/serve.log.err")" -ge 2 ]
ok $? "--serve, DTLS: registered again after the server restarted ($(($(date +%s) - t0)) s)"
! grep -q "not our Finished" "$T/serve.log.err"
ok $? "no stale handshake verdict on the way ($(tail -3 "$T/serve.log.err" | tr '\n' ' '))"
# stopped while the server is gone: a warning, exit 0 (systemd's stop is no failure)
kill "$rd3b_pid"
wait "$rd3b_pid" 2>/dev/null
kill -TERM "$serve"
wait "$serve"
is $? 0 "--serve stopped while the server is gone: exit 0"
grep -q "not de-registered: the registration expires by itself" "$T/serve.log.err"
ok $? "and says it could not de-register"
[ "$_fail" = 0 ] || diag "$(cat "$T"/*.err)"
done_testing
