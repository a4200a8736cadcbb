#!/bin/bash
# 168-policy-counters-rauc.t - policy.counters "update-integrity" for a bundle RAUC refuses
#   (m2m.yaml(5) SECURITY POLICIES, m2m-update(5)), on the lab's A/B device (tests/lab/rauc.sh:
#   the real RAUC 1.8 service, its keyring the lab's update CA). Contract:
#   - a package that verifies (the lab's signer) carrying a RAUC bundle signed under another
#     CA: RAUC refuses it against its keyring, m2mdm-update install exits 17 with RAUC's
#     reason, and it is one update-integrity event; nothing of it is installed;
#   - RAUC's other refusals are no such event: a bundle for another device (compatible: 18),
#     a slot RAUC cannot write (1);
#   - m2mdm-policy check counts it (threshold 1, action log: broken, logged only).
. "$(dirname "$0")/../lab/lab.sh"
. "$(dirname "$0")/../lab/rauc.sh"
rauc_lab_require
command -v unshare > /dev/null || { echo "1..0 # SKIP missing unshare (scripts/deps.sh)"; exit 0; }
T=$M2M_BIN_DIR/m2mdm-update POL=$M2M_BIN_DIR/m2mdm-policy
for b in "$T" "$POL"; do
	if [ ! -x "$b" ]; then echo "1..1"; echo "not ok 1 - $b exists (make)"; exit 1; fi
done

rauc_lab_up
P=$RAUC_LAB_PKI
EXP=$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)
cat > "$LAB/m2m.yaml" << EOF
version: 1
device:
  id: lab-168
  model: lab-a
state_dir: $LAB/state
update:
  trust: $P/ca.pem
  timeout: 120
  jitter: 0
  health: {timeout: 60s}
  installers:
    rauc:
      config: $RAUC_LAB_CONF
policy:
  timeout: 5s
  counters:
    update-integrity: {threshold: 1, window: 10m, action: log}
EOF
chmod 0600 "$LAB/m2m.yaml"

# run TOOL ARGS...: -> RC OUT ERR; the policy's check in a network namespace of its own, so
# that no rule of it could reach the host's
run() {
	local t=$1
	shift
	[ "$t" = "$POL" ] && set -- unshare -n "$t" -c "$LAB/m2m.yaml" "$@" || set -- "$t" -c "$LAB/m2m.yaml" "$@"
	timeout -k 5 180 "$@" > "$LAB/out" 2> "$LAB/err" < /dev/null
	RC=$? OUT=$(cat "$LAB/out") ERR=$(cat "$LAB/err")
	{ echo "=== $*  -> $RC"; cat "$LAB/out" "$LAB/err"; } >> "$LAB/log/m2m.history"
}
run_rc() {
	if [ "$RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $RC"; diag "    stdout: ${OUT: -600}"; diag "    stderr: $ERR"
	return 1
}
count() { grep -c " $1\$" "$LAB/state/security-events" 2>/dev/null; }
slot_sum() { sha256sum "$(rauc_lab_slot_file "$1")" | cut -d' ' -f1; }
# pkg VERSION BUNDLE: a package the device trusts (the lab's signer) around a RAUC bundle
pkg() {
	printf '{"format":1,"type":"firmware","name":"lab-fw","version":"%s","models":["lab-a"],"installer":"rauc","expires":"%s"}\n' \
		"$1" "$EXP" > "$LAB/m-$1.json"
	"$T" -q sign --manifest "$LAB/m-$1.json" --payload "$2" --key "$P/signer.key" \
		--cert "$P/signer.pem" -o "$LAB/fw-$1.m2mupd" 2>> "$LAB/log/sign.err"
}
head -c $((3 * 1048576)) /dev/urandom > "$LAB/img"
ok "packages: a bundle signed under another CA, one for another device, a good one" eval \
	'pkg 2.0.0 "$(rauc_lab_bundle 2.0.0 "$LAB/img" "" other)" &&
	 pkg 3.0.0 "$(rauc_lab_bundle 3.0.0 "$LAB/img" other-device)" &&
	 pkg 4.0.0 "$(rauc_lab_bundle 4.0.0 "$LAB/img")"' || diag "$(cat "$LAB/log/sign.err")"
sA=$(slot_sum A) sB=$(slot_sum B) ss=$(rauc_lab_slot_state)
untouched() { [ "$(slot_sum A) $(slot_sum B) $(rauc_lab_slot_state)" = "$sA $sB $ss" ]; }

run "$T" install "$LAB/fw-2.0.0.m2mupd"
run_rc 17 "a bundle RAUC's keyring refuses, in a package that verifies: exit 17"
like "$ERR" "signature verification failed" "  the message is RAUC's reason"
is "$(count update-integrity)" 1 "  one update-integrity event"
ok "  no slot and no boot state touched" untouched

run "$T" install "$LAB/fw-3.0.0.m2mupd"
run_rc 18 "a bundle for another device: exit 18"
is "$(count update-integrity)" 1 "  no update-integrity event"

# the slot RAUC would write is no file it can write: an install error, not the bundle's
mv "$RAUC_LAB/dev/rootfs.1" "$RAUC_LAB/dev/rootfs.1.kept" && mkdir "$RAUC_LAB/dev/rootfs.1"
run "$T" install "$LAB/fw-4.0.0.m2mupd"
rmdir "$RAUC_LAB/dev/rootfs.1" && mv "$RAUC_LAB/dev/rootfs.1.kept" "$RAUC_LAB/dev/rootfs.1"
run_rc 1 "a slot RAUC cannot write: exit 1"
note "the slot RAUC cannot write: $ERR"
is "$(count update-integrity)" 1 "  no update-integrity event"

run "$POL" check
run_rc 0 "the check: update-integrity broken with action log, nothing quarantined (exit 0)"
like "$OUT" "update-integrity +broken +1 in the last 10 min \\(threshold 1\\) \\(logged only\\)" \
	"  status: broken, 1, logged only"
done_testing
