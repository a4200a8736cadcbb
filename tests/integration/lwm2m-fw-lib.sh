# shellcheck shell=bash
# Helpers of the Firmware Update object's tests (23x-lwm2m-firmware-*.t), over
# lwm2m-lib.sh: the vendor's CA and code signer, signed packages, the device's
# m2m.yaml with a script installer, and the project's CoAP peer (lw-observer.py,
# observer_lab) driven through its FIFO.
. "$(dirname "${BASH_SOURCE[0]}")/lwm2m-lib.sh"
for p in openssl python3; do command -v $p >/dev/null || skip_all "$p not installed"; done
[ -x "$TOOLS/upd-pkg" ] || skip_all "build the tools first (make units)"

# fw_vendor: a CA ($T/ca.pem) and a code signer ($T/vendor.pem, .key)
fw_vendor() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
		-out "$T/ca.pem" -subj /CN=vendor-root -days 30 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/vendor.key" \
		-out "$T/vendor.csr" -subj /CN=vendor-signer 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$T/cs.ext"
	openssl x509 -req -in "$T/vendor.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
		-days 20 -extfile "$T/cs.ext" -out "$T/vendor.pem" 2>/dev/null
}

# fw_sign OUT PAYLOAD VERSION: gate-fw VERSION for model gate-7, script installer
fw_sign() {
	"$TOOLS/upd-pkg" sign "$1" "$2" type=firmware name=gate-fw version="$3" model=gate-7 \
		installer=script expires="$(date -u -d '+10 days' +%Y-%m-%dT%H:%M:%SZ)" \
		-- file path="$T/vendor.key" cert="$T/vendor.pem" >/dev/null
}

# fw_slow_http DIR: tests/tools/slow-http.py serving DIR on a free port ($hp), until it listens
fw_slow_http() {
	hp=$(free_port)
	bg "$T/http.log" python3 "$ROOT/tests/tools/slow-http.py" "$hp" "$1"
	for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$hp" | grep -q . && break; sleep 0.05; done
}

# fw_installer: the script installer $T/install.sh, which records its calls in $T/calls
# and copies what it installs to $T/installed
fw_installer() {
	cat >"$T/install.sh" <<EOS
#!/bin/sh
echo "\$1 \$M2M_UPDATE_NAME \$M2M_UPDATE_VERSION" >> "$T/calls"
[ "\$1" = install ] && cp "\$2" "$T/installed"
exit 0
EOS
	chmod 0755 "$T/install.sh"
}

# fw_update_yaml: the update: section of m2m.yaml for those packages and that installer
fw_update_yaml() {
	cat <<YAML
update:
  trust: $T/ca.pem
  health:
    timeout: 30s
  installers:
    script:
      path: $T/install.sh
      timeout: 30s
YAML
}

# fw_nosec_device PORT ENDPOINT: $T/m2m.yaml (exported as M2M_CONFIG) of a gate-7 that
# registers over plain CoAP with the server on PORT, with the update: section above
fw_nosec_device() {
	cat >"$T/m2m.yaml" <<YAML
version: 1
device: {id: $2, model: gate-7}
state_dir: $T/state
dm:
  server: "coap://127.0.0.1:$1"
  security: nosec
  lifetime: 60s
$(fw_update_yaml)
YAML
	chmod 0600 "$T/m2m.yaml"
	export M2M_CONFIG=$T/m2m.yaml
}

# fw_device PORT [DM-LINE...]: observer_lab's device (lwm2m-lib.sh) as a gate-7 with the
# script installer and an update: section, and lw-observer.py on PORT (`ctl` drives it)
fw_device() {
	local port=$1
	shift
	observer_lab "$port" "it-fw-$port" "lifetime: 10m" "$@"
	sed -i 's/^device: {id: \(.*\)}$/device: {id: \1, model: gate-7}/' "$T/m2m.yaml"
	fw_installer
	fw_update_yaml >>"$T/m2m.yaml"
	chmod 0600 "$T/m2m.yaml"
}

# field JSON NAME: a field's value
field() { grep -oE "\"$2\":(\"[^\"]*\"|[0-9a-z.]+)" <<<"$1" | head -1 | sed -E "s/^\"$2\"://; s/^\"//; s/\"$//"; }
# ev EVENT PATH [N]: the Nth (1-based) event of a kind on a path
ev() { grep "\"event\":\"$1\",\"path\":\"$2\"" "$T/srv.log" | sed -n "${3:-1}p"; }
# wait_count RE N SECS: until the server's log has N lines matching RE
wait_count() {
	local re=$1 n=$2 secs=$3 i
	for ((i = 0; i < secs * 20; i++)); do
		[ "$(grep -cE "$re" "$T/srv.log")" -ge "$n" ] && return 0
		sleep 0.05
	done
	return 1
}
# read_until PATH WANT SECS: read PATH (text) until its value is WANT; the last value read
read_until() {
	local path=$1 want=$2 secs=$3 v="" i n
	for ((i = 0; i < secs * 4; i++)); do
		n=$(grep -c "\"event\":\"fetch\",\"path\":\"$path\"" "$T/srv.log")
		ctl fetch "$path" 0
		wait_count "\"event\":\"fetch\",\"path\":\"$path\"" $((n + 1)) 5
		v=$(field "$(ev fetch "$path" $((n + 1)))" value)
		[ "$v" = "$want" ] && break
		sleep 0.25
	done
	echo "$v"
}
# the answer code to the Nth request of a kind on a path, once it came
answer() {
	wait_count "\"event\":\"$1\",\"path\":\"$2\"" "${3:-1}" 10
	field "$(ev "$1" "$2" "${3:-1}")" code
}
# fw_lighttpd DIR: lighttpd serving DIR over plain http on 127.0.0.1:$hp (set here)
fw_lighttpd() {
	local i
	hp=$(free_port)
	printf 'server.document-root = "%s"\nserver.bind = "127.0.0.1"\nserver.port = %s\nserver.errorlog = "%s"\nmimetype.assign = ( "" => "application/octet-stream" )\n' \
		"$1" "$hp" "$T/lighttpd.err" >"$T/lighttpd.conf"
	bg "$T/lighttpd.out" lighttpd -D -f "$T/lighttpd.conf"
	for ((i = 0; i < 100; i++)); do ss -Hltn "sport = :$hp" | grep -q . && break; sleep 0.05; done
}
