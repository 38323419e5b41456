#!/usr/bin/env bash
# MCP browser benchmark: open a local page and read it through an MCP server
# (browser_navigate, then browser_snapshot), timed from the client side by
# the official MCP SDK client (tests/e2e/mcp/bench/bench_mcp.mjs): the median
# of BENCH_MCP_RUNS (10) rounds after 2 untimed ones (the first starts the
# browser). Prints
#   bench: browser_navigate_snapshot_ms ours=<n> peer=<n> unit=ms
#   ours  `agentvm mcp --isolation container` with image $AGENTVM_MCP_BROWSER_IMAGE
#         (default: "browser" when images/browser exists); the page is written
#         into the sandbox and opened as file:///tmp/page.html.
#   peer  Microsoft's Playwright MCP (@playwright/mcp, npm) driving the same
#         Debian chromium (/usr/bin/chromium) headless, without its sandbox,
#         with an in-memory profile, on the same page as a file:// URL.
# Both pages are local files, so no network is timed. When ours cannot run
# (no root, no browser in the image) it prints ours=- and says why on stderr,
# and still measures the peer. Exits non-zero (reason on stderr) when the
# peer cannot be measured.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$TOP/build}
RUNS=${BENCH_MCP_RUNS:-10}
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
DIR=$TOP/tests/e2e/mcp/bench

die() {
	echo "bench: mcp: $*" >&2
	exit 1
}

command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
[ -x "$CHROMIUM" ] || die "$CHROMIUM is not installed (Debian package chromium)"
[ -x "$BUILD_DIR/agentvm" ] || die "$BUILD_DIR/agentvm is not built (make all)"

stamp=$DIR/node_modules/.agentvm-lock-sha
want=$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
	(cd "$DIR" && timeout 600 npm ci --no-audit --no-fund >/dev/null 2>&1) ||
		die "npm could not install @playwright/mcp and the MCP SDK"
	echo "$want" >"$stamp"
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
cat >"$TMP/page.html" <<'EOF'
<!doctype html>
<html><head><title>agentvm bench page</title></head>
<body>
<h1>Benchmark page</h1>
<p>A paragraph of text with <a href="#more">a link</a>.</p>
<ul><li>one</li><li>two</li><li>three</li></ul>
<form><label>Name <input name="name"></label> <button type="button">Send</button></form>
</body></html>
EOF
page_json=$(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$TMP/page.html")

image=${AGENTVM_MCP_BROWSER_IMAGE:-}
if [ -z "$image" ] && [ -x "$TOP/images/browser/build.sh" ]; then
	image=browser
fi

ours=-
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: mcp: ours=-: the container isolation needs root" >&2
elif [ -z "$image" ]; then
	echo "bench: mcp: ours=-: no guest image with a browser (images/browser, or set" \
		"AGENTVM_MCP_BROWSER_IMAGE)" >&2
else
	if ours=$(cd "$DIR" && node bench_mcp.mjs --runs "$RUNS" --expect "Benchmark page" \
		--setup "[[\"sandbox_write_file\",{\"path\":\"/tmp/page.html\",\"content\":$page_json}]]" \
		file:///tmp/page.html -- "$BUILD_DIR/agentvm" mcp --isolation container \
		--image "$image" --audit "$TMP/audit.log" 2>"$TMP/ours.err"); then
		:
	else
		echo "bench: mcp: ours=-: $(head -c 400 "$TMP/ours.err")" >&2
		ours=-
	fi
fi

peer=$(cd "$DIR" && node bench_mcp.mjs --runs "$RUNS" --expect "Benchmark page" \
	"file://$TMP/page.html" -- node node_modules/@playwright/mcp/cli.js --headless \
	--browser chromium --executable-path "$CHROMIUM" --no-sandbox --isolated \
	--allow-unrestricted-file-access --output-dir "$TMP/pw-out" 2>"$TMP/peer.err") ||
	die "the peer (Playwright MCP) failed: $(head -c 400 "$TMP/peer.err")"

echo "bench: browser_navigate_snapshot_ms ours=$ours peer=$peer unit=ms"
