#!/bin/bash
# The option table is the source of --help; the man page and both completions must name
# the same options and commands, and the exit-code fragment every code of the enum; libm2m(3)
# documents the exported C API.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${M2M_BIN_DIR:-$ROOT/build/bin}
n=0 failed=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }

tools=()
for c in "$ROOT"/cmd/*.c; do tools+=("$(basename "$c" .c)"); done
for tool in "${tools[@]}"; do
	help=$("$BIN/$tool" --help) ; t $? "$tool --help exits 0"
	man="$ROOT/build/man/$tool.1"
	[ -f "$man" ]; t $? "$tool has a man page"
	[ -f "$ROOT/completions/$tool.bash" ]; t $? "$tool has a bash completion"
	[ -f "$ROOT/completions/_$tool" ]; t $? "$tool has a zsh completion"
	# long options from the "Options:" part of --help
	opts=$(sed -n '/^Options:/,/^$/p' <<< "$help" | grep -oE -- '--[a-z][a-z-]*' | sort -u)
	cmds=$(sed -n '/^Commands:/,/^$/p' <<< "$help" | awk 'NF && !/^Commands:/ { print $1 }')
	[ -n "$opts" ]; t $? "$tool --help lists options"
	for o in $opts; do
		grep -qF -- "${o//-/\\-}" "$man" || grep -qF -- "$o" "$man"; t $? "$tool: man page documents $o"
		grep -qF -- "$o" "$ROOT/completions/$tool.bash"; t $? "$tool: bash completion offers $o"
		grep -qF -- "$o" "$ROOT/completions/_$tool"; t $? "$tool: zsh completion offers $o"
	done
	for c in $cmds; do
		grep -qE "^\.(B|BR|BI|TP)? ?\"?$c\b|^\.B(R|I)? $c" "$man"; t $? "$tool: man page documents command $c"
		grep -qw -- "$c" "$ROOT/completions/$tool.bash"; t $? "$tool: bash completion offers $c"
		grep -qw -- "$c" "$ROOT/completions/_$tool"; t $? "$tool: zsh completion offers $c"
	done
	grep -q "^\.SH EXIT STATUS" "$man"; t $? "$tool: man page has the exit-code section"
done
# every code of the enum (names in lib/base/err.c) is documented, with its number
while read -r num name; do
	grep -qE "^\.B $num\$" "$ROOT/man/exit-codes.roff" && grep -qE "^$name: " "$ROOT/man/exit-codes.roff"
	t $? "exit code $num ($name) is documented"
done < <(awk -F'[][]' '/\[M2M_[A-Z_]+\] = \{ "/ { split($3, a, "\""); print n++, a[2] }' "$ROOT/lib/base/err.c")
# the C API: every function libm2m exports (lib/libm2m.map) has its prototype in libm2m(3),
# and every m2m_ function the page names is exported, so the page names no stale call
page="$ROOT/build/man/libm2m.3"
[ -f "$page" ]; t $? "libm2m(3) exists"
exported=$(sed -n 's/^[[:space:]]*\(m2m_[a-z0-9_]*\);$/\1/p' "$ROOT/lib/libm2m.map" | sort -u)
[ -n "$exported" ]; t $? "lib/libm2m.map names the exported functions"
for f in $exported; do
	grep -qE "(^|[ *\"])$f\(" "$page"; t $? "libm2m(3) documents $f()"
done
# names followed by "(", as in a prototype or ".BR m2m_vpn_up ()"; callback types (*_fn) are not calls
for f in $(grep -oE '\bm2m_[a-z0-9_]+ ?\(' "$page" | tr -d ' (' | grep -v '_fn$' | sort -u); do
	grep -qxF -- "$f" <<< "$exported"; t $? "libm2m(3) names $f(), which lib/libm2m.map exports"
done
# every test can be run as tests/run runs it (tests/tools/tap-exec executes the file): a
# test written without its mode fails in CI with nothing but "Failed 1/1"
for f in "$ROOT"/tests/integration/*.t; do
	[ -x "$f" ]; t $? "${f#"$ROOT"/} is executable"
done
echo "1..$n"
exit $((failed > 0))
