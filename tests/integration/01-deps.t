#!/bin/bash
# Every package a fresh Debian 12 machine needs is named by scripts/deps.sh: each charon
# plugin the lab's strongswan.conf files load, each program the tests, the demo and the
# test runners call, each library the build links (its pkg-config file, its -l, the
# libraries dlopen()ed by name) and each Python module the test tools import must come
# from a package in `scripts/deps.sh --list`, or from one that every Debian system has
# (Essential or Priority required: what a minimal debootstrap installs). A file found
# here only because someone installed its package by hand fails this test, as it would
# fail on a fresh machine. Needs dpkg, nothing else; no root.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
n=0 failed=0
t() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi; }

if ! command -v dpkg-query > /dev/null; then
	echo "1..0 # SKIP not a Debian system (no dpkg-query)"
	exit 0
fi

mapfile -t NAMED < <(scripts/deps.sh --list)
[ ${#NAMED[@]} -gt 10 ]; t $? "scripts/deps.sh --list names the packages (${#NAMED[@]})"
declare -A named=() base=() owner_cache=()
for p in "${NAMED[@]}"; do named[$p]=1; done
# what every Debian system has: Essential, or Priority required
while read -r p ess prio; do
	[ "$ess" = yes ] || [ "$prio" = required ] && base[$p]=1
done < <(dpkg-query -W -f='${Package} ${Essential} ${Priority}\n' 2> /dev/null)

# The system's PATH on a fresh machine (not a developer's pyenv or cargo shims)
SYSPATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
which_sys() { PATH=$SYSPATH type -P "$1"; }

# chain PATH: PATH and every link on the way to the file it names (an alternative, or
# /usr/bin/cc -> gcc -> gcc-12), each also under its other merged-/usr name
chain() {
	local p i next
	p=$(realpath -ms "$1")
	for ((i = 0; i < 10; i++)); do
		echo "$p"
		case $p in
		/usr/bin/* | /usr/sbin/* | /usr/lib/* | /usr/lib64/*) echo "${p#/usr}" ;;
		/bin/* | /sbin/* | /lib/* | /lib64/*) echo "/usr$p" ;;
		esac
		[ -L "$p" ] || break
		next=$(readlink "$p")
		case $next in /*) p=$next ;; *) p=$(dirname "$p")/$next ;; esac
		p=$(realpath -ms "$p")
	done
}
# the owners of every checked file are looked up in one pass over dpkg's file lists
# (dpkg-query -S reads its whole database on every call)
declare -A owner_of=()
lookup() {
	local f
	f=$(mktemp) || exit 1
	sort -u > "$f"
	while read -r path pkg; do owner_of[$path]="${owner_of[$path]:-} $pkg"; done < <(
		awk 'FNR == NR { want[$0] = 1; next }
		     FNR == 1 { pkg = FILENAME; sub(/.*\//, "", pkg); sub(/\.list$/, "", pkg); sub(/:.*/, "", pkg) }
		     ($0 in want) { print $0, pkg }' "$f" /var/lib/dpkg/info/*.list)
	rm -f "$f"
}
# owners PATH: the packages that ship PATH or a link on its way, after lookup
owners() {
	local c
	for c in $(chain "$1"); do [ -n "${owner_of[$c]:-}" ] && printf '%s\n' ${owner_of[$c]}; done | sort -u
}
# A check is queued (WHAT PATH) and run once every path is known: one lookup for all
checks=()
check() { checks+=("$1"$'\t'"$2"); }
run_checks() {
	local c what path o ok list
	local paths
	paths=$(mktemp) || exit 1
	for c in "${checks[@]}" "${dl[@]}"; do path=${c#*$'\t'}; [ -n "$path" ] && chain "$path"; done > "$paths"
	lookup < "$paths"
	rm -f "$paths"
	for c in "${checks[@]}"; do
		what=${c%%$'\t'*} path=${c#*$'\t'}
		if [ -z "$path" ] || [ ! -e "$path" ]; then
			t 1 "$what: not found on this machine (which package ships it? name it in scripts/deps.sh)"
			continue
		fi
		ok=1 list=""
		for o in $(owners "$path"); do
			list="$list $o"
			if [ -n "${named[$o]:-}" ] || [ -n "${base[$o]:-}" ]; then ok=0; fi
		done
		if [ $ok = 0 ]; then
			t 0 "$what ($path, from$list)"
		else
			t 1 "$what ($path) comes from${list:- no package} - not named in scripts/deps.sh"
		fi
	done
}

# --- charon plugins: every name on a "load =" line of the lab's and the tests' charon,
# swanctl and pki configurations (variables such as $_LAB_KEYS_LOAD are read where set)
plugdir=/usr/lib/ipsec/plugins
plugins=$(grep -hE '(^|[[:space:]])load = |_LAB_KEYS_LOAD=' tests/lab/*.sh tests/integration/*.t tests/integration/*.sh scripts/* 2> /dev/null |
	sed -E 's/.*load = //; s/.*_LAB_KEYS_LOAD="?//; s/["}].*$//; s/\$[A-Za-z_{}]+//g' | tr ' ' '\n' | grep -E '^[a-z0-9-]+$' | sort -u)
[ "$(wc -w <<< "$plugins")" -gt 20 ]; t $? "found the charon plugin lists ($(wc -w <<< "$plugins") plugins)"
for p in $plugins; do check "charon plugin $p" "$plugdir/libstrongswan-$p.so"; done

# --- programs: the first word of every command in the shell scripts of the tests, the
# lab, the demo, the benches and the runners (after |, ;, &&, ||, $(, !, then, do, else,
# and behind the wrappers exec, timeout, env, ip netns exec, in_dev/in_gw), when it is a
# program on the system's PATH; here-documents (Python, configs) are not commands
# (scripts/fresh-check is a release tool run in a git checkout: it installs mmdebstrap itself)
scripts=(.ci/run scripts/check scripts/demo scripts/deps.sh tests/run tests/tools/tap-exec tests/lab/*.sh tests/integration/*.t tests/integration/*.sh)
progs=$(for f in "${scripts[@]}"; do [ -f "$f" ] && head -c 2 "$f" | grep -q '#!' && cat "$f"; done |
	awk 'end != "" { if ($0 ~ "^[[:space:]]*" end "$") end = ""; next }
	     { print } match($0, /<<-?[[:space:]]*["\x27]?[A-Za-z_]+/) {
		end = substr($0, RSTART, RLENGTH); sub(/^<<-?[[:space:]]*["\x27]?/, "", end) }' |
	sed -E 's/(^|[[:space:]])#.*$//' |
	sed -E 's/\$\(/\n/g; s/`/\n/g; s/(\|\||&&|[|;!])/\n/g' |
	sed -E 's/^[[:space:]]*(then|do|else|elif|if|while|until|time|exec|nohup|command)[[:space:]]+/ /' |
	sed -E 's/^[[:space:]]*((timeout|ip netns exec|env)( +-[-a-zA-Z0-9=]+)*( +[0-9.]+[smh]?| +[^ ]+)?|in_dev|in_gw|dev)[[:space:]]+/ /' |
	sed -E 's/^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*=("[^"]*"|[^ ]*)[[:space:]]+)*//' |
	awk '{ print $1 }' | grep -E '^[a-z][a-z0-9._+-]*$' | sort -u)
[ "$(wc -w <<< "$progs")" -gt 20 ]; t $? "found the commands the scripts run ($(wc -w <<< "$progs") words)"
for w in $progs; do
	path=$(which_sys "$w") || continue
	check "program $w" "$path"
done
# programs the scripts test for by name rather than run at a command's start
for w in prove tcpdump swtpm tpm2-abrmd dbus-daemon softhsm2-util pkcs11-tool node npm charon swanctl pki python3; do
	path=$(which_sys "$w")
	[ -n "$path" ] || { [ "$w" = charon ] && path=/usr/lib/ipsec/charon; }
	check "program $w" "$path"
done

# --- the build: compilers and archiver, every pkg-config file, every -l library
read -r _ progs_b < <(make -s print-deps | grep '^programs:')
for w in $progs_b; do check "build program $w" "$(which_sys "$w")"; done
# clang's runtimes that `make fuzz` links (-fsanitize=fuzzer,address,undefined)
rtdir=$(clang -print-runtime-dir 2> /dev/null)
for rt in fuzzer asan ubsan_standalone; do
	check "fuzz runtime $rt" "${rtdir:+$rtdir/libclang_rt.$rt-$(uname -m).a}"
done
read -r _ pcs < <(make -s print-deps | grep '^pkg-config:')
for pc in $pcs; do
	dir=$(pkg-config --variable=pcfiledir "$pc" 2> /dev/null)
	check "build library $pc (pkg-config)" "${dir:+$dir/$pc.pc}"
done
read -r _ libs < <(make -s print-deps | grep '^libs:')
for l in $libs; do
	so=$(cc -print-file-name="lib${l#-l}.so")
	# glibc 2.34 and later: libdl is an empty archive, there is no libdl.so
	[ "$so" != "lib${l#-l}.so" ] || so=$(cc -print-file-name="lib${l#-l}.a")
	[ "$so" != "lib${l#-l}.a" ] || so=""
	check "build library $l" "$so"
done
# libraries dlopen()ed by name at run time: found by the dynamic linker, and shipped by a
# named package or by one that a named package depends on
dl=()
mapfile -t sonames < <(grep -rhoE '"lib[a-z0-9_-]+\.so\.[0-9]+"' lib | tr -d '"' | sort -u)
deps_of_named=" $(dpkg-query -W -f='${Depends}\n' "${NAMED[@]}" 2> /dev/null | tr ',|' '\n\n' | sed -E 's/^ *//; s/[ :(].*//' | sort -u | tr '\n' ' ') "
for s in "${sonames[@]}"; do
	path=$(ldconfig -p | awk -v s="$s" '$1 == s { print $NF; exit }')
	if [ -z "$path" ]; then t 1 "dlopen()ed $s: not found by the dynamic linker"; continue; fi
	dl+=("$s"$'\t'"$path")
done

# --- Python modules the test tools import, beyond the standard library
for f in tests/tools/*.py; do
	while read -r mod file; do
		check "python module $mod (${f##*/})" "$file"
	done < <(/usr/bin/python3 - "$f" <<'PY'
import ast, sys, importlib.util
tree = ast.parse(open(sys.argv[1]).read())
mods = set()
for node in ast.walk(tree):
    if isinstance(node, ast.Import):
        mods.update(a.name.split(".")[0] for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        mods.add(node.module.split(".")[0])
# the tools' own modules (tests/tools/*.py) are part of this tree
import os
here = os.path.dirname(os.path.abspath(sys.argv[1]))
own = {f[:-3] for f in os.listdir(here) if f.endswith(".py")}
for m in sorted(mods - set(sys.stdlib_module_names) - own):
    spec = importlib.util.find_spec(m)
    print(m, spec.origin if spec and spec.origin else "")
PY
)
done

# every queued check, after one look-up of all the files' packages
run_checks
for c in "${dl[@]}"; do
	s=${c%%$'\t'*} path=${c#*$'\t'} ok=1
	for o in $(owners "$path"); do
		if [ -n "${named[$o]:-}" ] || [[ $deps_of_named == *" $o "* ]]; then ok=0; fi
	done
	t $ok "dlopen()ed $s ($path) comes with a named package"
done

echo "1..$n"
exit $((failed > 0))
