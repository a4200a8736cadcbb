#!/bin/bash
# Install the independent LwM2M server the integration tests run against:
# Telefonica's lwm2m-node-lib, pinned, from the npm registry, into a cache
# that survives `make clean`. Prints the node_modules directory.
# Usage: tests/tools/lwm2m-server-setup.sh   (env: M2M_NPM_CACHE)
set -euo pipefail
version=1.4.0
dir=${M2M_NPM_CACHE:-/var/cache/m2m-tests}/lwm2m-node-lib-$version
if [ ! -f "$dir/node_modules/lwm2m-node-lib/package.json" ]; then
	command -v npm >/dev/null || { echo "npm not installed (scripts/deps.sh)" >&2; exit 1; }
	mkdir -p "$dir"
	# a lock against two test runs installing at once
	exec 9>"$dir.lock"
	flock 9
	if [ ! -f "$dir/node_modules/lwm2m-node-lib/package.json" ]; then
		(cd "$dir" && [ -f package.json ] || echo '{"name":"m2m-tests","private":true}' > package.json
		 cd "$dir" && npm install --no-audit --no-fund --loglevel=error \
			"lwm2m-node-lib@$version" >&2)
	fi
fi
echo "$dir/node_modules"
