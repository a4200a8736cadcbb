#!/bin/bash
# 32-up-under-loss.t - "up --timeout 20" with 30% loss on IKE (issue 17, finding 3).
# This kernel has no netem (../shared/lab/faults.md): the loss is nftables' "numgen random
# mod 100 < 30 drop" in the device namespace, on IKE leaving (UDP 500/4500 to the gateway)
# and arriving (from UDP 500/4500), so a request and its answer are each lost 30% of the
# time. charon (retransmit_tries 2) then gives up on about one attempt in four after ~4.4 s;
# before the fix a third of the runs failed that early with 15 s of the budget left. Now
# "up" initiates again within its limit: at least 24 of 25 runs must come up, and any that
# fails exits 6 at the limit (20 s less the 300 ms kept for tearing the attempt down), never
# early. The loss is on only while "up" runs; "down" runs without it.
# Time: a run that comes up takes 0-10 s (retransmits at 1 s and 2.4 s, maybe a second try),
# so 25 runs take about 100 s.
# The gateway: every attempt whose IKE_SA_INIT it answered and whose IKE_AUTH it never saw
# leaves a half-open IKE SA there for 30 s, and strongSwan's default block_threshold (5 per
# address) then makes it ignore the device: 25 runs in 100 s at this loss reached it in two
# of six test runs here (three attempts in a row unanswered: 9 sends, 1 in 500 by chance,
# and 23 of 25 runs up). That is the gateway's
# DoS policy, not what is tested here (m2mvpn-connect(1) tells integrators to size it): this
# gateway allows 100.
LAB_CHARON_EXTRA_gw="  block_threshold = 100"
export LAB_CHARON_EXTRA_gw
# shellcheck source=../lab/lab.sh disable=SC2034
. "$(dirname "$0")/../lab/lab.sh"
lab_require
lab_require_tool
lab_up
RUNS=${M2M_LOSS_RUNS:-25}
plan 5

loss_on() {
	in_dev nft -f - <<-EOF
	table inet m2mt_loss {
		chain out {
			type filter hook output priority 0;
			ip daddr $LAB_GW_IP udp dport { 500, 4500 } numgen random mod 100 < 30 drop
		}
		chain in {
			type filter hook input priority 0;
			ip saddr $LAB_GW_IP udp sport { 500, 4500 } numgen random mod 100 < 30 drop
		}
	}
	EOF
}
loss_off() { in_dev nft delete table inet m2mt_loss; }

up=0 early=0 late=0 wrong=0 retried=0 slowest=0 fails=""
run_once() {
	loss_on || lab_die "cannot put the loss rules in place"
	m2m -v up pos --timeout 20
	loss_off
	[ "$M2M_MS" -gt "$slowest" ] && slowest=$M2M_MS
	grep -q "trying again in" <<< "$M2M_ERR" && retried=$((retried + 1))
	case $M2M_RC in
	0)  up=$((up + 1)) ;;
	6)  fails+=" ${M2M_MS}ms"
	    [ "$M2M_MS" -lt 19600 ] && early=$((early + 1))
	    [ "$M2M_MS" -gt 20100 ] && late=$((late + 1)) ;;
	*)  wrong=$((wrong + 1)); m2m_diag ;;
	esac
	m2m down pos
	[ "$M2M_RC" = 0 ] || { diag "run $i: down failed"; m2m_diag; }
}
for ((i = 1; i <= RUNS; i++)); do
	run_once
done
main_up=$up
# About one run in eight needs a second initiate here, so 25 runs without one happen (4%
# of test runs, seen in CI): the retry is shown by more runs then, up to 75, which count for
# the time checks below but not for the share of runs up
for ((i = RUNS + 1; retried == 0 && i <= RUNS + 75; i++)); do
	run_once
done
note "$main_up of $RUNS runs up; $retried needed more than one initiate (of $((i - 1)) runs); slowest ${slowest} ms; failed:${fails:- none}"
up=$main_up
cmp_ok "$up" -ge $((RUNS - 1)) "30% loss on IKE: up --timeout 20 up in at least $((RUNS - 1)) of $RUNS runs ($up)"
is "$early" 0 "no run failed before the limit (20 s less the 300 ms teardown reserve)"
is "$late" 0 "no run took longer than the limit + 100 ms"
is "$wrong" 0 "every run that failed exited 6 (gateway unreachable)"
cmp_ok "$retried" -ge 1 "the loss made 'up' initiate again in some runs ($retried)"
