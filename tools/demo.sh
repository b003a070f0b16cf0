#!/usr/bin/env bash
# tools/demo.sh: install what is missing, build a release, and show ringprobe on the embedded
# demo configuration (demo/demo-gateway.json: a few pools, settings and probes, 1,000 servers
# on 127.1.0.0/16).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
cd "$RP_TOP"

rp_ensure_packages "${RP_BUILD_PACKAGES[@]}"
rp_build build/release -Dbuildtype=release -Dtests=false -Dbench=false

exec build/release/src/ringprobe plan --config demo/demo-gateway.json
