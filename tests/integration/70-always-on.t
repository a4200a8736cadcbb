#!/bin/bash
# 70-always-on.t - `watch pos` (mode always-on, dpd 2s) keeps the tunnel up by itself:
#   brings it up; gateway SIGKILLed and restarted at once (address hidden while it loads)
#   -> back within 30 s (device DPD: 2 s + ~4.4 s of retransmits, then re-initiate);
#   gateway SIGTERMed (it sends DELETE) and restarted ANSWERING WITHOUT CONFIG for 6 s
#   (NO_PROPOSAL_CHOSEN, after which charon alone never retries) -> back within 45 s;
#   watch exits 0 within 5 s on SIGTERM.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

lab_dev_config pos mode=always-on dpd=2s
ike_up() {   # an ESTABLISHED IKE SA other than $1 with an INSTALLED CHILD_SA, and traffic
	local ids
	ids=$(lab_ike_ids dev | awk '$2 == "ESTABLISHED" { print $1 }')
	[ -n "$ids" ] && ! grep -qx "${1:-none}" <<< "$ids" && lab_child_installed dev
}
cur_ike() { lab_ike_ids dev | awk '$2 == "ESTABLISHED" { print $1; exit }'; }

lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos
ok "watch pos brings the tunnel up by itself (within 15 s)" wait_until 15 ike_up
diag "  tunnel up ${WAITED_MS} ms after watch started"
ok "traffic through the tunnel" lab_ping_inner 2
ok "watch is still running" lab_proc_alive watch

# ---- gateway SIGKILL + immediate restart
old=$(cur_ike)
t0=$(now_ms)
lab_gw_restart --kill
ok "after gateway SIGKILL + restart: tunnel back within 30 s" wait_until 30 ike_up "$old"
diag "  back $(( $(now_ms) - t0 )) ms after the kill (gateway ready after ${LAB_GW_RESTART_MS} ms)"
ok "traffic through the new tunnel" lab_ping_inner 2

# ---- gateway SIGTERM + restart that answers for 6 s without its config
old=$(cur_ike)
npc_before=$(grep -c 'received NO_PROPOSAL_CHOSEN' "$LAB/dev/charon.log")
t0=$(now_ms)
lab_gw_restart --config-delay 6
ok "after gateway restart with config 6 s late: tunnel back within 45 s" \
	wait_until $((45 - LAB_GW_RESTART_MS / 1000)) ike_up "$old"
diag "  back $(( $(now_ms) - t0 )) ms after the stop"
npc=$(( $(grep -c 'received NO_PROPOSAL_CHOSEN' "$LAB/dev/charon.log") - npc_before ))
cmp_ok "$npc" -ge 1 "the fault happened: the device got NO_PROPOSAL_CHOSEN ($npc times)"
# retry.network is {min: 1s, max: 5s}: a gateway that says NO_PROPOSAL_CHOSEN must not be
# hammered (a fleet of devices would flood it); 6 s allow at most ~6 tries even without growth
cmp_ok "$npc" -le 10 "watch backs off: at most 10 attempts during the 6 s without config ($npc)"
ok "traffic through the new tunnel" lab_ping_inner 2

# ---- watch stops on SIGTERM
ok "watch is still running" lab_proc_alive watch
t0=$(now_ms)
lab_stop watch TERM 15
rc=$?
stop_ms=$(( $(now_ms) - t0 ))
cmp_ok "$stop_ms" -le 5000 "watch stops within 5 s of SIGTERM (${stop_ms} ms)"
is "$rc" 0 "watch exit status 0 after SIGTERM"
[ "$rc" = 0 ] || diag "watch stderr: $(tail -n 20 "$LAB/log/watch.err")"
done_testing
