#!/bin/bash
# Install what building, the demo and the tests need on Debian 12, and only
# what is missing (so a second run costs nothing and needs no network).
#   scripts/deps.sh          install what is missing (as root)
#   scripts/deps.sh --list   print the package names, one a line (tests/integration/01-deps.t
#                            checks that every program, plugin and library the build, the demo
#                            and the tests use comes from one of them)
set -euo pipefail

PKGS=(
	# the installer itself (a minimal system has it, but not as "required")
	apt
	# build
	gcc make pkgconf clang binutils libc6-dev
	# clang's fuzzer and sanitizer runtimes (make fuzz): only Recommended by clang
	libclang-rt-14-dev
	# the ABI check of libm2m.so against its committed baseline (abidw, abidiff)
	abigail-tools
	libyaml-dev libjson-c-dev libssl-dev libnftables-dev libcmocka-dev
	# key stores: tpm2-tss ESAPI (linked), the PKCS#11 header (modules are dlopen()ed)
	libtss2-dev libtss2-tcti-swtpm0 libp11-kit-dev
	# device management: CoAP/DTLS, SenML CBOR; libcoap's servers and the npm
	# LwM2M server (lwm2m-node-lib) for the tests
	libcoap3-dev libcoap3-bin libcbor-dev nodejs
	# an independent DTLS server (gnutls-serv) that can leave out RFC 5746's
	# renegotiation_info, as Californium/Scandium 2.x servers do
	gnutls-bin
	# strongSwan: charon with vici, openssl and kernel-libipsec (this kind of
	# kernel may lack ESP), swanctl and pki for the lab gateway and its CA
	strongswan-charon strongswan-swanctl strongswan-pki
	# the plugins' own packages (each plugin's .so comes from one of these)
	libstrongswan strongswan-libcharon
	libstrongswan-standard-plugins libstrongswan-extra-plugins libcharon-extra-plugins
	# eap-mschapv2 (the EAP and cert+eap profiles) is in extauth, not extra
	libcharon-extauth-plugins
	# the lab: namespaces, traffic, captures, the fail-closed guard
	iproute2 iputils-ping tcpdump nftables openssl python3 python3-minimal procps perl time
	# the key-store lab: a software TPM behind a resource manager on a private
	# D-Bus (charon's tpm plugin cannot use swtpm directly), and a soft token
	swtpm swtpm-tools tpm2-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus dbus-daemon softhsm2 opensc
	# the update lab: RAUC 1.8 (its service on the lab's private D-Bus) installs into
	# two file-backed A/B slots; its plain bundles are squashfs images (rauc bundle
	# runs mksquashfs, the service mounts them on a loop device)
	rauc squashfs-tools
	# busctl: a restart reads RAUC's Operation (D-Bus) while an install it was handed runs
	systemd
	# DTLS with the key on a token: libcoap loads it through OpenSSL's pkcs11 engine
	libengine-pkcs11-openssl
	# updates: the http and https pull (libcurl); the tests' web server with Range and TLS
	libcurl4-openssl-dev lighttpd lighttpd-mod-openssl
	# bench/update.sh: the https pull's reference
	curl
	# the policy's SIM from ModemManager over D-Bus: sd-bus's header (libsystemd-dev; the
	# library, libsystemd0, is dlopen()ed when the SIM is first read); its tests serve a
	# ModemManager from python-dbusmock (tests/tools/mm-mock.py) on a private dbus-daemon
	libsystemd-dev libsystemd0 python3-dbusmock python3-dbus
	# the npm registry is reached over https (LwM2M test server)
	ca-certificates
	# the policy's position: its tests run a real gpsd fed NMEA over UDP (tests/lab/gps.sh);
	# the code speaks gpsd's JSON protocol itself, so neither libgps nor gpsd's clients
	gpsd
)
if [ "${1:-}" = --list ]; then
	printf '%s\n' "${PKGS[@]}" npm
	exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing packages: ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q >/dev/null
	apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm: NodeSource's nodejs carries it; Debian's nodejs needs the separate package
# (asking for it unconditionally would conflict with NodeSource's)
if ! command -v npm >/dev/null; then
	if [ "$(id -u)" != 0 ]; then
		echo "deps: npm missing; run as root to install it" >&2
		exit 1
	fi
	echo "deps: installing npm" >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends npm >/dev/null
fi
