#!/bin/bash
# 159-cert-new-key-tpm.t - m2mvpn-cert renew --new-key with the key in a TPM (swtpm behind
#   tpm2-abrmd): a new key at renewal (CMP kur) against OpenSSL's CMP mock, proven on the real
#   tunnel, the device's charon signing with the persistent handle (its tpm plugin).
#   Contract (m2mvpn-cert(1) keygen --next, renew --new-key; m2m.yaml(5) FILES):
#   - the next key is a blob (tpm-key-0xHANDLE.next, test 148); renew --new-key certifies it,
#     then the key in use is kept as its blob renamed .prev, the handle's key is evicted and
#     the next key persisted there, its blob taking the kept one's name; once the tunnel
#     proves the new pair, the .prev blob is destroyed: one persistent handle, one blob;
#   - the gateway refusing the new pair at the next up: the previous key comes back at the
#     handle (from its blob) with its certificate, the refused key's blob is destroyed, and
#     the up succeeds;
#   - a power cut between the steps (the record in the state directory written as the swap
#     writes it before each step): the next up finishes it, a key at the handle its
#     certificate's; the same half-way through a fallback;
#   - a key made before blobs were kept (none beside it): renew --new-key refuses, exit 2,
#     before anything is sent to the CA, and a certificate for a next key is not swapped in;
#   - a TPM that does not answer (the resource manager frozen) while up finishes a swap:
#     up ends at its own limit (exit 16), the record kept, and the next up finishes it;
#   - a wipe destroys the next and previous blobs as well as the key and its blob.
#   The 3.0 mock answers a kur only for the certificate whose issuer and serial equal its
#   -rsp_cert (tests/lab/cmp.sh): each new key's certificate keeps the first one's serial.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up
lab_cmp_pki

C=$LAB_CMP_DIR
CERT=$C/dev.pem
STATE=$LAB/dev/state
T=$LAB_TPM_TCTI
H=$LAB_TPM_HANDLE
BLOB=$STATE/tpm-key-$H
cat "$LAB_CA" "$LAB/pki/rogue-ca.pem" > "$C/trust-both.pem"
config() {
	lab_keys_config pos tpm dev-tpm.lab "cert: $CERT" "tcti: \"$T\"" "handle: $H"
	lab_cmp_enroll_yaml trust="$C/trust-both.pem" subject=CN=dev-tpm.lab san=dev-tpm.lab |
		sed 's/^/      /' >> "$M2M_CONFIG_FILE" || lab_die "enroll section"
}
flush_gw() { lab_swanctl gw --flush-certs --type x509 > /dev/null 2>&1; }
point() { openssl pkey -pubin -inform DER -outform DER 2> /dev/null | tail -c 65 | od -An -tx1 | tr -d ' \n'; }
# the public key (EC point, hex) of the key at the handle ("" if none), of a certificate, of a blob
hpub() {
	tpm2_readpublic -T "$T" -c "$H" -f der -o "$C/h.der" > /dev/null 2>&1 && point < "$C/h.der"
	rm -f "$C/h.der"
}
certpub() { openssl x509 -in "$1" -noout -pubkey 2> /dev/null | openssl pkey -pubin -outform DER 2> /dev/null | point; }
bpub() {   # the point in a blob's TPM2B_PUBLIC (ECC P-256, unique at its end)
	[ -e "$1" ] || return 0
	"$LAB_PY" - "$1" <<-'EOF'
	import struct, sys
	b = open(sys.argv[1], 'rb').read()
	n = struct.unpack('>H', b[8:10])[0]
	pub = b[10:10 + n]
	x, y = pub[-68 + 2:-34], pub[-32:]
	assert struct.unpack('>H', pub[-68:-66])[0] == 32 and struct.unpack('>H', pub[-34:-32])[0] == 32
	print('04' + x.hex() + y.hex())
	EOF
}
persistent() { tpm2_getcap -T "$T" handles-persistent 2> /dev/null | grep -c '0x81'; }
gw_established() { grep -c "IKE_SA rw-cert\[[0-9]*\] established" "$LAB/gw/charon.log"; }
# the certificate the mock will hand out for the key in use or (--next) the next one
issue_for() {   # issue_for cur|next OUT [lab_cmp_issue options]
	local which=$1 out=$2 nx=()
	shift 2
	[ "$which" = next ] && nx=(--next)
	m2mcert csr -p pos "${nx[@]}" --subject CN=dev-tpm.lab --san dev-tpm.lab -o "$C/$which.csr"
	[ "$M2M_RC" = 0 ] || lab_die "csr for the $which key: $M2M_ERR"
	lab_cmp_issue "csr:$C/$which.csr" "$out" --cn dev-tpm.lab "$@" > /dev/null ||
		lab_die "issuing for the $which key"
}
# the record the swap writes before a step (vpn-NAME.rekey: phase and the .prev cert's identity)
rec() { printf '%s %s' "$1" "$(stat -c '%d:%i' "$CERT.prev")" > "$STATE/vpn-pos.rekey"; }
# a blob's key persistent at the handle, as a step of the swap leaves it (tpm2-tools)
put_at_handle() {   # put_at_handle BLOB
	"$LAB_PY" - "$1" "$C" <<-'EOF' || lab_die "splitting $1"
	import struct, sys
	b = open(sys.argv[1], 'rb').read()
	n = struct.unpack('>H', b[8:10])[0]
	open(sys.argv[2] + '/k.pub', 'wb').write(b[8:10 + n])
	open(sys.argv[2] + '/k.priv', 'wb').write(b[10 + n:])
	EOF
	{
		tpm2_evictcontrol -T "$T" -C o -c "$H" > /dev/null 2>&1
		tpm2_createprimary -T "$T" -C o -G ecc256:aes128cfb -a 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda' -c "$C/prim.ctx" &&
			tpm2_load -T "$T" -C "$C/prim.ctx" -u "$C/k.pub" -r "$C/k.priv" -c "$C/k.ctx" &&
			tpm2_evictcontrol -T "$T" -C o -c "$C/k.ctx" "$H"
		tpm2_flushcontext -T "$T" -t
	} > "$LAB/log/tpm2.out" 2>&1 || lab_die "persisting $1: $(tail -n 2 "$LAB/log/tpm2.out")"
}

# ---- the device as enrolled: a TPM key at the handle (its blob kept) and its certificate
lab_keys_config pos tpm dev-tpm.lab "cert: $CERT" "tcti: \"$T\"" "handle: $H"
m2mcert keygen -p pos
is_rc 0 "keygen at $H: exit 0 (its blob kept)"
issue_for cur "$C/first.pem" --serial 159a01
cp "$C/first.pem" "$CERT"
lab_cmp_up --rsp "$C/first.pem"
config
old=$(hpub)
is "$(bpub "$BLOB")" "$old" "the kept blob is the key at the handle"
m2m up pos --timeout 20
is_rc 0 "up with the TPM key: exit 0"
m2m down pos

# ---- renew --new-key: the mock hands out a certificate for the next key
m2mcert keygen -p pos --next
is_rc 0 "keygen --next: exit 0"
new=$(bpub "$BLOB.next")
isnt "$new" "$old" "  a new key, as a blob"
issue_for next "$C/second.pem" --serial 159a01 --to '+40 days'
lab_cmp_up --rsp "$C/second.pem"
config
flush_gw
n=$(gw_established)
m2mcert renew -p pos --new-key --json
is_rc 0 "renew --new-key, the profile down: exit 0"
is "$(jget done <<< "$M2M_OUT")" renewed "  --json: done renewed"
is "$(jget proof <<< "$M2M_OUT")" proven "  --json: proof proven (the tunnel came up with the new pair)"
ok "  the mock got a kur" lab_cmp_received KUR
is "$(hpub)" "$new" "  the key at $H is the one keygen --next made"
is "$(certpub "$CERT")" "$new" "  the certificate in place is its own"
is "$(bpub "$BLOB")" "$new" "  the kept blob is the new key's"
nok "  proven: no .next or .prev blob left (the old key destroyed)" eval 'test -e "$BLOB.next" || test -e "$BLOB.prev"'
is "$(persistent)" 1 "  one persistent handle"
nok "  no $CERT.next or .prev left" eval 'test -e "$CERT.next" || test -e "$CERT.prev"'
ok "  the gateway saw an IKE SA come up for the proof" test "$(gw_established)" -gt "$n"
m2m up pos --timeout 20
is_rc 0 "up with the new pair: exit 0"
ok "  traffic through the tunnel" lab_ping_inner 3
ok "  charon signed with the TPM" grep -q "ECDSA_WITH_SHA256_DER successful" "$LAB/dev/charon.log"
m2m down pos

# ---- the gateway refuses the new pair at the next up: the previous pair back
second=$new
m2mcert keygen -p pos --next
third=$(bpub "$BLOB.next")
issue_for next "$C/rogue.pem" --serial 159a09 --ca rogue-ca
cp "$C/rogue.pem" "$CERT.next"   # as a renewal leaves it, just before the swap
flush_gw
m2m up pos --timeout 20
is_rc 0 "up with a new pair the gateway refuses: exit 0, with the previous pair"
like "$M2M_ERR" "refused the renewed certificate; the previous one is back" "  a warning says the previous one is back"
is "$(hpub)" "$second" "  the previous key is at $H again"
is "$(certpub "$CERT")" "$second" "  and the previous certificate, its own"
is "$(bpub "$BLOB")" "$second" "  and its blob kept"
nok "  the refused key's blob is destroyed, no .prev left" eval 'test -e "$BLOB.next" || test -e "$BLOB.prev"'
isnt "$(hpub)" "$third" "  (not the refused one)"
nok "  no $CERT.prev left" test -e "$CERT.prev"
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a power cut in the swap after the next key took the handle, before its blob took
#      the kept one's name (the key in use kept as .prev already)
m2mcert keygen -p pos --next
fourth=$(bpub "$BLOB.next")
issue_for next "$CERT.next" --serial 159a01 --to '+60 days'
cp "$CERT" "$CERT.prev"
mv "$BLOB" "$BLOB.prev"
put_at_handle "$BLOB.next"
is "$(hpub)" "$fourth" "(set-up: the next key at the handle, as the cut left it)"
rec taking
flush_gw
m2m up pos --timeout 20
is_rc 0 "a swap cut after the handle changed: the next up comes up"
is "$(hpub)" "$fourth" "  with the new key at $H"
is "$(certpub "$CERT")" "$fourth" "  and its certificate"
is "$(bpub "$BLOB")" "$fourth" "  its blob kept"
nok "  proven: no .next or .prev blob left" eval 'test -e "$BLOB.next" || test -e "$BLOB.prev"'
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- cut earlier: the key in use kept as .prev, the handle not changed yet
m2mcert keygen -p pos --next
fifth=$(bpub "$BLOB.next")
issue_for next "$CERT.next" --serial 159a01 --to '+70 days'
cp "$CERT" "$CERT.prev"
mv "$BLOB" "$BLOB.prev"
rec keeping
flush_gw
m2m up pos --timeout 20
is_rc 0 "a swap cut after the key in use was kept: the next up comes up"
is "$(hpub)" "$fifth" "  with the new key at $H"
is "$(certpub "$CERT")" "$fifth" "  and its certificate"
nok "  proven: no .next or .prev blob left" eval 'test -e "$BLOB.next" || test -e "$BLOB.prev"'
is "$(persistent)" 1 "  one persistent handle"
m2m down pos

# ---- a power cut half-way through a fallback: the refused key's blob destroyed, the
#      previous key back at the handle, its blob not renamed yet
m2mcert keygen -p pos --next
issue_for next "$C/rogue2.pem" --serial 159a0a --ca rogue-ca
cp "$CERT" "$CERT.prev"
mv "$BLOB" "$BLOB.prev"
put_at_handle "$BLOB.next"
rm -f "$BLOB.next"
cp "$C/rogue2.pem" "$CERT"
put_at_handle "$BLOB.prev"
rec restoring
flush_gw
m2m up pos --timeout 20
is_rc 0 "a fallback cut half-way: the next up comes up"
is "$(hpub)" "$fifth" "  with the previous key at $H"
is "$(certpub "$CERT")" "$fifth" "  and its certificate"
is "$(bpub "$BLOB")" "$fifth" "  its blob kept"
nok "  no $CERT.prev, no .prev blob left" eval 'test -e "$CERT.prev" || test -e "$BLOB.prev"'
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a key made before blobs were kept: refused before anything is sent
mv "$BLOB" "$C/kept.blob"
m2mcert keygen -p pos --next --force
sent=$(lab_cmp_requests)
m2mcert renew -p pos --new-key
is_rc 2 "renew --new-key with no blob of the key in use: exit 2"
like "$M2M_ERR" "has no blob" "  the message says why"
is "$(lab_cmp_requests)" "$sent" "  nothing sent to the CA"
is "$(hpub)" "$fifth" "  the key in use untouched"
# a certificate for the next key there all the same (an older version's renewal): not swapped
issue_for next "$CERT.next" --serial 159a01 --to '+80 days'
m2m up pos --timeout 20
is_rc 0 "up with a certified next key but no blob of the key in use: exit 0, with the key in use"
like "$M2M_ERR" "has no blob .* nothing swapped" "  a warning says nothing is swapped, and why"
is "$(hpub)" "$fifth" "  the key in use is still at $H"
is "$(certpub "$CERT")" "$fifth" "  with its certificate"
nok "  no $CERT.prev made" test -e "$CERT.prev"
m2m down pos
rm -f "$CERT.next"
mv "$C/kept.blob" "$BLOB"

# ---- a swap's TPM step under up's limit: the resource manager frozen while a cut swap
#      is finished (the key in use kept as .prev, the handle not changed yet)
m2mcert keygen -p pos --next --force
sixth=$(bpub "$BLOB.next")
issue_for next "$CERT.next" --serial 159a01 --to '+90 days'
cp "$CERT" "$CERT.prev"
mv "$BLOB" "$BLOB.prev"
rec keeping
tabrmd=$(lab_pid tabrmd)
kill -STOP "$tabrmd"
timed m2m up pos --timeout 5
kill -CONT "$tabrmd"
is_rc 16 "resource manager frozen while a swap is finished, up --timeout 5: exit 16"
ok "  up returned within 5 s + 100 ms (${ELAPSED} ms)" test "$ELAPSED" -le 5100
like "$M2M_ERR" "cannot be settled" "  a warning says the key and certificate could not be settled"
ok "  the record is kept for the next run" test -e "$STATE/vpn-pos.rekey"
flush_gw
m2m up pos --timeout 20
is_rc 0 "the resource manager thawed: the next up finishes the swap and comes up"
is "$(hpub)" "$sixth" "  with the new key at $H"
is "$(certpub "$CERT")" "$sixth" "  and its certificate"
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a wipe: the next and the previous key go with the key in use and its blob
m2mcert keygen -p pos --next
cp "$BLOB" "$BLOB.prev"   # a previous key kept (as while a new pair waits for its proof)
ok "three blobs before the wipe" eval 'test -e "$BLOB" && test -e "$BLOB.next" && test -e "$BLOB.prev"'
M2M_BIN=$M2M_BIN_DIR/m2mdm-policy m2m wipe --reason "test 159" --yes
is_rc 0 "m2mdm-policy wipe: exit 0"
nok "  no blob left" eval 'ls "$STATE"/tpm-key-* > /dev/null 2>&1'
is "$(persistent)" 0 "  no persistent handle left"
done_testing
