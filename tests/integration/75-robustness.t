#!/bin/bash
# What a script and an unattended device must be able to rely on beyond the happy path:
# a flushed rule set, a killed "up", an "up" racing charon's own reconnect, a time limit
# while the gateway drops IKE, "down" under watch, and a PIN passed on a descriptor that
# is needed again after charon restarted.
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
plan 16
guard_present() { in_dev nft list tables 2> /dev/null | grep -q 'inet m2m_pos'; }
gw_drop_ike() { in_gw nft add table inet t && in_gw nft add chain inet t c '{ type filter hook input priority 0; }' && in_gw nft add rule inet t c udp dport '{ 500, 4500 }' drop; }
gw_pass_ike() { in_gw nft delete table inet t; }

# 1. the guard is put back by watch after a flush, also while charon reconnects
lab_dev_config pos mode=always-on fail_closed=true dpd=2s
lab_bg watch --ns dev "$M2M_BIN" -c "$M2M_CONFIG_FILE" -v watch pos
ok "watch: tunnel up" wait_until 20 lab_child_installed dev
in_dev nft flush ruleset   # a firewall reload
ok "watch puts the flushed guard back within 7 s" wait_until 7 guard_present
m2m down pos
is_rc 11 "down while watch supervises the profile: exit 11 (busy), not undone behind our back"
lab_charon_kill gw
ok "tunnel lost after the gateway is killed" wait_until 15 eval '! lab_child_installed dev'
in_dev nft flush ruleset
ok "guard put back while charon is reconnecting" wait_until 7 guard_present
lab_cap_start c dev "$LAB_IF_A"
in_dev ping -n -q -c 5 -i 0.2 -W 1 "$LAB_INNER_IP" > /dev/null 2>&1
lab_cap_stop c
is "$(lab_cap_clear c)" 0 "no clear packet to the protected address meanwhile"
lab_stop watch TERM
lab_charon_start gw
lab_gw_load
m2m down pos
is_rc 0 "down after watch stopped: exit 0"
ok "down lifted the guard" eval '! guard_present'

# 2. "up" with a short limit while charon itself reconnects must not tear charon's attempt down
lab_dev_config pos mode=always-on fail_closed=false dpd=2s
m2m up pos --timeout 10
is_rc 0 "always-on profile up"
lab_charon_kill gw
wait_until 15 eval '! lab_child_installed dev'
m2m up pos --timeout 2
rc_in "5 6" "up --timeout 2 while the gateway is dead: timeout or unreachable"
lab_gw_restart   # hides its address until the config is loaded
ok "charon's own reconnect still brings the tunnel back" wait_until 25 lab_child_installed dev
m2m down pos

# 3. the time limit holds while the gateway swallows IKE
lab_dev_config pos
gw_drop_ike
m2m up pos --timeout 2
rc_in "5 6" "up --timeout 2 against a gateway that drops IKE: timeout or unreachable"
cmp_ok "$M2M_MS" -le 2700 "it returned within the limit ($M2M_MS ms)"

# 4. an "up" killed mid-attempt leaves nothing behind that comes up later
ip netns exec "$NS_DEV" "$M2M_BIN" -c "$M2M_CONFIG_FILE" up pos --timeout 20 > /dev/null 2>&1 &
P=$!
sleep 0.7
kill -TERM "$P"
wait "$P"
gw_pass_ike
sleep 4
is "$(lab_sa_count dev)" 0 "no IKE SA left or made after the killed up"

# 5. a PIN on a descriptor is read once and kept: watch survives a restart of charon
lab_dev_config pos auth=pkcs12 mode=always-on fail_closed=false dpd=2s
sed -i "s|pin: {file: .*}|pin: {fd: 3}|" "$M2M_CONFIG_FILE"
ip netns exec "$NS_DEV" "$M2M_BIN" -c "$M2M_CONFIG_FILE" watch pos 3< "$LAB_P12_PIN_FILE" > "$LAB/log/w.out" 2> "$LAB/log/w.err" &
W=$!
_lab_record watch-fd "$W"
ok "watch with pin.fd: tunnel up" wait_until 20 lab_child_installed dev
lab_charon_stop dev
lab_charon_start dev
ok "back after the device's charon restarted (PIN kept from the descriptor)" wait_until 20 lab_child_installed dev
kill -TERM "$W"
wait "$W"
