#!/bin/bash
# DTLS-X.509 with the device's private key in a TPM 2.0 (swtpm of the test's
# own, reached directly through the swtpm TCTI): m2mvpn-cert keygen --store
# tpm, a CSR signed in the TPM, a certificate from a test CA, and
# coap-rd-openssl requiring client certificates from that CA. libcoap 4.3.1
# has no key type for a TPM key, so the handshake's signature comes from the
# key store (lib/coap). m2mdm-status --report registers with it, ECDSA and
# RSA (the server refuses a client without a certificate, so a registration
# proves the TPM signed); a key with an auth value
# registers with the right one and exits 9 with a wrong one, before any
# handshake, as for VPN profiles, and without a pin configured it is tried
# empty once, not at every handshake; a certificate of another key is refused
# (9); --serve gets through a new handshake after the server restarted; a
# half-written tpm: mapping is a config error.
. "$(dirname "$0")/lwm2m-lib.sh"
command -v coap-rd-openssl >/dev/null || skip_all "libcoap3-bin not installed"
command -v swtpm >/dev/null || skip_all "swtpm not installed"
plan 17

# the TPM, in the test's own directory
mkdir -m 700 "$T/tpm"
swtpm socket --tpm2 --tpmstate dir="$T/tpm" --server type=unixio,path="$T/tpm/sock" \
	--ctrl type=unixio,path="$T/tpm/sock.ctrl" --flags not-need-init,startup-clear \
	--log file="$T/tpm/log" >"$T/swtpm.out" 2>&1 &
BG_PID=$!
_pids+=("$BG_PID")
for ((i = 0; i < 50; i++)); do [ -S "$T/tpm/sock" ] && break; sleep 0.1; done
[ -S "$T/tpm/sock" ] || skip_all "swtpm did not start: $(cat "$T/swtpm.out")"
TCTI="swtpm:path=$T/tpm/sock"
export M2M_STATE_DIR=$T/state

cert() { "$BIN/m2mvpn-cert" "$@" >>"$T/cert.log" 2>&1; }
test_pki ca server
cat "$T/server.pem" "$T/server.key" >"$T/server-all.pem"
# tpm_dev HANDLE NAME [keygen args]: a key in the TPM and its certificate from the CA
tpm_dev() {
	local h=$1 n=$2
	shift 2
	cert keygen --store tpm --tcti "$TCTI" --handle "$h" "$@" &&
		cert csr --store tpm --tcti "$TCTI" --handle "$h" $(grep -o -- '--pin-file [^ ]*' <<<"$*") \
			--subject "CN=$n" --san "$n" -o "$T/$n.csr" &&
		openssl x509 -req -in "$T/$n.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
			-days 2 -copy_extensions copy -out "$T/$n.pem" >>"$T/cert.log" 2>&1
}
printf 'auth-%s%s' "$RANDOM" "$RANDOM" >"$T/auth"
printf 'not-the-auth' >"$T/bad"
chmod 600 "$T/auth" "$T/bad"
tpm_dev 0x81010002 it-tpm ||
	skip_all "cannot make the TPM key: $(tail -n 3 "$T/cert.log")"
tpm_dev 0x81010003 it-tpm-rsa --type rsa-2048 ||
	skip_all "cannot make the RSA TPM key: $(tail -n 3 "$T/cert.log")"
tpm_dev 0x81010004 it-tpm-auth --pin-file "$T/auth" ||
	skip_all "cannot make the TPM key with an auth value: $(tail -n 3 "$T/cert.log")"

rd=$(free_port)
bg "$T/rd.log" coap-rd-openssl -A 127.0.0.1 -p "$rd" -c "$T/server-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
sleep 0.3
# the server demands a client certificate: a registration's signature can only come from the TPM
timeout 5 openssl s_client -dtls1_2 -connect "127.0.0.1:$((rd + 1))" </dev/null >"$T/probe.out" 2>&1
grep -q "^Client Certificate Types:" "$T/probe.out" && grep -q "SSL alert number 40" "$T/probe.out"
ok $? "coap-rd-openssl asks for a client certificate and refuses a client without one (openssl s_client)"
conf() { # name cert handle [extra key line]
	cat >"$T/$1.yaml" <<YAML
version: 1
device: {id: $1}
state_dir: $T/state-$1
dm:
  server: "coaps://127.0.0.1:$((rd + 1))"
  security: x509
  queue_window: 300ms
  timeout: 10s
  cert: $T/$2.pem
  ca: $T/ca.pem
  key:
    tpm: {handle: $3, tcti: "$TCTI"}
${4:-}
YAML
	chmod 600 "$T/$1.yaml"
}
report() { M2M_CONFIG=$T/$1.yaml "$BIN/m2mdm-status" --report -v -t "${2:-10}" >"$T/$1.out" 2>"$T/$1.err"; }

conf ec it-tpm 0x81010002
report ec
is $? 0 "DTLS-X.509, ECDSA key in the TPM: registered with coap-rd-openssl ($(tail -n 1 "$T/ec.err"))"
grep -q "registered as ec at /rd/" "$T/ec.err"
ok $? "ECDSA TPM key: Location-Path received"
M2M_CONFIG=$T/ec.yaml "$BIN/m2mdm-status" --json >"$T/ec.json" 2>&1
python3 -c 'import json, sys
m = json.load(open(sys.argv[1]))["management"]
c = m["certificate"]
sys.exit(0 if m["registered"] and c["store"] == "tpm" and "CN=it-tpm" in c["subject"] and
         c["renewal"] == "due" and 0 < c["seconds_left"] <= 2 * 86400 else 1)' "$T/ec.json"
ok $? "--json: the management certificate, its store (tpm) and renewal due (2 days left)"
M2M_CONFIG=$T/ec.yaml "$BIN/m2mdm-status" --color=never >"$T/ec.txt" 2>&1
grep -qE "^  \(management\) due +.*CN=it-tpm, until " "$T/ec.txt"
ok $? "the technician's view lists it under Certificates ($(grep management "$T/ec.txt"))"

conf rsa it-tpm-rsa 0x81010003
report rsa
is $? 0 "DTLS-X.509, RSA key in the TPM: registered ($(tail -n 1 "$T/rsa.err"))"

# a key another tool made without an auth value and without the noDA attribute: tried
# empty once (it signs), remembered, and not tried again on the next run
if command -v tpm2_create >/dev/null; then
	( export TPM2TOOLS_TCTI=$TCTI
	  mkdir -p "$T/tools" && cd "$T/tools" &&
	  # no resource manager here: what each tool leaves loaded is flushed by hand
	  tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c prim.ctx && tpm2_flushcontext -t &&
	  tpm2_create -Q -C prim.ctx -g sha256 -G ecc256:ecdsa-sha256 -u nd.pub -r nd.priv \
		-a "sign|fixedtpm|fixedparent|sensitivedataorigin|userwithauth" && tpm2_flushcontext -t &&
	  tpm2_load -Q -C prim.ctx -u nd.pub -r nd.priv -c nd.ctx &&
	  tpm2_evictcontrol -Q -C o -c nd.ctx 0x81010006 && tpm2_flushcontext -t ) >"$T/nd.log" 2>&1
	cert csr --store tpm --tcti "$TCTI" --handle 0x81010006 --subject CN=it-nd --san it-nd \
		-o "$T/it-nd.csr" &&
		openssl x509 -req -in "$T/it-nd.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
			-days 2 -copy_extensions copy -out "$T/it-nd.pem" >>"$T/cert.log" 2>&1
	conf nd it-nd 0x81010006
	# (the second run registers anew: coap-rd-openssl answers an Update with 4.05)
	report nd && [ -n "$(ls "$T"/state-nd/fact-no-auth-* 2>/dev/null)" ] &&
		rm "$T/state-nd/dm-registration.json" && report nd
	ok $? "a key without auth value or noDA (tpm2-tools): registered twice, known after the first ($(tail -n 1 "$T/nd.err"))"
else
	ok 0 "# SKIP tpm2-tools not installed"
fi

conf auth it-tpm-auth 0x81010004 "    pin: {file: $T/auth}"
report auth
is $? 0 "a TPM key with an auth value: registered with the right one ($(tail -n 1 "$T/auth.err"))"
conf bad it-tpm-auth 0x81010004 "    pin: {file: $T/bad}"
report bad 3
rc=$?
[ "$rc" = 9 ] && grep -q "wrong auth value" "$T/bad.err" && [ "$(wc -l <"$T/bad.err")" = 1 ]
ok $? "a wrong auth value: exit 9 in one line, got $rc ($(cat "$T/bad.err"))"
! grep -q "$(cat "$T/auth")" "$T"/*.err "$T"/*.out "$T"/state-*/* 2>/dev/null
ok $? "the auth value is in no output or state file"

# the key has an auth value but the config gives none: tried empty once, under the same
# policy (a signature at every handshake would count a failure each towards the lockout)
conf nopin it-tpm-auth 0x81010004
report nopin 3
rc=$?
[ "$rc" = 9 ] && grep -q "has an auth value and none was given" "$T/nopin.err"
ok $? "an auth value needed, no pin configured: exit 9, got $rc ($(cat "$T/nopin.err"))"
report nopin 3
rc=$?
[ "$rc" = 9 ] && grep -q "not tried again" "$T/nopin.err"
ok $? "and not tried again, got $rc ($(cat "$T/nopin.err"))"

conf other it-tpm 0x81010003
report other 3
rc=$?
[ "$rc" = 9 ] && grep -q "does not match" "$T/other.err"
ok $? "a certificate of another key: exit 9, got $rc ($(cat "$T/other.err"))"

# always-on: the server restarts and forgets the session; libcoap's new handshake gets
# the TPM key again (it has no certificate or key of ours by itself)
rd2=$(free_port)
bg "$T/rd2.log" coap-rd-openssl -A 127.0.0.1 -p "$rd2" -c "$T/server-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
rd2_pid=$BG_PID
sleep 0.3
sed "s/127.0.0.1:$((rd + 1))/127.0.0.1:$((rd2 + 1))/; s/state-ec/state-serve/" "$T/ec.yaml" |
	sed 's/^  timeout: .*/  timeout: 10s\n  lifetime: 12s/' >"$T/serve.yaml"
chmod 600 "$T/serve.yaml"
bg "$T/serve.log" env M2M_CONFIG="$T/serve.yaml" "$BIN/m2mdm-status" --serve -v
serve=$BG_PID
wait_for "$T/serve.log.err" "registered as ec" 5
kill "$rd2_pid"
wait "$rd2_pid" 2>/dev/null
bg "$T/rd2b.log" coap-rd-openssl -A 127.0.0.1 -p "$rd2" -c "$T/server-all.pem" -C "$T/ca.pem" \
	-R "$T/ca.pem"
rd2b_pid=$BG_PID
for ((i = 0; i < 300; i++)); do
	[ "$(grep -c "registered as ec" "$T/serve.log.err")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c "registered as ec" "$T/serve.log.err")" -ge 2 ]
ok $? "--serve with the TPM key: registered again after the server restarted ($(tail -n 2 "$T/serve.log.err" | tr '\n' ' '))"
# stopped with the server gone: coap-rd-openssl 4.3.1 aborts (double free) on a De-register
kill "$rd2b_pid"
wait "$rd2b_pid" 2>/dev/null
kill -TERM "$serve"
wait "$serve"
is $? 0 "--serve stopped: exit 0"

cat >"$T/half.yaml" <<YAML
version: 1
device: {id: half}
dm:
  server: "coaps://127.0.0.1:$((rd + 1))"
  security: x509
  cert: $T/it-tpm.pem
  ca: $T/ca.pem
  key:
    tpm: [0x81010002]
YAML
chmod 600 "$T/half.yaml"
report half 3
rc=$?
[ "$rc" = 3 ] && grep -qE "half.yaml:[0-9]+:[0-9]+: .*dm\.key\.tpm" "$T/half.err"
ok $? "key: tpm: not a mapping: config error with line:column, got $rc ($(cat "$T/half.err"))"
grep -q . "$T/rd.log.err" && diag "coap-rd: $(tail -n 3 "$T/rd.log.err")"
ok 0 "coap-rd-openssl ran"
done_testing
