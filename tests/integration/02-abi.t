#!/bin/bash
# libm2m's ABI as an integrator relies on it (docs/ABI.md): the exported symbols are the
# headers' functions, the ABI is the committed baseline (abidiff), lib/cli stays out of the
# libraries, and every example application links against the shared library alone.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${M2M_BUILD_DIR:-$ROOT/build}
n=0 failed=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }
tmp=$(mktemp -d /tmp/m2m-abi.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

out=$(M2M_BUILD_DIR=$B "$ROOT/scripts/abi-check" 2>&1); rc=$?
t $rc "scripts/abi-check: map = headers = exported symbols, ABI = lib/abi/libm2m.abi"
[ $rc = 0 ] || sed 's/^/# /' <<< "$out" | tail -n 40

# nothing of lib/cli (it prints and prompts) in either library
for lib in "$B/libm2m.so.0" "$B/libm2m.a"; do
	cli=$(nm "$lib" 2>/dev/null | grep -E ' [TtDd] cli_' | head -n 3)
	[ -z "$cli" ]; t $? "no lib/cli symbol in ${lib##*/}${cli:+: $cli}"
done

# the public headers alone, and the shared library alone, make an application
for src in "$ROOT"/examples/*.c; do
	name=$(basename "$src" .c)
	# shellcheck disable=SC2046
	out=$(cd "$ROOT" && ${CC:-cc} -std=c11 -Wall -Werror -Ilib/include -o "$tmp/$name" "$src" \
		-L"$B" -Wl,-rpath,"$B" -lm2m 2>&1); rc=$?
	t $rc "examples/$name.c builds against libm2m.so and lib/include only"
	[ $rc = 0 ] || sed 's/^/# /' <<< "$out" | head -n 20
	if [ $rc = 0 ]; then
		ldd "$tmp/$name" | grep -q "libm2m.so.0 => $B/libm2m.so.0"; t $? "$name loads libm2m.so.0"
	fi
done

# installed as a distribution would, an application links statically with what the
# pkg-config file names (Requires.private, Libs.private) and nothing else
inst="$tmp/inst"
if make -s -C "$ROOT" install DESTDIR="$inst" PREFIX=/usr > "$tmp/install.log" 2>&1; then
	pc="env PKG_CONFIG_PATH=$inst/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$inst pkg-config"
	for src in "$ROOT"/examples/*.c; do
		name=$(basename "$src" .c)
		# shellcheck disable=SC2046
		# libm2m.a itself, then its private requirements as the system has them (shared)
		out=$(${CC:-cc} -std=c11 -Wall -Werror $($pc --cflags libm2m) -o "$tmp/$name-static" \
			"$src" -L"$inst/usr/lib" -l:libm2m.a $($pc --libs $($pc --print-requires-private libm2m)) \
			$($pc --static --libs libm2m | tr ' ' '\n' | grep -v -e '^-lm2m$' -e '^-L') 2>&1)
		t $? "examples/$name.c links with libm2m.a and what libm2m.pc names${out:+: $(head -c 300 <<< "$out")}"
	done
else
	sed 's/^/# /' "$tmp/install.log" | tail -n 5
	t 1 "make install DESTDIR=... works"
fi

# a change to a type that callers see is caught: the check can fail
mkdir -p "$tmp/src"
cp -r "$ROOT/lib" "$ROOT/Makefile" "$tmp/src/"
sed -i 's/char ike_state\[24\]/char ike_state[32]/' "$tmp/src/lib/include/m2m/vpn.h"
if make -s -j2 -C "$tmp/src" B="$tmp/b" "$tmp/b/libm2m.so.0" > /dev/null 2>&1; then
	mkdir -p "$tmp/src/scripts" && cp "$ROOT/scripts/abi-check" "$tmp/src/scripts/"
	out=$(cd "$tmp/src" && M2M_BUILD_DIR="$tmp/b" scripts/abi-check 2>&1); rc=$?
	[ $rc != 0 ] && grep -q "ike_state" <<< "$out"; t $? "a grown field of struct m2m_vpn_status fails the check and is named"
else
	t 1 "the library builds from a copy with a changed header"
fi
echo "1..$n"
exit $((failed > 0))
