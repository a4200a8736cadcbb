#!/bin/bash
# lib/update's script installer (install_script.c) holds to the contract written in
# lib/update/install.h, checked from outside with small scripts, through
# tests/tools/upd-install: argv[1] the verb, argv[2] the payload's absolute path (install
# only), the documented environment and nothing else, stdin /dev/null, cwd /, no shell
# (a payload name full of shell syntax arrives as it is and runs nothing); exit codes 0, 1,
# 17, 18, 19 and the rest mapped; stderr's last line is the message; a script that hangs
# is stopped at the bound (SIGTERM to its process group, SIGKILL if it ignores that) and
# leaves no process behind; a script others may change is not run.
. "$(dirname "$0")/../lab/lab.sh"
UPD=${M2M_BUILD_DIR:-$LAB_REPO/build}/tests/tools/upd-install
if [ ! -x "$UPD" ]; then echo "1..1"; echo "not ok 1 - $UPD exists (make units)"; exit 1; fi
LAB=$(mktemp -d /tmp/m2m-test.XXXXXX) || { echo "Bail out! mktemp"; exit 1; }
S=$LAB/scripts
mkdir -p "$S" "$LAB/out"
chmod 0755 "$LAB"
# the processes a hanging script starts are checked below; any left are ours to end
_t_exit() {
	local rc=$? p
	for p in $(cat "$LAB"/out/*.pid 2> /dev/null); do kill -KILL "$p" 2> /dev/null; done
	rm -rf "$LAB"
	[ "$rc" = 0 ] && [ "$TAP_FAILED" -gt 0 ] && rc=$TAP_FAILED
	exit "$rc"
}
trap _t_exit EXIT

# upd ARGS...: upd-install with the script backend -> UPD_RC UPD_OUT UPD_ERR UPD_MS
upd() {
	local t0
	t0=$(now_ms)
	(cd "$LAB" && FOO_SHOULD_NOT_PASS=1 timeout -k 3 60 "$UPD" -t "${UPD_T:-10000}" \
		-n pos-app -v 2.4.1 -T software "$@") > "$LAB/upd.out" 2> "$LAB/upd.err" < /dev/null
	UPD_RC=$?
	UPD_MS=$(( $(now_ms) - t0 ))
	UPD_OUT=$(cat "$LAB/upd.out") UPD_ERR=$(cat "$LAB/upd.err")
}
upd_rc() {
	if [ "$UPD_RC" = "$1" ]; then pass "$2"; return 0; fi
	fail "$2"; diag "    expected exit $1, got $UPD_RC after $UPD_MS ms"; diag "    stderr: $UPD_ERR"
	return 1
}
# mk NAME BODY: an executable /bin/sh script $S/NAME, mode 0755
mk() { printf '#!/bin/sh\n%s\n' "$2" > "$S/$1" && chmod 0755 "$S/$1"; }

O=$LAB/out
mk record "i=0; for a in \"\$0\" \"\$@\"; do echo \"\$i=\$a\"; i=\$((i + 1)); done > $O/argv
env | LC_ALL=C sort > $O/env
readlink /proc/self/fd/0 > $O/stdin
pwd > $O/cwd
echo 'hello from the script'
echo 'first words' >&2
echo 'last words' >&2
exit 0"
echo payload > "$LAB/fw.bin"

# ---- install: argv, environment, stdin, cwd
upd -s "$S/record" script install fw.bin
upd_rc 0 "install runs the script: exit 0 is OK"
is "$(cat "$O/argv")" "0=$S/record
1=install
2=$LAB/fw.bin" "argv: the verb, then the payload as an absolute path, nothing else"
is "$(grep '^M2M_' "$O/env")" "M2M_UPDATE_NAME=pos-app
M2M_UPDATE_PAYLOAD=$LAB/fw.bin
M2M_UPDATE_TYPE=software
M2M_UPDATE_VERB=install
M2M_UPDATE_VERSION=2.4.1" "the environment: name, payload, type, verb, version"
is "$(grep '^PATH=' "$O/env")" "PATH=/usr/sbin:/usr/bin:/sbin:/bin" "PATH is the fixed one"
nok "nothing of the caller's environment" grep -q FOO_SHOULD_NOT_PASS "$O/env"
is "$(cat "$O/stdin")" "/dev/null" "stdin is /dev/null"
is "$(cat "$O/cwd")" "/" "the working directory is /"

# ---- the other verbs
upd -s "$S/record" script mark-good
upd_rc 0 "mark-good"
is "$(cat "$O/argv")" "0=$S/record
1=commit" "mark-good runs 'commit', without a payload"
nok "no M2M_UPDATE_PAYLOAD for commit" grep -q M2M_UPDATE_PAYLOAD "$O/env"
upd -s "$S/record" script rollback
upd_rc 0 "rollback"
is "$(sed -n 2p "$O/argv")" "1=rollback" "rollback runs 'rollback'"
upd -s "$S/record" script mark-bad
is "$(sed -n 2p "$O/argv")" "1=rollback" "mark-bad runs 'rollback' too"
upd -s "$S/record" script status
upd_rc 14 "status: a script has none (NOT_FOUND)"

# ---- no shell anywhere: a payload name made of shell syntax is only a name
weird="$LAB/a;b \$(touch m2m-pwned) \`touch m2m-pwned2\` 'q\"\$HOME.bin"
echo payload > "$weird"
upd -s "$S/record" script install "$weird"
upd_rc 0 "install of a payload whose name is shell syntax"
is "$(sed -n 3p "$O/argv")" "2=$weird" "it arrives as argv[2], byte for byte"
ok "nothing ran" test ! -e "$LAB/m2m-pwned" -a ! -e "$LAB/m2m-pwned2" -a ! -e /m2m-pwned -a ! -e /m2m-pwned2

# ---- exit codes and messages
UPD_INSTALL_LOG=1 upd -s "$S/record" script install fw.bin
like "$UPD_ERR" "script: hello from the script" "stdout lines go to the log"
mk fail1 "echo 'working' >&2; echo 'disk image rejected by the bootloader' >&2; exit 1"
upd -s "$S/fail1" script install fw.bin
upd_rc 1 "exit 1: FAILURE"
is "$UPD_ERR" "upd-install: script install: disk image rejected by the bootloader" \
	"the message is stderr's last line"
for c in 17 18 19; do
	mk "exit$c" "echo 'reason $c' >&2; exit $c"
	upd -s "$S/exit$c" script install fw.bin
	upd_rc "$c" "exit $c: the m2m code $c"
done
mk exit42 "exit 42"
upd -s "$S/exit42" script install fw.bin
upd_rc 1 "another exit code (42): FAILURE"
like "$UPD_ERR" "exited 42" "the message names the code"
mk selfkill 'echo "about to die" >&2; kill -9 $$'
upd -s "$S/selfkill" script install fw.bin
upd_rc 1 "killed by a signal: FAILURE"
like "$UPD_ERR" "killed by signal 9" "the message names the signal"

# ---- the time bound
mk hang "sleep 60 & echo \$! > $O/hang-child.pid; echo \$\$ > $O/hang.pid; echo 'waiting forever' >&2; wait"
UPD_T=1500 upd -s "$S/hang" script install fw.bin
upd_rc 5 "a script that hangs: TIMEOUT"
cmp_ok "$UPD_MS" -ge 1500 "not before the bound ($UPD_MS ms)"
cmp_ok "$UPD_MS" -lt 3500 "stopped by SIGTERM soon after it"
like "$UPD_ERR" "waiting forever" "the message keeps the script's last words"
nok "the script is gone" lab_alive "$(cat "$O/hang.pid")"
nok "and its child too (its process group was signalled)" lab_alive "$(cat "$O/hang-child.pid")"
mk stubborn "trap '' TERM; echo \$\$ > $O/stubborn.pid; while :; do sleep 0.2; done"
UPD_T=1000 upd -s "$S/stubborn" script install fw.bin
upd_rc 5 "a script that ignores SIGTERM: TIMEOUT"
cmp_ok "$UPD_MS" -ge 3000 "SIGKILL came after the grace period ($UPD_MS ms)"
cmp_ok "$UPD_MS" -lt 5500 "and not much later"
nok "the stubborn script is gone" lab_alive "$(cat "$O/stubborn.pid")"

# ---- scripts that are not run
mk unsafe "touch $O/unsafe-ran"
chmod 0777 "$S/unsafe"
upd -s "$S/unsafe" script install fw.bin
upd_rc 3 "a script others may write: CONFIG"
ok "it did not run" test ! -e "$O/unsafe-ran"
upd -s "$S/none" script install fw.bin
upd_rc 14 "no such script: NOT_FOUND"
upd -s "scripts/record" script install fw.bin
upd_rc 3 "a relative path: CONFIG"
upd -s "$S/record" script install "$LAB/no-such-payload"
upd_rc 14 "no such payload: NOT_FOUND"

done_testing
