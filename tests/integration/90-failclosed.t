#!/bin/bash
# 90-failclosed.t - with fail_closed: true no packet to the protected destination 10.99.1.1
# leaves the device in clear while the tunnel is down; with fail_closed: false it does (the
# device has a default route via the gateway, which answers 10.99.1.1 in clear), which
# proves this test can fail.
#   1. guard in place, tunnel never up (gateway charon stopped): 0 clear, pings fail
#   2. gateway back: watch brings the tunnel up; pings go through ESP, 0 clear
#   3. gateway SIGKILLed (not restarted): DPD notices, tunnel gone: 0 clear
#   4. control: fail_closed: false, same situation: clear packets seen, pings answered
# and between them, "up" whose guard cannot be put in place (no CAP_NET_ADMIN, so nftables
# refuses) fails with exit 1 naming the guard, with the tunnel down and with it up.
# "clear" = any packet on the device's outer link to/from 10.99.1.1 that is not UDP 500/4500.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

probe() {   # 5 pings, one TCP connect, one UDP datagram to the protected address
	in_dev ping -n -q -c 5 -i 0.2 -W 1 "$LAB_INNER_IP" > "$LAB/log/probe.ping" 2>&1
	PING_RC=$?
	in_dev timeout 2 bash -c "echo x > /dev/tcp/$LAB_INNER_IP/5001" 2>/dev/null
	in_dev bash -c "echo x > /dev/udp/$LAB_INNER_IP/5002" 2>/dev/null
	sleep 0.3
}
guard_present() { in_dev nft list tables 2>/dev/null | grep -q .; }
# the tool without CAP_NET_ADMIN: nftables refuses every guard operation
nocap=$LAB/m2m-nocap
printf '#!/bin/sh\nexec setpriv --inh-caps=-net_admin --bounding-set=-net_admin -- "%s" "$@"\n' "$M2M_BIN" > "$nocap"
chmod 0755 "$nocap"

# ---- 1. guard in place, tunnel never up
lab_charon_stop gw
lab_dev_config pos mode=always-on fail_closed=true dpd=2s
M2M_BIN=$nocap m2m up pos
is_rc 1 "up without a guard it can put in place: exit 1"
like "$M2M_ERR" "fail-closed guard: nftables" "  and the message names the guard"
lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos
ok "watch installed a guard (an nftables table in the device namespace)" wait_until 10 guard_present
sleep 0.5
lab_cap_start never dev "$LAB_IF_A"
probe
lab_cap_stop never
isnt "$PING_RC" 0 "never up: pings to $LAB_INNER_IP are not answered"
is "$(lab_cap_clear never)" 0 "never up: 0 clear packets to/from $LAB_INNER_IP on link A" ||
	diag "$(lab_cap_show never "host $LAB_INNER_IP")"
# IKE on the wire while the guard holds: charon's three sends of an attempt span 2.4 s and
# the next attempt starts when charon gives up (4.4 s), so the probe's 2.5 s may fall between
# two attempts: watched for up to 8 s more
lab_cap_start ike dev "$LAB_IF_A" udp port 500 or udp port 4500
ok "never up: watch keeps trying IKE meanwhile" \
	wait_until 8 eval '[ "$(lab_cap_count ike)" -ge 1 ] || [ "$(lab_cap_count never "udp port 500 or udp port 4500")" -ge 1 ]'
lab_cap_stop ike

# ---- 2. gateway back: tunnel up through the guard
lab_charon_start gw
lab_gw_load
ok "watch brings the tunnel up once the gateway is back (within 20 s)" wait_until 20 lab_child_installed dev
lab_cap_start up dev "$LAB_IF_A"
probe
lab_cap_stop up
is "$PING_RC" 0 "tunnel up: pings answered through the tunnel"
is "$(lab_cap_clear up)" 0 "tunnel up: 0 clear packets"
in_dev nft delete table inet m2m_pos
M2M_BIN=$nocap m2m up pos
is_rc 1 "tunnel up, guard gone and cannot be put back: up exits 1, not 0"
like "$M2M_ERR" "fail-closed guard: nftables" "  and the message names the guard"
ok "watch puts the guard back (within 10 s)" wait_until 10 guard_present

# ---- 3. gateway killed, not restarted
lab_cap_start killed dev "$LAB_IF_A"
lab_bg pinger --ns dev ping -n -i 0.2 -W 1 "$LAB_INNER_IP"
lab_charon_kill gw
ok "the device notices the dead gateway (CHILD_SA gone within 15 s)" wait_until 15 eval '! lab_child_installed dev'
diag "  CHILD_SA gone ${WAITED_MS} ms after the kill"
probe
lab_stop pinger INT
lab_cap_stop killed
is "$(lab_cap_clear killed)" 0 "gateway killed: 0 clear packets from the kill until now" ||
	diag "$(lab_cap_show killed "host $LAB_INNER_IP")"
isnt "$PING_RC" 0 "gateway killed: pings are not answered"
n_init() { grep -c 'initiating IKE_SA' "$LAB/dev/charon.log"; }
watch_stops() {   # watch_stops DESC: SIGTERM while an IKE_SA_INIT to the dead gateway is in
	local t0 rc n0   # flight (charon retransmits ~4.4 s) -> gone within 5 s, exit 0
	n0=$(n_init)
	wait_until 15 eval "[ \"\$(n_init)\" -gt $n0 ]" || diag "no new IKE_SA initiation seen"
	sleep 0.3
	t0=$(now_ms)
	lab_stop watch TERM 40; rc=$?
	cmp_ok "$(( $(now_ms) - t0 ))" -le 5000 "$1: watch stops within 5 s of SIGTERM ($(( $(now_ms) - t0 )) ms)"
	is "$rc" 0 "$1: watch exit status 0 after SIGTERM" || diag "watch stderr: $(tail -n 5 "$LAB/log/watch.err")"
}
watch_stops "gateway dead"

# ---- 4. control: fail_closed false leaks in the same situation
m2m down pos
is_rc 0 "down exit 0"
ok "down removed the guard" eval '! guard_present'
lab_dev_config pos mode=always-on fail_closed=false dpd=2s
lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos
sleep 1
lab_cap_start control dev "$LAB_IF_A"
probe
lab_cap_stop control
is "$PING_RC" 0 "control (fail_closed: false, gateway dead): pings are answered in clear"
cmp_ok "$(lab_cap_clear control)" -ge 10 "control: clear packets seen, so the check can fail ($(lab_cap_clear control))"
watch_stops "control"
done_testing
