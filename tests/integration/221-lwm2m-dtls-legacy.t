#!/bin/bash
# DTLS 1.2 against a server without RFC 5746 (issue 14, finding 3): GnuTLS's
# gnutls-serv (an independent DTLS implementation) with PSK and
# %DISABLE_SAFE_RENEGOTIATION sends no renegotiation_info extension in its
# ServerHello, as Californium/Scandium 2.x does. RFC 5746 4.2 lets a client
# that never renegotiates talk to such a server; we forbid renegotiation
# (SSL_OP_NO_RENEGOTIATION) and allow it (SSL_OP_LEGACY_SERVER_CONNECT).
# gnutls-serv --echo is no LwM2M server: it sends our Register back, which we
# answer 4.04 (no /rd here), and that answer comes back to us in turn: the
# Register fails with "unexpected answer 4.04", proof that CoAP went both
# ways inside the session. Every handshake failure must name its cause.
# Run in a network namespace of its own (gnutls-serv binds every address).
if [ -z "${M2M_IN_NETNS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "1..0 # SKIP needs root (a network namespace)"; exit 0; }
	M2M_IN_NETNS=1 exec unshare -n -- "$0" "$@"
fi
. "$(dirname "$0")/lwm2m-lib.sh"
command -v gnutls-serv >/dev/null || skip_all "gnutls-bin not installed"
command -v tcpdump >/dev/null || skip_all "tcpdump not installed"
ip link set lo up
plan 10
psk=it-psk-$RANDOM$RANDOM
printf '%s\n' "$psk" >"$T/psk"
printf 'not-the-key\n' >"$T/wrong"
chmod 600 "$T/psk" "$T/wrong"
# gnutls-serv: "identity:key in hex"
printf 'it-psk:%s\n' "$(printf %s "$psk" | od -An -tx1 | tr -d ' \n')" >"$T/pskpasswd"
port=$(free_port)
legacy='NORMAL:+PSK:+ECDHE-PSK:-VERS-TLS-ALL:+VERS-DTLS1.2:%DISABLE_SAFE_RENEGOTIATION'

conf() { # name key-file
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: it-legacy}
state_dir: $T/state-$1
dm:
  server: "coaps://127.0.0.1:$port"
  security: psk
  psk_identity: it-psk
  psk_key: {file: $T/$2}
  queue_window: 300ms
  jitter: 0s
  timeout: 5s
YAML
}
conf psk psk
conf wrong wrong
serve() { # log priority
	bg "$T/$1" gnutls-serv --udp --echo -p "$port" --pskpasswd "$T/pskpasswd" --priority "$2"
	SRV=$BG_PID
	wait_for "$T/$1" "listening on IPv4" 5
}
stop() { kill "$1" 2>/dev/null; wait "$1" 2>/dev/null; }

bg "$T/cap.out" tcpdump -n -i lo -U --immediate-mode -Z root -w "$T/cap.pcap" udp port "$port"
cap=$BG_PID
wait_for "$T/cap.out.err" "listening on" 5
serve srv.log "$legacy"
M2M_CONFIG=$T/psk.yaml "$BIN/m2mdm-status" --report -v >"$T/psk.out" 2>"$T/psk.err"
rc=$?
sleep 0.3
stop "$cap"
python3 "$ROOT/tests/tools/dtls-hello.py" "$T/cap.pcap" "$port" >"$T/hello.json"
sh=$(grep -m1 '"ServerHello"' "$T/hello.json")
[ -n "$sh" ] && ! grep -qE '"extensions": \[([0-9]+, )*65281[],]' <<<"$sh"
ok $? "the server's ServerHello carries no renegotiation_info (65281): $sh"
grep -m1 '"ClientHello"' "$T/hello.json" | grep -qE '"scsv": true|65281'
ok $? "our ClientHello still offers RFC 5746 (SCSV or the extension)"
! grep -q "DTLS" "$T/psk.err"
ok $? "the handshake succeeded: no DTLS error ($(tr '\n' ' ' <"$T/psk.err"))"
[ "$rc" = 12 ] && grep -q "Register: unexpected answer 4.04" "$T/psk.err"
ok $? "the Register went through the session and came back (echo): exit 12, got $rc"
app=$(grep application_data "$T/hello.json")
grep -qE '"client": [1-9].*"server": [1-9]' <<<"$app"
ok $? "application data records both ways on the wire: $app"

# a wrong PSK: the server cannot check our Finished; the cause is named
t0=$(date +%s%N)
M2M_CONFIG=$T/wrong.yaml "$BIN/m2mdm-status" --report -t 4 >"$T/wrong.out" 2>"$T/wrong.err"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" = 7 ] && grep -q "DTLS: the server answered the handshake but not our Finished: PSK key" "$T/wrong.err"
ok $? "wrong PSK: exit 7 (auth-local), named: $(cat "$T/wrong.err")"
# the bound is the run's 4 s; 2 s of slack for a loaded machine
[ "$ms" -lt 6000 ]
ok $? "wrong PSK: within the run's bound ($ms ms)"
stop "$SRV"

# a server that only speaks DTLS 1.0: we refuse it, and say OpenSSL's reason
serve srv10.log 'NORMAL:+PSK:-VERS-ALL:+VERS-DTLS1.0:%DISABLE_SAFE_RENEGOTIATION'
M2M_CONFIG=$T/psk.yaml "$BIN/m2mdm-status" --report -t 4 >"$T/v10.out" 2>"$T/v10.err"
rc=$?
[ "$rc" = 8 ] && grep -q "we refused the server (protocol version: unsupported protocol)" "$T/v10.err"
ok $? "DTLS 1.0 only: exit 8 (auth-remote), OpenSSL's reason named: $(cat "$T/v10.err")"
stop "$SRV"

# an RFC 5746 server (the same without the priority keyword) works as before
serve srv5746.log 'NORMAL:+PSK:+ECDHE-PSK:-VERS-TLS-ALL:+VERS-DTLS1.2'
M2M_CONFIG=$T/psk.yaml "$BIN/m2mdm-status" --report -t 4 >"$T/safe.out" 2>"$T/safe.err"
rc=$?
[ "$rc" = 12 ] && grep -q "Register: unexpected answer 4.04" "$T/safe.err"
ok $? "a server with RFC 5746: the same, exit 12, got $rc"
stop "$SRV"

! grep -rqF "$psk" "$T"/*.out "$T"/*.err "$T"/state-*
ok $? "the PSK appears in no output, log or state file"
[ "$_fail" = 0 ] || { diag "$(cat "$T/hello.json" "$T"/*.err)"; }
done_testing
