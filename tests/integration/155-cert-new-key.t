#!/bin/bash
# 155-cert-new-key.t - m2mvpn-cert renew --new-key: a new key at renewal (CMP kur, RFC 9483
#   4.1.3: the new key's proof of possession in the request, the request signed with the
#   current certificate and key), against OpenSSL's CMP mock, proven on the real tunnel.
#   Contract (m2mvpn-cert(1) keygen --next, renew --new-key; m2m.yaml(5) FILES):
#   - keygen --next makes the next key beside the current one (<key>.next, 0600); the
#     current one stays in place;
#   - renew --new-key certifies the next key (the mock hands out a certificate for it: a
#     client that asked for the old key would refuse it, exit 9), then key and certificate
#     take the old pair's place together, the tunnel proves them (the profile down: up and
#     down again), and the old key is destroyed: no copy of it is left beside the new one;
#   - without a next key made ahead, renew --new-key makes one (of the current key's type);
#   - a machine key: exit 2 (file, token and TPM keys; a token's: 157, a TPM's: 159), nothing sent;
#   - the gateway refusing the new pair at the next up: the previous key AND certificate
#     come back together, and the up succeeds with them;
#   - a power cut half-way through a swap (the .next files as the renewal left them) or
#     through a fallback (its record in the state directory): the next up finishes it and
#     the tunnel comes up with a pair whose key is its certificate's.
#   The 3.0 mock answers a kur only for the certificate whose issuer and serial equal its
#   -rsp_cert (tests/lab/cmp.sh): the new key's certificate keeps the old one's serial.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
. "$(dirname "$0")/../lab/cmp.sh"
lab_require
lab_require_tool
lab_up
lab_cmp_pki

C=$LAB_CMP_DIR
KEY=$C/dev.key CERT=$C/dev.pem
STATE=$LAB/dev/state
cat "$LAB_CA" "$LAB/pki/rogue-ca.pem" > "$C/trust-both.pem"
config() { lab_cmp_config pos "$KEY" "$CERT" trust="$C/trust-both.pem" "$@"; }
flush_gw() { lab_swanctl gw --flush-certs --type x509 > /dev/null 2>&1; }
pub() { openssl pkey -in "$1" -pubout 2> /dev/null | sha256sum | cut -d' ' -f1; }
certpub() { openssl x509 -in "$1" -noout -pubkey 2> /dev/null | openssl pkey -pubin -pubout 2> /dev/null | sha256sum | cut -d' ' -f1; }
gw_established() { grep -c "IKE_SA rw-cert\[[0-9]*\] established" "$LAB/gw/charon.log"; }
# no file under $C holds the private key whose public key hash is $1
no_copy_of() {
	local f
	for f in "$C"/*; do
		[ -f "$f" ] && openssl pkey -in "$f" -noout 2> /dev/null && [ "$(pub "$f")" = "$1" ] &&
			{ diag "a copy of the old key: $f"; return 1; }
	done
	return 0
}

# ---- the device as enrolled: key and certificate (serial 155a01)
m2mcert keygen --store file --key "$KEY"
is_rc 0 "keygen: the device's key"
lab_cmp_issue "key:$KEY" "$C/first.pem" --serial 155a01 || lab_die "pre-issuing the first certificate"
cp "$C/first.pem" "$CERT"
lab_cmp_up --rsp "$C/first.pem"
config
old=$(pub "$KEY")

# ---- keygen --next: beside the current key
m2mcert keygen -p pos --next
is_rc 0 "keygen -p pos --next: exit 0"
like "$M2M_OUT" "created in $KEY.next" "  it names where: $KEY.next"
is "$(stat -c %a "$KEY.next" 2> /dev/null)" 600 "  the next key's file is 0600"
is "$(pub "$KEY")" "$old" "  the current key is unchanged"
new=$(pub "$KEY.next")
isnt "$new" "$old" "  a new key"
m2mcert keygen -p pos --next
is_rc 9 "keygen --next again: the next key is not replaced without --force (9)"

# ---- renew --new-key: the mock hands out a certificate for the next key
lab_cmp_issue "key:$KEY.next" "$C/second.pem" --serial 155a01 --to '+40 days' ||
	lab_die "pre-issuing the new key's certificate"
lab_cmp_up --rsp "$C/second.pem"
config   # after the mock: its URL
flush_gw
n=$(gw_established)
m2mcert renew -p pos --new-key --json
is_rc 0 "renew --new-key, the profile down: exit 0"
is "$(jget done <<< "$M2M_OUT")" renewed "  --json: done renewed"
is "$(jget proof <<< "$M2M_OUT")" proven "  --json: proof proven (the tunnel came up with the new pair)"
ok "  the mock got a kur" lab_cmp_received KUR
is "$(pub "$KEY")" "$new" "  the key in place is the one keygen --next made"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/second.pem")" "  the certificate in place is the new key's"
is "$(certpub "$CERT")" "$(pub "$KEY")" "  key and certificate go together"
for f in "$KEY.next" "$CERT.next" "$KEY.prev" "$CERT.prev"; do
	nok "  no ${f##*/} left" test -e "$f"
done
ok "  the old key is destroyed: no copy of it under $C" no_copy_of "$old"
ok "  the gateway saw an IKE SA come up for the proof" test "$(gw_established)" -gt "$n"
m2m up pos --timeout 20
is_rc 0 "up with the new pair: exit 0"
ok "  traffic through the tunnel" lab_ping_inner 3
m2m down pos

# ---- renew --new-key without a next key: one is made, of the current key's type
second=$(pub "$KEY")
openssl pkey -in "$KEY" -noout -text 2> /dev/null | grep -q "NIST CURVE: P-256" ||
	diag "the current key is not P-256?"
# the mock needs the certificate before the request: so a key is put there as keygen would
# not (the tool makes one only when none is there); here the tool must make its own
lab_cmp_up --rsp "$C/second.pem"
m2mcert renew -p pos --new-key
is_rc 9 "a key made by the tool (the mock's certificate is for another): exit 9, refused in the certConf"
ok "  the key made for it waits as $KEY.next (the next run certifies it)" test -s "$KEY.next"
is "$(pub "$KEY")" "$second" "  the key in place is unchanged"
is "$(lab_cmp_der "$CERT")" "$(lab_cmp_der "$C/second.pem")" "  the certificate in place is unchanged"
nok "  no $CERT.next" test -e "$CERT.next"
third=$(pub "$KEY.next")
lab_cmp_issue "key:$KEY.next" "$C/third.pem" --serial 155a01 --to '+50 days' ||
	lab_die "pre-issuing the third certificate"
lab_cmp_up --rsp "$C/third.pem"
m2mcert renew -p pos --new-key
is_rc 0 "renew --new-key again: the key it made is certified (exit 0)"
is "$(pub "$KEY")" "$third" "  and in place"
ok "  an ECDSA P-256 key, as the one it replaced" \
	eval 'openssl pkey -in "$KEY" -noout -text 2> /dev/null | grep -q "NIST CURVE: P-256"'

# ---- other stores: file keys only so far
lab_dev_config pos key="$KEY" cert="$CERT" extra="$(lab_cmp_enroll_yaml trust="$C/trust-both.pem")" \
	auth=cert
sed -i "s|^\\(      auth:\\)|\\1|" "$M2M_CONFIG_FILE"
"$LAB_PY" - "$M2M_CONFIG_FILE" << 'EOF' || lab_die "rewriting the config for a machine key"
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace("method: cert", "method: machine", 1)
open(p, "w").write(s)
EOF
sent=$(lab_cmp_requests)
m2mcert renew -p pos --new-key
is_rc 2 "renew --new-key with a machine-bound key: exit 2"
like "$M2M_ERR" "not in a machine store: renew keeps the key" "  the line says a machine-bound key keeps its key"
is "$(lab_cmp_requests)" "$sent" "  nothing sent to the CA"
config

# ---- a record left from an earlier change (about another .prev) is spent: it must not let
#      the pair waiting now go, nor bring anything back
printf 'proven 1:1' > "$STATE/vpn-pos.rekey"

# ---- the gateway refuses the new pair at the next up: the previous key and certificate back
# (the pair a renewal left waiting: the new key with a certificate from a CA the gateway does
# not trust, the previous pair as .prev)
cp "$KEY" "$KEY.prev"; cp "$CERT" "$CERT.prev"
m2mcert keygen --store file --key "$KEY.rogue"
lab_cmp_issue "key:$KEY.rogue" "$C/rogue.pem" --serial 155a09 --ca rogue-ca || lab_die "rogue certificate"
cp "$KEY.rogue" "$KEY"; cp "$C/rogue.pem" "$CERT"; rm -f "$KEY.rogue"
flush_gw
m2m up pos --timeout 20
is_rc 0 "up with a new pair the gateway refuses: exit 0, with the previous pair"
like "$M2M_ERR" "refused the renewed certificate; the previous one is back" "  a warning says the previous one is back"
is "$(pub "$KEY")" "$third" "  the previous key is back"
is "$(certpub "$CERT")" "$third" "  and the previous certificate, its own"
nok "  no .prev left" test -e "$KEY.prev"
nok "  the spent record is gone" test -e "$STATE/vpn-pos.rekey"
m2m down pos

# ---- a <cert>.next that is not the next key's (a stray file, another key's certificate):
#      never swapped in beside a key that is not its own; set aside, the up goes on
cur=$(pub "$KEY")
m2mcert keygen --store file --key "$C/stray.key"
lab_cmp_issue "key:$C/stray.key" "$CERT.next" --serial 155a0c > /dev/null || lab_die "stray certificate"
m2m up pos --timeout 20
is_rc 0 "a stray <cert>.next: up comes up with the pair in place"
like "$M2M_ERR" "is not for the next key.*set aside" "  a warning says it was set aside"
ok "  set aside as .next.bad" test -s "$CERT.next.bad"
nok "  no <cert>.next left" test -e "$CERT.next"
is "$(pub "$KEY")" "$cur" "  the key in place is unchanged"
is "$(certpub "$CERT")" "$cur" "  and its certificate"
rm -f "$CERT.next.bad" "$C/stray.key"
m2m down pos

# ---- a power cut half-way through a swap: the next up finishes it
swap_state() {   # swap_state STEP: the files as the renewal leaves them before STEP
	lab_cmp_issue "key:$KEY.next" "$C/next.pem" --serial 155a01 --to '+60 days' > /dev/null
	cp "$C/next.pem" "$CERT.next"
	case $1 in
	keep) ;;                                              # nothing swapped yet
	key) cp "$CERT" "$CERT.prev"; cp "$KEY" "$KEY.prev" ;; # the previous pair kept
	cert) cp "$CERT" "$CERT.prev"; cp "$KEY" "$KEY.prev"; mv "$KEY.next" "$KEY" ;; # the key moved
	esac
}
for step in keep key cert; do
	m2mcert keygen -p pos --next
	nextpub=$(pub "$KEY.next")
	swap_state "$step"
	flush_gw
	m2m up pos --timeout 20
	is_rc 0 "a swap cut before its '$step' step: the next up comes up"
	is "$(pub "$KEY")" "$nextpub" "  with the new key in place"
	is "$(certpub "$CERT")" "$nextpub" "  and its certificate"
	for f in "$KEY.next" "$CERT.next" "$KEY.prev" "$CERT.prev"; do
		nok "  no ${f##*/} left (swapped and proven)" test -e "$f"
	done
	m2m down pos
done

# ---- the old key's own blocks are overwritten, not only its name removed: the key and
#      certificate on an ext4 file system in a loop file, the disk image read raw afterwards
#      (a copy kept as .prev and destroyed, with the original freed by a rename, would leave
#      the old key's bytes in the image)
if command -v mkfs.ext4 > /dev/null && command -v losetup > /dev/null; then
	D=$LAB/disk MNTK=$LAB/keys
	truncate -s 8M "$D.img" && mkfs.ext4 -q -F "$D.img" && LOOPK=$(losetup -f --show "$D.img") ||
		lab_die "a loop file system for the keys"
	lab_on_exit "umount '$MNTK'; losetup -d '$LOOPK'"
	mkdir -p "$MNTK" && mount "$LOOPK" "$MNTK" || lab_die "mount $LOOPK"
	cp "$KEY" "$MNTK/k.key" && cp "$CERT" "$MNTK/k.pem" && chmod 600 "$MNTK/k.key"
	lab_cmp_config pos "$MNTK/k.key" "$MNTK/k.pem" trust="$C/trust-both.pem"
	m2mcert keygen -p pos --next
	is_rc 0 "keygen --next on the loop file system"
	lab_cmp_issue "key:$MNTK/k.key.next" "$C/loop.pem" --serial 155a0b > /dev/null || lab_die "loop certificate"
	cp "$C/loop.pem" "$MNTK/k.pem.next"
	# a line from the middle of the old key's PEM: what must not be found in the image
	oldline=$(sed -n 3p "$MNTK/k.key")
	sync
	ok "  (the old key's bytes are in the image before: the probe can find them)" \
		eval 'grep -qaF -- "$oldline" "$D.img"'
	flush_gw
	m2m up pos --timeout 20
	is_rc 0 "up swaps in the new pair and proves it"
	nok "  no .prev left" test -e "$MNTK/k.key.prev"
	sync
	nok "  the old key's bytes are nowhere in the disk image" eval 'grep -qaF -- "$oldline" "$D.img"'
	m2m down pos
	config
fi

# ---- a power cut half-way through a fallback: its record says so, the next up finishes it
cur=$(pub "$KEY")
cp "$CERT" "$CERT.prev"; cp "$KEY" "$KEY.prev"
m2mcert keygen --store file --key "$KEY.rogue"
lab_cmp_issue "key:$KEY.rogue" "$C/rogue2.pem" --serial 155a0a --ca rogue-ca || lab_die "rogue certificate"
# the fallback moved the key back, not yet the certificate
cp "$C/rogue2.pem" "$CERT"; rm -f "$KEY.rogue"; mv "$KEY.prev" "$KEY"
printf 'fallback %s' "$(stat -c '%d:%i' "$CERT.prev")" > "$STATE/vpn-pos.rekey"
m2m up pos --timeout 20
is_rc 0 "a fallback cut after its first step: the next up comes up"
is "$(certpub "$CERT")" "$cur" "  the previous certificate is back with its key"
nok "  its record is gone" test -e "$STATE/vpn-pos.rekey"
nok "  no .prev left" test -e "$CERT.prev"
m2m down pos
done_testing
