#!/bin/sh
# A point-of-sale payment wrapper: bring the tunnel up, pay, leave it to the
# next run. The exit codes of m2mvpn-connect are stable (m2m-exit-codes(7)),
# so the script can tell the cashier something useful.
set -u
PROFILE=${PROFILE:-pos}

m2mvpn-connect up "$PROFILE" --timeout 20
rc=$?
case $rc in
0)  ;;
5|6) echo "payment host not reachable; card payment unavailable, try again" >&2; exit $rc ;;
7|8|9|10)
    echo "terminal credentials problem (code $rc); call service" >&2
    m2mvpn-connect status "$PROFILE" >&2
    exit $rc ;;
*)  echo "VPN failed (code $rc)" >&2; exit $rc ;;
esac

exec pay.sh "$@"
