#!/bin/bash
# 93-guard-flush.t - a full `nft flush ruleset` (what a firewall reload does) does not open
# the fail-closed guard (issue 17, finding 8, second case). Under "watch", tunnel down
# (gateway stopped), a ping every 2 ms to the protected address:
#   - the ruleset is flushed five times; each time the guard is back within 100 ms
#     (measured from nftables' own notifications, as `nft monitor` shows them: the table
#     deleted -> the table made again; the old periodic check took 2.9-4.9 s; the bound
#     leaves room for a loaded 2-core machine, the watch itself logs about 10 ms),
#   - 0 packets to the protected address leave in clear on the device's outer link:
#     the watch's own copy of the guard (a table owned by its netlink socket) is passed by
#     the flush and holds meanwhile;
#   - once watch stops, its copy is gone and the guard itself stays.
# "clear" = a packet on the outer link to/from 10.99.1.1 that is not UDP 500/4500.
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up

T=m2m_pos

lab_charon_stop gw
lab_dev_config pos mode=always-on fail_closed=true dpd=2s
lab_bg watch --ns dev "$M2M_BIN" -v -c "$M2M_CONFIG_FILE" watch pos
ok "watch put the guard in place" wait_until 10 lab_guard_whole
ok "  and its own copy (table ${T}_hold)" wait_until 5 lab_nft_table "${T}_hold"
# nftables' notifications with the time each was read
lab_bg monitor --ns dev bash -c 'nft monitor tables | while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done'
sleep 0.5
lab_cap_start flush dev "$LAB_IF_A"
lab_bg pinger --ns dev ping -n -i 0.002 -W 1 "$LAB_INNER_IP"
sleep 0.5
: > "$LAB/log/flush.times"
for i in 1 2 3 4 5; do
	echo "$EPOCHREALTIME" >> "$LAB/log/flush.times"
	in_dev nft flush ruleset
	sleep 0.4
done
sleep 0.3
lab_stop pinger INT
lab_cap_stop flush
lab_stop monitor TERM 3
ok "the guard is whole after the last flush" lab_guard_whole
# for each flush (its start, taken just before the nft command): the first time nft monitor
# saw the guard's table made again after it
gaps=$(awk -v t="$T" 'NR == FNR { f[++nf] = $1; next }
	$2 == "add" && $3 == "table" && $5 == t { a[++na] = $1 }
	END { for (i = 1; i <= nf; i++) { for (j = 1; j <= na; j++) if (a[j] > f[i]) break;
		if (j <= na && (i == nf || a[j] < f[i + 1])) printf "%d\n", (a[j] - f[i]) * 1000 } }' \
	"$LAB/log/flush.times" "$LAB/log/monitor.out")
n=$(grep -c . <<< "$gaps")
is "$n" 5 "five flushes, each followed by the guard made again (as nft monitor shows)" ||
	diag "$(cat "$LAB/log/monitor.out")"
worst=$(sort -n <<< "$gaps" | tail -n 1)
cmp_ok "${worst:-99999}" -le 100 "the guard was back within 100 ms of each flush (worst ${worst} ms; all: $(echo $gaps))"
is "$(lab_cap_clear flush)" 0 "0 clear packets on the outer link through five flushes" ||
	diag "$(lab_cap_show flush "host $LAB_INNER_IP")"
cmp_ok "$(lab_cap_count flush 'udp port 500 or udp port 4500')" -ge 1 "  (watch kept trying IKE meanwhile: the capture works)"
lab_stop watch TERM 10
ok "watch stopped: its copy is gone" eval "! lab_nft_table ${T}_hold"
ok "  and the guard stays" lab_guard_whole
m2m down pos
is_rc 0 "down lifts the guard"
ok "  the guard is gone" eval "! lab_nft_table $T"
done_testing
