#!/bin/bash
# 157-cert-new-key-token.t - m2mvpn-cert renew --new-key with the key on a token (SoftHSM2):
#   a new key at renewal (CMP kur, RFC 9483 4.1.3) against OpenSSL's CMP mock, proven on the
#   real tunnel, the device's charon signing with the token (its pkcs11 plugin).
#   Contract (m2mvpn-cert(1) keygen --next, renew --new-key; m2m_key_ref_next()):
#   - keygen --next makes the next key on the same token, under the id with the bytes of
#     ".next" added (id 01: 012e6e657874); the key in use (id 01) stays as it is;
#   - renew --new-key certifies the next key, then the token's objects change ids: the key in
#     use is kept under its id with ".prev" added, the next one takes id 01, its certificate
#     takes the file's place; once the tunnel proves the new pair, the old key is destroyed:
#     no private key is left on the token but the one with id 01;
#   - the gateway refusing the new pair at the next up: the previous key (id 01 again) and
#     certificate come back together, the refused key is destroyed, and the up succeeds;
#   - a power cut half-way through the swap (one object moved, the other not, as its record
#     in the state directory says): the next up finishes the move and comes up with a pair
#     whose key is its certificate's;
#   - the same for a cut earlier in the swap, and half-way through a fallback;
#   - a token that refuses the PIN as locked (its flags saying nothing) is tried once in a
#     process and counted once, and not offered that PIN in the next run; a module that
#     never answers holds up to its --timeout, a swap waiting or not;
#   - a wipe destroys the next and previous keys as well as the key in use, also after a
#     cut half-way (a private key alone under an id: found with a login).
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
M=$LAB_P11_MODULE
NEXT=012e6e657874 PREV=012e70726576
P11=(--store pkcs11 --module "$M" --id 01 --pin-file "$LAB_P11_PIN_FILE")
cat "$LAB_CA" "$LAB/pki/rogue-ca.pem" > "$C/trust-both.pem"
config() {
	lab_keys_config pos pkcs11 dev-hsm.lab "module: $M" "id: \"01\"" "cert: $CERT" \
		"pin: {file: $LAB_P11_PIN_FILE}"
	# the profile's enroll: section (the profile is the file's last part)
	lab_cmp_enroll_yaml trust="$C/trust-both.pem" subject=CN=dev-hsm.lab san=dev-hsm.lab |
		sed 's/^/      /' >> "$M2M_CONFIG_FILE" || lab_die "enroll section"
}
flush_gw() { lab_swanctl gw --flush-certs --type x509 > /dev/null 2>&1; }
# the public key of a token key by id, as a hash ("" if there is none)
p11pub() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --read-object --type pubkey \
		--id "$1" -o "$C/pub.der" > /dev/null 2>&1 &&
		openssl pkey -pubin -inform DER -in "$C/pub.der" -pubout 2> /dev/null | sha256sum | cut -d' ' -f1
	rm -f "$C/pub.der"
}
certpub() { openssl x509 -in "$1" -noout -pubkey 2> /dev/null | openssl pkey -pubin -pubout 2> /dev/null | sha256sum | cut -d' ' -f1; }
# the ids of the token's private keys, sorted, one line (with a copy of the PIN that the
# wipe at the end does not destroy)
cp "$LAB_P11_PIN_FILE" "$LAB/pin.copy"
privs() {
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login --pin "$(cat "$LAB/pin.copy")" \
		--list-objects --type privkey 2> /dev/null | sed -n 's/^ *ID: *//p' | sort | tr '\n' ' ' | sed 's/ $//'
}
# set the id of one of the token's objects (as a swap cut half-way leaves it)
set_id() {   # set_id TYPE FROM TO
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login --pin "$(cat "$LAB_P11_PIN_FILE")" \
		--type "$1" --id "$2" --set-id "$3" > "$LAB/log/setid.out" 2>&1 ||
		lab_die "pkcs11-tool --set-id: $(tail -n 2 "$LAB/log/setid.out")"
}
gw_established() { grep -c "IKE_SA rw-cert\[[0-9]*\] established" "$LAB/gw/charon.log"; }
# the certificate the mock will hand out for the token key with id $1 (CSR from the token)
issue_for() {   # issue_for ID OUT [lab_cmp_issue options]
	local id=$1 out=$2
	shift 2
	m2mcert csr --store pkcs11 --module "$M" --id "$id" --pin-file "$LAB_P11_PIN_FILE" \
		--subject CN=dev-hsm.lab --san dev-hsm.lab -o "$C/$id.csr"
	[ "$M2M_RC" = 0 ] || lab_die "csr for id $id: $M2M_ERR"
	lab_cmp_issue "csr:$C/$id.csr" "$out" --cn dev-hsm.lab "$@" > /dev/null ||
		lab_die "issuing for id $id"
}

# ---- the device as enrolled: a token key, id 01, and its certificate (serial 157a01)
m2mcert keygen "${P11[@]}"
is_rc 0 "keygen on the token: the device's key (id 01)"
issue_for 01 "$C/first.pem" --serial 157a01
cp "$C/first.pem" "$CERT"
lab_cmp_up --rsp "$C/first.pem"
config
old=$(p11pub 01)
m2m up pos --timeout 20
is_rc 0 "up with the token key: exit 0"
m2m down pos

# ---- keygen --next: on the same token, beside the key in use
m2mcert keygen -p pos --next
is_rc 0 "keygen -p pos --next: exit 0"
like "$M2M_OUT" "id=$NEXT" "  it names where: id $NEXT"
is "$(p11pub 01)" "$old" "  the key in use is unchanged"
new=$(p11pub $NEXT)
ok "  a next key there" test -n "$new"
isnt "$new" "$old" "  a new key"
m2mcert keygen -p pos --next
is_rc 9 "keygen --next again: the next key is not replaced without --force (9)"

# ---- renew --new-key: the mock hands out a certificate for the next key
issue_for $NEXT "$C/second.pem" --serial 157a01 --to '+40 days'
lab_cmp_up --rsp "$C/second.pem"
config
flush_gw
n=$(gw_established)
m2mcert renew -p pos --new-key --json
is_rc 0 "renew --new-key, the profile down: exit 0"
is "$(jget done <<< "$M2M_OUT")" renewed "  --json: done renewed"
is "$(jget proof <<< "$M2M_OUT")" proven "  --json: proof proven (the tunnel came up with the new pair)"
ok "  the mock got a kur" lab_cmp_received KUR
is "$(p11pub 01)" "$new" "  id 01 is the key keygen --next made"
is "$(certpub "$CERT")" "$new" "  the certificate in place is its own"
is "$(privs)" "01" "  one private key left on the token, id 01: the old one is destroyed"
is "$(p11pub $PREV)" "" "  no public key of the old one left either"
nok "  no $CERT.next or .prev left" eval 'test -e "$CERT.next" || test -e "$CERT.prev"'
ok "  the gateway saw an IKE SA come up for the proof" test "$(gw_established)" -gt "$n"
m2m up pos --timeout 20
is_rc 0 "up with the new pair: exit 0"
ok "  traffic through the tunnel" lab_ping_inner 3
m2m down pos

# ---- the gateway refuses the new pair at the next up: the previous pair back
second=$new
m2mcert keygen -p pos --next
third=$(p11pub $NEXT)
issue_for $NEXT "$C/rogue.pem" --serial 157a09 --ca rogue-ca
cp "$C/rogue.pem" "$CERT.next"   # as a renewal leaves it, just before the swap
flush_gw
m2m up pos --timeout 20
is_rc 0 "up with a new pair the gateway refuses: exit 0, with the previous pair"
like "$M2M_ERR" "refused the renewed certificate; the previous one is back" "  a warning says the previous one is back"
is "$(p11pub 01)" "$second" "  the previous key has id 01 again"
is "$(certpub "$CERT")" "$second" "  and the previous certificate, its own"
is "$(privs)" "01" "  the refused key is destroyed: one private key on the token"
isnt "$(p11pub 01)" "$third" "  (not the refused one)"
nok "  no $CERT.prev left" test -e "$CERT.prev"
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a power cut half-way through the swap: the next key's private key moved to id 01,
#      its public key not yet; the key in use moved to .prev already
m2mcert keygen -p pos --next
fourth=$(p11pub $NEXT)
issue_for $NEXT "$CERT.next" --serial 157a01 --to '+60 days'
cp "$CERT" "$CERT.prev"
set_id privkey 01 $PREV
set_id pubkey 01 $PREV
set_id privkey $NEXT 01
# the record the swap wrote before that move: the next key taking id 01
printf 'taking %s' "$(stat -c '%d:%i' "$CERT.prev")" > "$STATE/vpn-pos.rekey"
flush_gw
m2m up pos --timeout 20
is_rc 0 "a swap cut half-way on the token: the next up comes up"
is "$(p11pub 01)" "$fourth" "  with the new key at id 01"
is "$(certpub "$CERT")" "$fourth" "  and its certificate"
is "$(privs)" "01" "  proven: one private key on the token"
nok "  no $CERT.next or .prev left" eval 'test -e "$CERT.next" || test -e "$CERT.prev"'
m2m down pos

# ---- cut earlier in the swap: the key in use half-way to .prev (its private key moved)
m2mcert keygen -p pos --next
fifth=$(p11pub $NEXT)
issue_for $NEXT "$CERT.next" --serial 157a01 --to '+70 days'
cp "$CERT" "$CERT.prev"
set_id privkey 01 $PREV
printf 'keeping %s' "$(stat -c '%d:%i' "$CERT.prev")" > "$STATE/vpn-pos.rekey"
flush_gw
m2m up pos --timeout 20
is_rc 0 "a swap cut while the key in use moved aside: the next up comes up"
is "$(p11pub 01)" "$fifth" "  with the new key at id 01"
is "$(certpub "$CERT")" "$fifth" "  and its certificate"
is "$(privs)" "01" "  proven: one private key on the token"
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a power cut half-way through a fallback: the refused key destroyed, the previous
#      key's private key back at id 01, its public key not yet
m2mcert keygen -p pos --next
issue_for $NEXT "$C/rogue2.pem" --serial 157a0a --ca rogue-ca
cp "$CERT" "$CERT.prev"
set_id privkey 01 $PREV; set_id pubkey 01 $PREV
set_id privkey $NEXT 01; set_id pubkey $NEXT 01
cp "$C/rogue2.pem" "$CERT"
for t in privkey pubkey; do
	pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" --login --pin "$(cat "$LAB_P11_PIN_FILE")" \
		--delete-object --type $t --id 01 > "$LAB/log/del.out" 2>&1 || lab_die "deleting the refused key"
done
set_id privkey $PREV 01
printf 'restoring %s' "$(stat -c '%d:%i' "$CERT.prev")" > "$STATE/vpn-pos.rekey"
flush_gw
m2m up pos --timeout 20
is_rc 0 "a fallback cut half-way on the token: the next up comes up"
is "$(p11pub 01)" "$fifth" "  with the previous key at id 01"
is "$(certpub "$CERT")" "$fifth" "  and its certificate"
is "$(privs)" "01" "  one private key on the token"
nok "  no $CERT.prev left" test -e "$CERT.prev"
nok "  no record left" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a token that refuses the PIN as locked while its flags say nothing (a shim over
#      SoftHSM2): with a swap waiting, up tries the PIN once in its process, counts one event
m2mcert keygen -p pos --next
issue_for $NEXT "$CERT.next" --serial 157a01 --to '+80 days'
keep_pub=$(p11pub 01)
lab_keys_config pos pkcs11 dev-hsm.lab "module: $LAB_REPO/build/tests/tools/libp11-locked.so" "id: \"01\"" \
	"cert: $CERT" "pin: {file: $LAB_P11_PIN_FILE}"
export M2M_P11_LOG=$C/logins
rm -f "$M2M_P11_LOG" "$STATE/security-events"
m2m up pos --timeout 10
isnt "$M2M_RC" 0 "up with the token refusing the PIN as locked: fails ($M2M_RC)"
is "$(grep -c C_Login "$M2M_P11_LOG" 2> /dev/null)" 1 "  one login tried in the process (the swap's and the credentials' together)"
is "$(grep -c ' pin$' "$STATE/security-events" 2> /dev/null)" 1 "  one pin event"
rm -f "$M2M_P11_LOG"
m2m up pos --timeout 10
is "$(grep -c C_Login "$M2M_P11_LOG" 2> /dev/null || echo 0)" 0 "  the next run does not offer that PIN again"
unset M2M_P11_LOG
is "$(p11pub 01)" "$keep_pub" "  nothing swapped"
# ---- a module that never answers, a swap waiting: up holds its --timeout
lab_keys_config pos pkcs11 dev-hsm.lab "module: $LAB_REPO/build/tests/tools/libp11-hang.so" "id: \"01\"" \
	"cert: $CERT" "pin: {file: $LAB_P11_PIN_FILE}"
timed m2m up pos --timeout 3
cmp_ok "$ELAPSED" -le 3100 "a hung module with a swap waiting: up returns within its 3 s (${ELAPSED} ms, rc $M2M_RC)"
config
rm -f "$STATE"/pin-rejected* "$CERT.next"
m2mcert delete --store pkcs11 --module "$M" --id $NEXT --pin-file "$LAB_P11_PIN_FILE" --force
is_rc 0 "  (the next key made for it deleted)"

# ---- a wipe, after a power cut half-way through a swap: the key in use kept aside as .prev,
#      the next key's private key moved to id 01, its public key not yet (a private key
#      with no public object beside it: seen only once logged in)
m2mcert keygen -p pos --next
set_id privkey 01 $PREV
set_id pubkey 01 $PREV
set_id privkey $NEXT 01
is "$(privs)" "01 $PREV" "two private keys on the token before the wipe (one of them alone under id 01)"
# an up holding the profile's lock (as while it swaps keys): the wipe waits for it
lab_bg holder flock "$STATE/vpn-pos.lock" sleep 1.5
sleep 0.3
M2M_BIN=$M2M_BIN_DIR/m2mdm-policy timed m2m wipe --reason "test 157" --yes
is_rc 0 "m2mdm-policy wipe: exit 0"
cmp_ok "$ELAPSED" -ge 1000 "  it waited for the profile's lock (${ELAPSED} ms)"
ok "  (the PIN copy still opens the token)" pkcs11-tool --module "$M" --token-label "$LAB_P11_TOKEN" \
	--login --pin "$(cat "$LAB/pin.copy")" --list-objects
is "$(privs)" "" "  no private key left on the token"
is "$(p11pub $NEXT)$(p11pub $PREV)" "" "  nor public key"
done_testing
