#!/bin/bash
# A software package through the Firmware Update object (5, LwM2M TS 1.1 Core E.6),
# as m2mdm-status(1) says: object 9 (Software Management) is not served, and every kind
# of package the engine takes comes through object 5. lwm2m-node-lib writes the Package
# URI of a signed software package (type software, another name than the firmware's),
# observes State, executes Update once it is Downloaded (2) and reads Update Result 1
# (committed), PkgName and PkgVersion of that package; the script installer was run for
# it with M2M_UPDATE_TYPE=software. Then an older version of it: the engine refuses a
# downgrade (Update Result 6, unsupported package type: genuine, not for this device)
# and the installer is not run again.
. "$(dirname "$0")/lwm2m-fw-lib.sh"
lwm2m_server_setup
plan 8

fw_vendor
W=$T/www
mkdir -p "$W"
head -c 60000 /dev/urandom >"$T/app.bin"
app_sign() {
	"$TOOLS/upd-pkg" sign "$W/$1" "$T/app.bin" type=software name=gate-app version="$2" \
		model=gate-7 installer=script expires="$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" \
		-- file path="$T/vendor.key" cert="$T/vendor.pem" >/dev/null
}
app_sign app.pkg 1.1.0 && app_sign app-old.pkg 1.0.0
ok $? "signed software packages (gate-app 1.1.0 and 1.0.0)"
fw_lighttpd "$W"

port=$(free_port)
ep=it-sw-$port
fw_installer
# the installer also records the package's type
sed -i 's/^echo "\$1 /echo "\$1 \$M2M_UPDATE_TYPE /' "$T/install.sh"
fw_nosec_device "$port" "$ep"
URL=http://127.0.0.1:$hp/app.pkg
OLD=http://127.0.0.1:$hp/app-old.pkg
bg "$T/server.log" node "$ROOT/tests/tools/lwm2m-server.js" --port "$port" --ep "$ep" \
	--timeout 60000 "write:/5/0/1=$URL" 'observe:/5/0/3:3000:1' 'read:/5/0/3~2' \
	'exec:/5/0/2' 'observe:/5/0/5:5000:0' 'read:/5/0/5~1' 'read:/5/0/6~gate-app' \
	'read:/5/0/7~1.1.0' "write:/5/0/1=$OLD" 'observe:/5/0/3:3000:0' 'read:/5/0/5~6' \
	'read:/5/0/3~0'
wait_for "$T/server.log" '"event":"listening"' 15
bg "$T/serve.log" "$BIN/m2mdm-status" --serve -v
wait_for "$T/server.log" '"event":"summary"' 60
ok $? "the server's plan ran to its end"
cr() { check_result "$T/server.log" "$1"; }

is "$(cr "write:/5/0/1=$URL") $(cr 'read:/5/0/3~2')" "pass pass" \
	"the Package URI is taken and the package is held: State 2 (Downloaded)"
is "$(cr 'exec:/5/0/2') $(cr 'read:/5/0/5~1')" "pass pass" "Update: Update Result 1 (success)"
is "$(cr 'read:/5/0/6~gate-app') $(cr 'read:/5/0/7~1.1.0')" "pass pass" \
	"PkgName and PkgVersion are the software package's"
is "$(tr '\n' ';' <"$T/calls" 2>/dev/null)" "install software gate-app 1.1.0;commit software gate-app 1.1.0;" \
	"the script installer installed and committed it as software"
cmp -s "$T/installed" "$T/app.bin"
ok $? "what it installed is the signed payload"
is "$(cr "write:/5/0/1=$OLD") $(cr 'read:/5/0/5~6') $(cr 'read:/5/0/3~0') $(grep -c '^install' "$T/calls")" \
	"pass pass pass 1" "an older version: Update Result 6, State 0, the installer not run again"
[ "$_fail" = 0 ] || { diag "$(cat "$T/server.log")"; diag "$(tail -30 "$T/serve.log.err")"; }
done_testing
