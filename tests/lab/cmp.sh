# shellcheck shell=bash disable=SC2034
#
# tests/lab/cmp.sh - the CMP part of the lab, on top of tests/lab/lab.sh (which it only
# extends with new functions): OpenSSL's CMP mock server (`openssl cmp -port 0`, see
# ../shared/lab/pki.md section 1) and misbehaving HTTP peers, all in the GATEWAY namespace
# (the mock listens on every interface: never start it in the host namespace). The device
# namespace reaches them at the gateway's link address in clear (LAB_CMP_URL).
#
#   . "$(dirname "$0")/../lab/lab.sh"; . "$(dirname "$0")/../lab/cmp.sh"
#   lab_require; lab_require_tool
#   lab_up; lab_cmp_pki
#   m2mcert keygen --store file --key "$LAB/cmp/dev.key"
#   lab_cmp_issue "key:$LAB/cmp/dev.key" "$LAB/cmp/rsp.pem"
#   lab_cmp_up --rsp "$LAB/cmp/rsp.pem"
#   lab_cmp_config pos "$LAB/cmp/dev.key" "$LAB/cmp/dev.pem"     (lab_dev_config + enroll:)
#   m2mcert enroll -p pos; is_rc 0 "enrolled"
#
# PKI. The lab CA ($LAB_CA, key $LAB/pki/ca.key) is the CA of everything here: it issues
# the device certificates the mock hands out (so the gateway accepts them with no change to
# its config) AND the CMP server's own certificate ("CN=CMP Mock Server", the recipient of
# MAC-protected requests and the signer of responses to signed ones). One anchor is what
# the contract's enroll.trust needs: a signed response must chain to it and the issued
# certificate must chain to it, and a real RA's certificate usually comes from the same
# root as the device certificates. So LAB_CMP_TRUST = $LAB_CA. A certificate that must NOT
# chain to trust comes from the lab's rogue CA (lab_cmp_issue --ca rogue-ca).
#
# The mock (OpenSSL 3.0) facts the functions below follow:
#  * it returns -rsp_cert byte for byte, whatever was asked: lab_cmp_issue pre-issues the
#    certificate for the key the client will enrol (the client refuses another key's);
#  * kur and rr are accepted only when the request's oldCertID (issuer and serial) equals
#    -rsp_cert's: a renewal test pre-issues the renewed certificate with the SAME issuer
#    and serial as the current one and later dates (151-cert-renew.t); a revocation test
#    starts the mock with the certificate it revokes as -rsp_cert;
#  * -srv_ref is NOT given by default: with it the mock also puts that reference as the
#    senderKID of its SIGNED responses (kur, rr, signed ir), where RFC 9483 3.1 / RFC 4210
#    5.1.1 make senderKID the signer key's identifier (the SKI of CN=CMP Mock Server), and
#    the client rightly finds no signer for it ("no suitable sender cert"). The PBM
#    reference of the client (1234) is not checked by the mock anyway: its secret is.
#    Add "-srv_ref 1234" to lab_cmp_up for a PBM-only run if wanted.
#  * -verbosity 7 logs each message type it receives ("CMP DEBUG: received KUR") in
#    $LAB/log/cmp.err: lab_cmp_received tells what went over the wire.
#
# Functions:
#   lab_cmp_pki                        $LAB/cmp/: server key+cert, secrets. Exports LAB_CMP_DIR
#                                      LAB_CMP_TRUST LAB_CMP_SRV_CERT LAB_CMP_SRV_KEY
#                                      LAB_CMP_SECRET_FILE LAB_CMP_WRONG_SECRET_FILE (0600)
#   lab_cmp_issue KEYSPEC OUT [--ca NAME] [--cn CN] [--serial HEX] [--from OFF] [--to OFF]
#                                      a certificate for that key (see below)
#   lab_cmp_up [--rsp FILE] [MOCK-OPTION...]   (re)start the mock (same port on a restart);
#                                      LAB_CMP_PORT, LAB_CMP_URL
#   lab_cmp_down                       stop the mock and any peer
#   lab_cmp_requests                   number of HTTP requests the mock (or peer) got this run
#   lab_cmp_received TYPE              the mock got a message of TYPE (IR, KUR, RR, CERTCONF...)
#   lab_cmp_peer MODE                  a bad peer (tests/tools/cmp-peer.py): silent, dribble,
#                                      garbage, status500; LAB_CMP_URL points at it.
#   lab_cmp_silent / lab_cmp_dribble / lab_cmp_garbage / lab_cmp_http500   the same
#   lab_cmp_free_port                  a TCP port nothing listens on in the gateway namespace
#   lab_cmp_tls_cert NAME [FROM TO [CA [SAN...]]]   a TLS server certificate for the next
#   lab_cmp_tls_up [NAME]              lighttpd terminating TLS before the mock; LAB_CMP_TLS_URL
#   lab_cmp_enroll_yaml [KEY=VALUE...] the profile's enroll: section, for lab_dev_config's extra=
#   lab_cmp_config PROFILE KEYFILE CERTFILE [KEY=VALUE...]   lab_dev_config of one profile
#                                      with a file key and that enroll: section
#   lab_cmp_der CERT / lab_cmp_sum FILE   a certificate's DER in hex / a file's SHA-256

# m2mcert (the tool in the device namespace) comes from keys.sh
declare -F m2mcert > /dev/null || . "$LAB_SRC_DIR/keys.sh"

LAB_CMP_REF=1234
LAB_CMP_RECIPIENT="CN=CMP Mock Server"

# lab_cmp_pki: the CMP server's key and certificate (lab CA, CN=CMP Mock Server, 29 days)
# and the shared secret of the PBM (random; the device's copy only in a 0600 file).
lab_cmp_pki() {
	LAB_CMP_DIR=$LAB/cmp
	mkdir -p "$LAB_CMP_DIR" && chmod 0700 "$LAB_CMP_DIR" || lab_die "mkdir $LAB_CMP_DIR"
	_lab_key cmp-srv || lab_die "CMP server key"
	# no SAN, no EKU: a CMP signer needs neither; the DN is exactly the recipient's
	_lab_pki_run --issue --in "$LAB/pki/cmp-srv.key" --type ecdsa \
		--cacert "$LAB/pki/ca.pem" --cakey "$LAB/pki/ca.key" --dn "$LAB_CMP_RECIPIENT" \
		--dateform %Y%m%d%H%M%S --not-before "$(_lab_date '-1 day')" \
		--not-after "$(_lab_date '+29 days')" --outform pem > "$LAB/pki/cmp-srv.pem" ||
		lab_die "CMP server certificate: $(tail -n 2 "$LAB/log/pki.err")"
	LAB_CMP_SRV_CERT=$LAB/pki/cmp-srv.pem LAB_CMP_SRV_KEY=$LAB/pki/cmp-srv.key
	LAB_CMP_TRUST=$LAB_CA
	LAB_CMP_SECRET_FILE=$LAB_CMP_DIR/secret LAB_CMP_WRONG_SECRET_FILE=$LAB_CMP_DIR/secret-wrong
	( umask 077
	  echo "cmp$(_lab_rand 8)" > "$LAB_CMP_SECRET_FILE"
	  echo "bad$(_lab_rand 8)" > "$LAB_CMP_WRONG_SECRET_FILE" )
	lab_log "CMP PKI in $LAB_CMP_DIR"
}

# lab_cmp_issue KEYSPEC OUT [--ca NAME] [--cn CN] [--serial HEX] [--from OFF] [--to OFF]
# The certificate the mock will hand out for a key, written to OUT (PEM). KEYSPEC:
#   key:FILE      an unencrypted PEM private key (a file-store key)
#   csr:FILE      a PKCS#10 request
#   profile:NAME  the key of that profile of $M2M_CONFIG_FILE, any store: the request is
#                 made by `m2mvpn-cert csr -p NAME` in the device namespace
# --ca: a CA of $LAB/pki (default ca, the lab CA; rogue-ca does not chain to trust).
# --cn: subject CN and DNS SAN (default dev1.lab). --serial: hex (default: random).
# --from/--to: validity as `date -d` offsets (default '-1 hour' and '+20 days'; a
# not-before in the future for a clock test). Always clientAuth.
lab_cmp_issue() {
	local spec=$1 out=$2 ca=ca cn=dev1.lab serial="" from='-1 hour' to='+20 days' in type
	shift 2
	while [ $# -gt 0 ]; do
		case $1 in
		--ca) ca=$2 ;; --cn) cn=$2 ;; --serial) serial=$2 ;; --from) from=$2 ;; --to) to=$2 ;;
		*) lab_die "lab_cmp_issue: bad argument $1" ;;
		esac
		shift 2
	done
	[ -n "$serial" ] || serial=$(_lab_rand 8)
	case $spec in
	key:*)
		in=$LAB_CMP_DIR/issue.$$.pub type=pub
		openssl pkey -in "${spec#key:}" -pubout -out "$in" 2>> "$LAB/log/pki.err" ||
			{ diag "lab_cmp_issue: cannot read ${spec#key:}"; return 1; } ;;
	csr:*) in=${spec#csr:} type=pkcs10 ;;
	profile:*)
		in=$LAB_CMP_DIR/issue.${spec#profile:}.csr type=pkcs10
		m2mcert csr -p "${spec#profile:}" --subject "CN=$cn" --san "$cn" -o "$in"
		[ "$M2M_RC" = 0 ] || { diag "lab_cmp_issue: m2mvpn-cert csr: $M2M_ERR"; return 1; } ;;
	*) lab_die "lab_cmp_issue: bad key spec $spec" ;;
	esac
	_lab_pki_run --issue --in "$in" --type "$type" \
		--cacert "$LAB/pki/$ca.pem" --cakey "$LAB/pki/$ca.key" \
		--dn "C=XX, O=m2m test lab, CN=$cn" --san "$cn" --flag clientAuth --serial "$serial" \
		--dateform %Y%m%d%H%M%S --not-before "$(_lab_date "$from")" --not-after "$(_lab_date "$to")" \
		--outform pem > "$out.tmp" && mv -f "$out.tmp" "$out" ||
		{ diag "lab_cmp_issue: pki --issue: $(tail -n 2 "$LAB/log/pki.err")"; return 1; }
	[ "$type" = pub ] && rm -f "$in"
	return 0
}

# lab_cmp_up [--rsp FILE] [MOCK-OPTION...]: (re)start the mock in the gateway namespace,
# recorded as "cmp" (teardown stops it). It hands out FILE (default $LAB_CMP_DIR/rsp.pem)
# with the lab CA as caPubs and extraCerts, knows the PBM secret, signs with CN=CMP Mock
# Server, and trusts the lab CA for signed requests. Extra options go to the mock as they
# are (-pkistatus 2 -failure 9, -poll_count 2 -check_after 1, -send_error, ...).
# Exports LAB_CMP_PORT and LAB_CMP_URL=http://10.99.0.1:PORT/pkix/; a restart keeps the
# port (a profile written with LAB_CMP_URL stays right), a bad peer has its own.
lab_cmp_up() {
	local rsp=$LAB_CMP_DIR/rsp.pem
	if [ "${1:-}" = --rsp ]; then rsp=$2; shift 2; fi
	lab_cmp_down
	# the first start takes any free port, a restart the same one: the profile's
	# enroll.server stays right between cases (the mock binds with SO_REUSEADDR)
	lab_bg cmp --ns gw openssl cmp -port "${_LAB_CMP_MOCK_PORT:-0}" -verbosity 7 \
		-srv_secret "pass:$(head -n1 "$LAB_CMP_SECRET_FILE")" \
		-srv_cert "$LAB_CMP_SRV_CERT" -srv_key "$LAB_CMP_SRV_KEY" -srv_trusted "$LAB_CA" \
		-rsp_cert "$rsp" -rsp_capubs "$LAB_CA" -rsp_extracerts "$LAB_CA" "$@"
	wait_until 5 grep -q '^ACCEPT ' "$LAB/log/cmp.out" ||
		lab_die "CMP mock did not start: $(tail -n 3 "$LAB/log/cmp.err")"
	# "ACCEPT [::]:39859 PID=5607"
	LAB_CMP_PORT=$(sed -n 's/^ACCEPT .*:\([0-9][0-9]*\) PID=.*/\1/p' "$LAB/log/cmp.out" | head -n1)
	[ -n "$LAB_CMP_PORT" ] || lab_die "CMP mock: no port in '$(head -n1 "$LAB/log/cmp.out")'"
	_LAB_CMP_MOCK_PORT=$LAB_CMP_PORT
	LAB_CMP_URL=http://$LAB_GW_IP:$LAB_CMP_PORT/pkix/
	_LAB_CMP_LOG=$LAB/log/cmp.err
	export LAB_CMP_PORT LAB_CMP_URL
	lab_log "CMP mock on $LAB_CMP_URL (pid $LAB_BG_PID)"
}

# lab_cmp_down: stop the mock and the bad peer (if running)
lab_cmp_down() {
	lab_stop cmp TERM 3 > /dev/null 2>&1
	lab_stop cmppeer TERM 3 > /dev/null 2>&1
	return 0
}

# lab_cmp_requests: HTTP requests the running mock or peer received (since its start)
lab_cmp_requests() {
	local n
	case ${_LAB_CMP_LOG:-} in
	*/cmp.err) n=$(grep -c 'Received request' "$_LAB_CMP_LOG" 2>/dev/null) ;;
	*/cmppeer.out) n=$(grep -c '^request ' "$_LAB_CMP_LOG" 2>/dev/null) ;;
	esac
	echo "${n:-0}"
}
# lab_cmp_received TYPE: the mock received a CMP message of TYPE (IR, CR, KUR, RR, CERTCONF,
# POLLREQ, GENM, ERROR) since its start
lab_cmp_received() { grep -q "CMP DEBUG: received $1\$" "$LAB/log/cmp.err" 2>/dev/null; }

# lab_cmp_peer MODE: (re)start tests/tools/cmp-peer.py in the gateway namespace on
# 10.99.0.1 (any free port), recorded as "cmppeer"; LAB_CMP_URL points at it. MODE:
#   silent    accepts, reads the request, never answers (holds the connection)
#   dribble   answers a 200 one byte a second, never complete
#   garbage   answers 200, Content-Type application/pkixcmp, a body that is no DER
#   status500 answers 500 Internal Server Error
# Each request is logged in $LAB/log/cmppeer.out as
# "request METHOD PATH content-type=TYPE length=N" (the HTTP transfer of RFC 6712 3.4).
lab_cmp_peer() {
	lab_cmp_down
	lab_bg cmppeer --ns gw "$LAB_PY" "$LAB_TOOLS/cmp-peer.py" "$1" "$LAB_GW_IP" 0
	wait_until 5 grep -q '^listening ' "$LAB/log/cmppeer.out" ||
		lab_die "cmp-peer $1 did not start: $(tail -n 3 "$LAB/log/cmppeer.err")"
	LAB_CMP_PORT=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$LAB/log/cmppeer.out")
	LAB_CMP_URL=http://$LAB_GW_IP:$LAB_CMP_PORT/pkix/
	_LAB_CMP_LOG=$LAB/log/cmppeer.out
	export LAB_CMP_PORT LAB_CMP_URL
	lab_log "cmp-peer $1 on $LAB_CMP_URL"
}
lab_cmp_silent()  { lab_cmp_peer silent; }
lab_cmp_dribble() { lab_cmp_peer dribble; }
lab_cmp_garbage() { lab_cmp_peer garbage; }
lab_cmp_http500() { lab_cmp_peer status500; }

# lab_cmp_free_port: a TCP port on which nothing listens in the gateway namespace (a
# connection to it is refused)
lab_cmp_free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 30000))
		in_gw ss -Hltn "sport = :$p" | grep -q . || { echo "$p"; return; }
	done
}

# lab_cmp_tls_cert NAME [FROM TO [CA [SAN...]]]: a TLS server certificate $LAB/pki/NAME.pem
# (key NAME.key) for lab_cmp_tls_up: CA (default ca, the lab CA), valid FROM..TO (`date -d`
# offsets, default '-1 hour' '+20 days'), serverAuth, subject alternative names SAN...
# (default the gateway's address 10.99.0.1 and ca.lab)
lab_cmp_tls_cert() {
	local name=$1 from=${2:--1 hour} to=${3:-+20 days} ca=${4:-ca} san args=()
	shift $(($# < 4 ? $# : 4))
	[ $# -gt 0 ] || set -- "$LAB_GW_IP" ca.lab
	for san in "$@"; do args+=(--san "$san"); done
	_lab_key "$name" && _lab_pki_run --issue --in "$LAB/pki/$name.key" --type ecdsa \
		--cacert "$LAB/pki/$ca.pem" --cakey "$LAB/pki/$ca.key" \
		--dn "C=XX, O=m2m test lab, CN=$1" "${args[@]}" --flag serverAuth \
		--dateform %Y%m%d%H%M%S --not-before "$(_lab_date "$from")" --not-after "$(_lab_date "$to")" \
		--outform pem > "$LAB/pki/$name.pem" ||
		lab_die "TLS certificate $name: $(tail -n 2 "$LAB/log/pki.err")"
}

# lab_cmp_tls_up [NAME]: lighttpd in the gateway namespace on 10.99.0.1 (a free port)
# terminating TLS with the certificate $LAB/pki/NAME.pem (default cmp-tls, made by
# lab_cmp_tls_cert if missing) and passing every request to the running mock (mod_proxy),
# recorded as "cmptls". Exports LAB_CMP_TLS_URL=https://10.99.0.1:PORT/pkix/ and
# LAB_CMP_TLS_PORT; a restart with another certificate keeps the port.
lab_cmp_tls_up() {
	local name=${1:-cmp-tls} d=$LAB/cmp/tls port
	[ -f "$LAB/pki/$name.pem" ] || lab_cmp_tls_cert "$name"
	[ -n "${LAB_CMP_PORT:-}" ] || lab_die "lab_cmp_tls_up: start the mock first (lab_cmp_up)"
	lab_stop cmptls TERM 3 > /dev/null 2>&1
	port=${LAB_CMP_TLS_PORT:-$(lab_cmp_free_port)}
	mkdir -p "$d/www"
	cat > "$d/lighttpd.conf" <<EOF
server.modules = ("mod_openssl", "mod_proxy")
server.document-root = "$d/www"
server.bind = "$LAB_GW_IP"
server.port = $port
server.errorlog = "$LAB/log/cmptls.errorlog"
ssl.engine = "enable"
ssl.pemfile = "$LAB/pki/$name.pem"
ssl.privkey = "$LAB/pki/$name.key"
proxy.server = ("" => (("host" => "$LAB_GW_IP", "port" => $LAB_CMP_PORT)))
EOF
	lab_bg cmptls --ns gw lighttpd -D -f "$d/lighttpd.conf"
	wait_until 5 eval "in_gw ss -Hltn 'sport = :$port' | grep -q ." ||
		lab_die "lighttpd (TLS before the CMP mock) did not start: $(tail -n 3 "$LAB/log/cmptls.err" "$LAB/log/cmptls.errorlog" 2>/dev/null)"
	LAB_CMP_TLS_PORT=$port LAB_CMP_TLS_URL=https://$LAB_GW_IP:$port/pkix/
	export LAB_CMP_TLS_PORT LAB_CMP_TLS_URL
	lab_log "TLS front of the CMP mock on $LAB_CMP_TLS_URL ($name)"
}

# lab_cmp_enroll_yaml [KEY=VALUE...]: the enroll: section of a profile (for lab_dev_config
# PROFILE extra="$(lab_cmp_enroll_yaml ...)"). Keys (defaults in brackets):
#   server [$LAB_CMP_URL]  trust [$LAB_CMP_TRUST]  recipient [CN=CMP Mock Server]
#   reference [1234]  secret_file [$LAB_CMP_SECRET_FILE]  (reference or secret_file empty:
#   no PBM, requests are signed with the profile's certificate)  subject [CN=dev1.lab]
#   san [dev1.lab] (comma list)  timeout [10s] (empty: not written)  tls_ca [not written]
lab_cmp_enroll_yaml() {
	local -A e=([server]=$LAB_CMP_URL [trust]=$LAB_CMP_TRUST [recipient]=$LAB_CMP_RECIPIENT
		[reference]=$LAB_CMP_REF [secret_file]=$LAB_CMP_SECRET_FILE [subject]=CN=dev1.lab
		[san]=dev1.lab [timeout]=10s [tls_ca]=)
	local kv k
	for kv in "$@"; do
		k=${kv%%=*}
		[ -n "${e[$k]+x}" ] && [ "$k" != "$kv" ] || lab_die "lab_cmp_enroll_yaml: bad '$kv'"
		e[$k]=${kv#*=}
	done
	echo "enroll:"
	echo "  server: ${e[server]}"
	echo "  trust: ${e[trust]}"
	[ -n "${e[recipient]}" ] && echo "  recipient: \"${e[recipient]}\""
	if [ -n "${e[reference]}" ] && [ -n "${e[secret_file]}" ]; then
		echo "  reference: \"${e[reference]}\""
		echo "  secret: {file: ${e[secret_file]}}"
	fi
	[ -n "${e[subject]}" ] && echo "  subject: \"${e[subject]}\""
	[ -n "${e[san]}" ] && echo "  san: $(_lab_yaml_list "${e[san]}")"
	[ -n "${e[timeout]}" ] && echo "  timeout: ${e[timeout]}"
	[ -n "${e[tls_ca]}" ] && echo "  tls_ca: ${e[tls_ca]}"
	return 0
}

# lab_cmp_config PROFILE KEYFILE CERTFILE [KEY=VALUE...]: $M2M_CONFIG_FILE with one profile
# (file key KEYFILE, auth.cert CERTFILE) and lab_cmp_enroll_yaml KEY=VALUE... as enroll:
lab_cmp_config() {
	local name=$1 key=$2 cert=$3 enroll
	shift 3
	enroll=$(lab_cmp_enroll_yaml "$@") || lab_die "lab_cmp_config: ${enroll#*lab: }"
	lab_dev_config "$name" key="$key" cert="$cert" extra="$enroll"
}

# lab_cmp_der CERT: the certificate's DER as hex (compare two PEM files by content)
lab_cmp_der() { openssl x509 -in "$1" -outform der 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
# lab_cmp_sum FILE: SHA-256 of FILE (empty if it does not exist)
lab_cmp_sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
