#!/bin/bash
# 10-updown.t - m2mvpn-connect up/status/down/list against a real charon pair.
#   up brings the CHILD_SA up (exit 0); traffic to 10.99.1.1 goes through the tunnel (SA
#   counters rise, the wire carries only ESP-in-UDP); status text and --json agree; up is
#   idempotent (same IKE SA); down is idempotent; status PROFILE exits 15 when down.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up


json_state() { jget "profiles[name=pos].$1" <<< "$M2M_OUT" 2>/dev/null; }

# ---- up
m2m up pos --timeout 20
is_rc 0 "up pos: exit 0"
cmp_ok "$M2M_MS" -le 5000 "up pos took <= 5 s in the lab (${M2M_MS} ms)"
ok "device charon has an INSTALLED CHILD_SA" lab_child_installed dev
ike_before=$(lab_ike_ids dev)
is "$(lab_sa_count dev)" 1 "exactly one IKE SA on the device charon"

# ---- status --json before traffic
m2m status pos --json
is_rc 0 "status pos --json: exit 0 while up"
is "$(jget schema <<< "$M2M_OUT" 2>&1)" "m2m.vpn.status/1" "status --json: schema m2m.vpn.status/1"
is "$(json_state state)" up "status --json: state up"
vip=$(json_state virtual_ips.0)
like "$vip" '^10\.99\.2\.[0-9]+$' "status --json: virtual IP from the pool 10.99.2.0/24"
is "$(json_state gateway)" "$LAB_GW_IP" "status --json: gateway $LAB_GW_IP"
is "$(json_state local_host)" "$LAB_DEV_IP" "status --json: local_host $LAB_DEV_IP"
p_out0=$(json_state packets_out) p_in0=$(json_state packets_in)
b_out0=$(json_state bytes_out) b_in0=$(json_state bytes_in)

# ---- traffic through the tunnel, checked on the wire
lab_cap_start wire dev "$LAB_IF_A"
ok "ping $LAB_INNER_IP through the tunnel (5/5)" quiet in_dev ping -n -q -c 5 -i 0.2 -W 2 "$LAB_INNER_IP"
lab_cap_stop wire
esp=$(lab_cap_count wire 'udp port 4500 and udp[8:4] != 0')
cmp_ok "$esp" -ge 10 "wire: ESP-in-UDP packets carry the pings ($esp)"
cmp_ok "$(lab_cap_count wire icmp)" -eq 0 "wire: no clear ICMP on link A"
other=$(lab_cap_count wire 'ip and not (udp port 500 or udp port 4500)')
cmp_ok "$other" -eq 0 "wire: nothing but IKE/ESP-in-UDP on link A ($other other IPv4 packets)" ||
	diag "$(lab_cap_show wire 'ip and not (udp port 500 or udp port 4500)')"

m2m status pos --json
p_out1=$(json_state packets_out) p_in1=$(json_state packets_in)
b_out1=$(json_state bytes_out) b_in1=$(json_state bytes_in)
cmp_ok "$((p_out1 - p_out0))" -ge 5 "status --json: packets_out rose by >= 5 ($p_out0 -> $p_out1)"
cmp_ok "$((p_in1 - p_in0))" -ge 5 "status --json: packets_in rose by >= 5 ($p_in0 -> $p_in1)"
cmp_ok "$((b_out1 - b_out0))" -ge 420 "status --json: bytes_out rose ($b_out0 -> $b_out1)"
cmp_ok "$((b_in1 - b_in0))" -ge 420 "status --json: bytes_in rose ($b_in0 -> $b_in1)"

# ---- status text agrees with --json
m2m status pos
is_rc 0 "status pos: exit 0 while up"
like "$M2M_OUT" '(^|[^a-z])up([^a-z]|$)' "status text says up"
like "$M2M_OUT" "${vip//./\\.}([^0-9]|\$)" "status text shows the virtual IP $vip"

# ---- up again: idempotent, same IKE SA
m2m up pos --timeout 20
is_rc 0 "up pos again: exit 0"
is "$(lab_ike_ids dev)" "$ike_before" "up again kept the same IKE SA (uniqueid/state)"
m2m status pos --json
is "$(json_state virtual_ips.0)" "$vip" "same virtual IP after the second up"

# ---- list
m2m list
is_rc 0 "list: exit 0"
like "$M2M_OUT" '(^|[^a-z])pos([^a-z]|$)' "list shows the profile pos"

# ---- down, idempotent
m2m down pos
is_rc 0 "down pos: exit 0"
is "$(lab_sa_count dev)" 0 "no IKE SA left on the device charon after down"
m2m down pos
is_rc 0 "down pos again: exit 0"
m2m status pos
is_rc 15 "status pos after down: exit 15"
m2m status pos --json
is "$(json_state state)" down "status pos --json after down: state down (exit $M2M_RC)"
done_testing
