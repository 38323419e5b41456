#!/usr/bin/env bash
# The "browser" guest image (images/browser/build.sh): base plus Debian's
# chromium and fonts. Builds it (a couple of minutes the first time, a cache
# hit after), checks the tree, and runs the image's own agent and Chromium in a
# chroot. Needs root.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top=$(cd "$here/../.." && pwd)
export BUILD_DIR="${BUILD_DIR:-$(git -C "$here" rev-parse --show-toplevel)/build}"
agent=$BUILD_DIR/agentvm-agent
if [ ! -x "$agent" ]; then
	echo "1..0 # SKIP $agent is not built"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP building the image and the chroot need root"
	exit 0
fi
if LC_ALL=C readelf -lW "$agent" 2>/dev/null | grep -q '^ *INTERP '; then
	echo "1..0 # SKIP $agent is dynamically linked (a SANITIZE build); the image needs a static one"
	exit 0
fi
err=$(mktemp)
trap 'rm -f "$err"' EXIT
out=$("$top/images/browser/build.sh" --agent "$agent" 2>"$err" | tail -n1)
if [ ! -f "$out/manifest.txt" ]; then
	echo "1..0 # SKIP the browser image did not build: $(tail -n1 "$err")"
	tail -n 20 "$err" | sed 's/^/# /'
	exit 0
fi
export PYTHONDONTWRITEBYTECODE=1
exec python3 "$here/browser/image_test.py" "$out"
