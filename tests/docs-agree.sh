#!/bin/sh
# The option table is the --help text; the man page and both completions
# must list the same long options and commands. Run from the top of the tree
# after `make all`.
set -u
fail=0
for tool in m2mvpn-connect m2mvpn-cert; do
	help=$(build/bin/$tool --help)
	man=build/man/$tool.1
	# roff writes "-" as "\-"
	mantext=$(sed 's/\\-/-/g' "$man")
	opts=$(printf '%s\n' "$help" | sed -n 's/^ *\(-., \)\{0,1\}--\([a-z0-9-]*\).*/\2/p')
	cmds=$(printf '%s\n' "$help" | sed -n '/^Commands:/,/^$/p' | sed -n 's/^  \([a-z]*\) .*/\1/p')
	for o in $opts; do
		printf '%s\n' "$mantext" | grep -q -- "--$o" ||
			{ echo "$tool: --$o not in $man"; fail=1; }
		grep -q -- "--$o" "completions/$tool.bash" ||
			{ echo "$tool: --$o not in completions/$tool.bash"; fail=1; }
		grep -q -- "--$o" "completions/_$tool" ||
			{ echo "$tool: --$o not in completions/_$tool"; fail=1; }
	done
	for c in $cmds; do
		grep -q "^\.B[RI]* $c\b\|^\.B[RI]* \"$c\|^\.B $c$" "$man" ||
			{ echo "$tool: command $c not in $man"; fail=1; }
		grep -q "\b$c\b" "completions/$tool.bash" || { echo "$tool: $c not in bash completion"; fail=1; }
		grep -q "$c\\\\:" "completions/_$tool" || { echo "$tool: $c not in zsh completion"; fail=1; }
	done
done
[ $fail = 0 ] && echo "docs agree: --help, man pages and completions"
exit $fail
