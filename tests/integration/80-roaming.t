#!/bin/bash
# 80-roaming.t - MOBIKE: the device has links A and B (default routes metric 100 / 200); a
# TCP connection through the tunnel streams 60 lines (one every 100 ms); 1.5 s in, link A's
# address is deleted. The connection survives with every line in order, the IKE SA and the
# virtual IP are kept, and status shows the new local address 10.99.5.2. (With
# kernel-libipsec every roam also rekeys the CHILD_SA: new SPIs, same IKE SA.)
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
lab_link_b
PORT=5000 COUNT=60

m2m up pos --timeout 20
is_rc 0 "up exit 0"
m2m status pos --json
is "$(jget 'profiles[name=pos].local_host' <<< "$M2M_OUT")" "$LAB_DEV_IP" "status: local_host $LAB_DEV_IP (link A)"
vip=$(jget 'profiles[name=pos].virtual_ips.0' <<< "$M2M_OUT")
ike=$(lab_ike_ids dev)

lab_bg srv --ns gw "$LAB_PY" "$LAB_TOOLS/lines.py" serve "$LAB_INNER_IP" "$PORT" "$LAB/log/lines.recv"
wait_until 5 grep -q listening "$LAB/log/srv.out" || diag "line server did not start: $(cat "$LAB/log/srv.err")"
lab_cap_start a dev "$LAB_IF_A"
lab_cap_start b dev "$LAB_IF_B"
lab_bg cli --ns dev "$LAB_PY" "$LAB_TOOLS/lines.py" send "$LAB_INNER_IP" "$PORT" "$COUNT" 0.1
wait_until 5 grep -q connected "$LAB/log/cli.out"
like "$(cat "$LAB/log/cli.out")" "connected ${vip//./\\.}:" "TCP connection runs from the virtual IP $vip"
sleep 1.5
ip -n "$NS_DEV" addr del "$LAB_DEV_IP/24" dev "$LAB_IF_A"
ok "client finished (all lines sent and acknowledged)" wait_until 25 eval '! lab_proc_alive cli'
lab_stop cli
like "$(cat "$LAB/log/cli.out")" "done $COUNT" "client reports done $COUNT" ||
	diag "client: $(cat "$LAB/log/cli.out" "$LAB/log/cli.err")"
wait_until 5 eval '! lab_proc_alive srv'
lab_stop srv
ok "server got all $COUNT lines in order" quiet "$LAB_PY" "$LAB_TOOLS/lines.py" check "$LAB/log/lines.recv" "$COUNT"
diag "  $("$LAB_PY" "$LAB_TOOLS/lines.py" check "$LAB/log/lines.recv" "$COUNT" | head -n 2)"

lab_cap_stop a
lab_cap_stop b
cmp_ok "$(lab_cap_count b 'udp port 4500 and udp[8:4] != 0')" -ge 10 "link B carried ESP after the move"
cmp_ok "$(( $(lab_cap_clear a) + $(lab_cap_clear b) ))" -eq 0 "no clear packet to/from $LAB_INNER_IP on either link"

m2m status pos --json
is "$(jget 'profiles[name=pos].state' <<< "$M2M_OUT")" up "status: still up"
is "$(jget 'profiles[name=pos].local_host' <<< "$M2M_OUT")" "$LAB_DEV_IP_B" "status: local_host is now $LAB_DEV_IP_B (link B)"
is "$(jget 'profiles[name=pos].virtual_ips.0' <<< "$M2M_OUT")" "$vip" "status: same virtual IP"
is "$(lab_ike_ids dev)" "$ike" "same IKE SA (MOBIKE update, no new IKE SA)"
ok "traffic through the tunnel after the move" lab_ping_inner 2
m2m down pos
is_rc 0 "down exit 0"
done_testing
