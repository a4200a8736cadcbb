#!/bin/bash
# 34-up-retries.t - "up --timeout T" tries for up to T (issue 17, finding 3), the rules of
# m2mvpn-connect(1):
#   - a gateway that does not answer: charon gives up after ~4.4 s (retransmit_tries 2), and
#     "up" initiates again with retry.network's backoff (here 1 s .. 5 s, a step counted from
#     the start of the attempt before, so at once after one charon gave up on) until T; the
#     failure, exit 6, comes at the limit (T minus the 300 ms kept to tear the attempt down),
#     never when charon first gave up;
#   - the gateway answers again while "up" is still trying: "up" exits 0 before T;
#   - failures another try cannot fix end at once: the gateway rejects our certificate
#     (exit 7), its certificate is not from our CA (exit 8), it has no config for us
#     (NO_PROPOSAL_CHOSEN, exit 12).
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
plan 15

gw_drop_ike() {
	in_gw nft add table inet m2mt_drop &&
	in_gw nft add chain inet m2mt_drop c '{ type filter hook input priority 0; }' &&
	in_gw nft add rule inet m2mt_drop c udp dport '{ 500, 4500 }' drop
}
gw_pass_ike() { in_gw nft delete table inet m2mt_drop; }
tries() { grep -c "trying again in" <<< "$1"; }

# ---- a gateway that never answers: exit 6 at the limit
gw_drop_ike
m2m -v up pos --timeout 7
is_rc 6 "gateway drops IKE, up --timeout 7: exit 6"
cmp_ok "$M2M_MS" -ge 6600 "... at the limit, not when charon first gave up at ~4.4 s (${M2M_MS} ms)"
cmp_ok "$M2M_MS" -le 7100 "... within the limit + 100 ms"
cmp_ok "$(tries "$M2M_ERR")" -ge 1 "... it initiated again after charon gave up ($(tries "$M2M_ERR") more tries)"
like "$(tail -n 1 <<< "$M2M_ERR")" "pos: gateway $LAB_GW_IP did not answer IKE_SA_INIT .*; [0-9]+ tries in [0-9.]+ s$" \
	"... the last line says what failed and how often it was tried"
ok "... no IKE SA left on the device" wait_until 1 eval '[ "$(lab_sa_count dev)" = 0 ]'
# the backoff's first step (1 s) counts from the start of the attempt that charon spent
# 4.4 s retransmitting: the next initiate follows its giving up at once
gap=$(awk '/giving up after [0-9]+ retransmits/ && !g { split($1, t, ":"); g = (t[1] * 3600 + t[2] * 60 + t[3]) * 1000; next }
	g && /initiating IKE_SA m2m-pos/ { split($1, t, ":"); print int((t[1] * 3600 + t[2] * 60 + t[3]) * 1000 - g); exit }' \
	"$LAB/dev/charon.log")
cmp_ok "${gap:-99999}" -le 400 "... the next attempt at once after charon gave up on one (${gap:-none} ms later)"

# ---- the gateway answers again within the budget: up succeeds
ip netns exec "$NS_DEV" "$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 20 \
	> "$LAB/log/bg.out" 2> "$LAB/log/bg.err" < /dev/null &
bg=$!
_lab_record bg-up "$bg"
t0=$(now_ms)
sleep 6   # charon gave up once (~4.4 s), "up" is waiting or trying again
gw_pass_ike
wait "$bg"
rc=$? took=$(( $(now_ms) - t0 ))
is "$rc" 0 "gateway back 6 s into 'up --timeout 20': exit 0"
cmp_ok "$took" -le 12000 "... up within 6 s of the gateway's return (${took} ms in all)"
ok "... the tunnel is up" lab_child_installed dev
m2m down pos

# ---- failures another try cannot fix: at once, whatever the time limit
lab_dev_config pos cert="$LAB_ROGUE_CERT" key="$LAB_ROGUE_KEY"
m2m up pos --timeout 20
is_rc 7 "gateway rejects our certificate: exit 7"
cmp_ok "$M2M_MS" -le 3000 "... at once (${M2M_MS} ms), not after 20 s of retries"
lab_dev_config pos ca="$LAB_ROGUE_CA"
m2m up pos --timeout 20
is_rc 8 "gateway's certificate not from our CA: exit 8, at once (${M2M_MS} ms)"
lab_dev_config pos
lab_charon_stop gw
lab_charon_start gw   # answering, without its config: NO_PROPOSAL_CHOSEN
m2m up pos --timeout 20
is_rc 12 "gateway without config (NO_PROPOSAL_CHOSEN): exit 12"
cmp_ok "$M2M_MS" -le 3000 "... at once (${M2M_MS} ms)"
