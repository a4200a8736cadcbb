#!/bin/bash
# 148-keys-tpm-next.t - a TPM key's next key (swtpm behind tpm2-abrmd): a blob, not a
#   second persistent handle (a persistent object can neither move to another handle nor be
#   loaded again once evicted).
#   Contract (m2mvpn-cert(1) keygen --next, csr --next; m2m_key_ref_next(); m2m.yaml(5) FILES):
#   - keygen at a handle keeps the key's blob (magic, TPM2B_PUBLIC, TPM2B_PRIVATE wrapped by
#     the storage primary) in the state directory as tpm-key-0xHANDLE, 0600: its public key is
#     the one at the handle;
#   - keygen --next makes the next key as the blob tpm-key-0xHANDLE.next, 0600, not persisted
#     (one persistent handle, as before), and the key in use is untouched;
#   - csr --next signs with the blob's key, loaded for the signature: the request verifies
#     and its public key is the blob's (read from the blob here, not through the tool);
#   - a next key is not replaced without --force; a file that is not a blob is refused (9);
#   - delete destroys the key at the handle and its blob; a wipe destroys the next key's.
#   The swap at renewal: test 159.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/keys.sh"
lab_require
lab_keys_require
lab_require_tool
lab_keys_up

T=$LAB_TPM_TCTI
H=$LAB_TPM_HANDLE
STATE=$LAB/dev/state
BLOB=$STATE/tpm-key-$H
lab_keys_config pos tpm dev-tpm.lab "cert: $LAB/pki/dev-tpm.pem" "tcti: \"$T\"" "handle: $H"

# the uncompressed EC point (hex) of a blob's TPM2B_PUBLIC, parsed here from the bytes
blobpoint() {
	"$LAB_PY" - "$1" <<-'EOF'
	import struct, sys
	b = open(sys.argv[1], 'rb').read()
	assert b[:8] == b'm2mtpmk1', 'magic'
	o = 8
	def u16():
	    global o
	    v = struct.unpack('>H', b[o:o + 2])[0]; o += 2; return v
	size = u16(); end = o + size
	typ = u16(); assert typ == 0x23, 'not ECC'
	u16(); o += 4                     # nameAlg, objectAttributes
	n = u16(); o += n                 # authPolicy
	if u16() != 0x10: o += 4          # symmetric: NULL, else keyBits and mode
	if u16() != 0x10: o += 2          # scheme and its hash
	assert u16() == 3, 'not P-256'    # curveID
	if u16() != 0x10: o += 2          # kdf
	n = u16(); x = b[o:o + n]; o += n
	n = u16(); y = b[o:o + n]; o += n
	assert o == end, 'public area length'
	psize = struct.unpack('>H', b[o:o + 2])[0]
	assert o + 2 + psize == len(b), 'private area length'
	print('04' + x.rjust(32, b'\0').hex() + y.rjust(32, b'\0').hex())
	EOF
}
# the same point of a request's public key
csrpoint() { openssl req -in "$1" -noout -pubkey | openssl pkey -pubin -outform DER | tail -c 65 | od -An -tx1 | tr -d ' \n'; }
mode() { stat -c %a "$1"; }
persistent() { tpm2_getcap -T "$T" handles-persistent 2> /dev/null | grep -c '0x81'; }
csr() {   # csr OUT [--next]
	local out=$1
	shift
	m2mcert csr -p pos --subject CN=dev-tpm.lab --san dev-tpm.lab -o "$out" "$@"
}

# ---- the key in use, and its blob
m2mcert keygen -p pos
is_rc 0 "keygen at $H: exit 0"
first_fp=$(grep -oE 'SHA256:[0-9a-f]+' <<< "$M2M_OUT")
ok "its blob is kept in the state directory" test -s "$BLOB"
is "$(mode "$BLOB")" 600 "the blob is 0600"
csr "$LAB/pki/cur.csr"
is_rc 0 "csr with the key at the handle: exit 0"
cur=$(csrpoint "$LAB/pki/cur.csr")
is "$(blobpoint "$BLOB")" "$cur" "the blob's public key is the key at the handle's"

# ---- the next key: a blob beside it
m2mcert keygen -p pos --next
is_rc 0 "keygen --next: exit 0"
like "$M2M_OUT" "tpm:$BLOB.next \\(for $H" "keygen --next names the blob"
next_fp=$(grep -oE 'SHA256:[0-9a-f]+' <<< "$M2M_OUT")
ok "keygen --next: another key" test "$next_fp" != "$first_fp" -a -n "$next_fp"
ok "the next key's blob is there" test -s "$BLOB.next"
is "$(mode "$BLOB.next")" 600 "the next key's blob is 0600"
is "$(persistent)" 1 "the next key is not persisted: one persistent handle"
is "$(blobpoint "$BLOB")" "$cur" "the blob of the key in use is untouched"
csr "$LAB/pki/cur2.csr"
is_rc 0 "csr with the key in use again: exit 0"
is "$(csrpoint "$LAB/pki/cur2.csr")" "$cur" "the key at the handle is untouched"

csr "$LAB/pki/next.csr" --next
is_rc 0 "csr --next (signed by the blob's key, loaded in the TPM): exit 0"
ok "the next key's request verifies" quiet openssl req -in "$LAB/pki/next.csr" -noout -verify
nxt=$(csrpoint "$LAB/pki/next.csr")
is "$nxt" "$(blobpoint "$BLOB.next")" "the request's public key is the blob's"
ok "and not the key in use's" test "$nxt" != "$cur"

m2mcert keygen -p pos --next
is_rc 9 "keygen --next again: the next key is not replaced (exit 9)"
is "$(blobpoint "$BLOB.next")" "$nxt" "the next key's blob is unchanged"
m2mcert keygen -p pos --next --force
is_rc 0 "keygen --next --force: exit 0"
ok "--force: another next key" test "$(blobpoint "$BLOB.next")" != "$nxt"

# ---- a file that is not a blob
printf 'not a key\n' > "$BLOB.next"
csr "$LAB/pki/bad.csr" --next
is_rc 9 "csr --next with a file that is not a blob: exit 9"
like "$M2M_ERR" "not a TPM key blob" "the message says so"
m2mcert keygen -p pos --next --force
is_rc 0 "keygen --next --force over it: exit 0"

# ---- delete and wipe
m2mcert delete -p pos --force
is_rc 0 "delete: exit 0"
is "$(persistent)" 0 "delete: no persistent handle left"
ok "delete: the blob of the deleted key is destroyed" test ! -e "$BLOB"
ok "delete: the next key is another key, kept" test -s "$BLOB.next"
m2mcert keygen -p pos
is_rc 0 "keygen again: exit 0"
M2M_BIN=$M2M_BIN_DIR/m2mdm-policy m2m wipe --reason "test 148" --yes
is_rc 0 "m2mdm-policy wipe: exit 0"
like "$M2M_OUT$M2M_ERR" "tpm-key-$H.next" "wipe names the next key's blob"
ok "wipe: the next key's blob is destroyed" test ! -e "$BLOB.next"
ok "wipe: the key's blob is destroyed" test ! -e "$BLOB"
is "$(persistent)" 0 "wipe: no persistent handle left"

done_testing
