#!/usr/bin/env bash
# The "base" guest image: Debian bookworm with bash, python3, git and curl, the
# agent as /sbin/init, apt caches cleaned, an erofs image beside the tree.
# Uses the shared cache ($AGENTVM_CACHE): the first run debootstraps (about a
# minute, needs root and the Debian mirror of this machine's apt sources), the
# next ones are cache hits.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
agent=$BUILD_DIR/agentvm-agent
script=$top/images/base/build.sh

if [ ! -x "$agent" ]; then
	echo "1..1"
	echo "not ok 1 - the guest agent $agent exists (build it: make build/agentvm-agent)"
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "1..0 # SKIP debootstrap and chroot need root"
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

n=0
failed=0
ok() { # ok STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
	fi
}
check() { # check DESCRIPTION COMMAND...
	local d=$1
	shift
	"$@" >/dev/null 2>&1
	ok $? "$d"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }

echo "1..19"

t0=$(now_ms)
"$script" --agent "$agent" >"$work/out1" 2>"$work/err1"
rc=$?
ok $rc "build succeeds"
echo "# first build: $(($(now_ms) - t0)) ms ($(grep -q 'cached (' "$work/err1" && echo cache hit || echo built))"
out=$(tail -n1 "$work/out1")
if [ "$rc" -ne 0 ] || [ ! -d "$out/rootfs" ]; then
	tail -n 30 "$work/err1" | sed 's/^/# /'
	echo "Bail out! the base image did not build"
	exit 1
fi
root=$out/rootfs
check "the image directory has rootfs/ and manifest.txt" test -d "$root" -a -f "$out/manifest.txt"

missing=
for p in bash python3 git curl; do
	[ -x "$root/usr/bin/$p" ] || missing="$missing $p"
done
ok "$([ -z "$missing" ] && echo 0 || echo 1)" "bash, python3, git and curl are in the tree${missing:+ (missing:$missing)}"
check "/sbin/init is the agent, byte for byte" cmp "$agent" "$root/sbin/init"
check "/sbin/init is executable" test -x "$root/sbin/init"

got=$(chroot "$root" /usr/bin/python3 -c 'print(6*7)' 2>&1)
ok "$([ "$got" = 42 ] && echo 0 || echo 1)" "python3 runs in the tree: print(6*7) gives '$got'"
# shellcheck disable=SC2016 # expanded by the bash in the tree
got=$(chroot "$root" /bin/bash -c 'echo "$((6 * 7))"' 2>&1)
ok "$([ "$got" = 42 ] && echo 0 || echo 1)" "bash runs in the tree"
check "git runs in the tree" chroot "$root" /usr/bin/git --version
check "curl runs in the tree" chroot "$root" /usr/bin/curl --version
check "the CA certificates are installed" test -s "$root/etc/ssl/certs/ca-certificates.crt"

debs=$(find "$root/var/cache/apt/archives" -name '*.deb' | wc -l)
ok "$([ "$debs" -eq 0 ] && echo 0 || echo 1)" "no .deb left in /var/cache/apt/archives ($debs)"
lists=$(find "$root/var/lib/apt/lists" -type f | wc -l)
ok "$([ "$lists" -eq 0 ] && echo 0 || echo 1)" "no apt lists left in /var/lib/apt/lists ($lists)"
check "/etc/hostname is agentvm" test "$(cat "$root/etc/hostname")" = agentvm
check "the unprivileged user agent exists" chroot "$root" /usr/bin/id -u agent

check "fsck.erofs accepts rootfs.erofs" fsck.erofs "$out/rootfs.erofs"
tree_key=$(sed -n 's/^tree_key=//p' "$out/manifest.txt")
tree=${out%/*}/base-tree-$tree_key/rootfs
check "the cached tree has no agent (it went into the image only)" \
	test -d "$tree" -a ! -e "$tree/usr/sbin/init"
check "manifest.txt lists python3 with its version" grep -qE '^package python3 [0-9]' "$out/manifest.txt"

t0=$(now_ms)
"$script" --agent "$agent" >"$work/out2" 2>"$work/err2"
warm_ms=$(($(now_ms) - t0))
echo "# second build: ${warm_ms} ms"
ok "$([ "$(tail -n1 "$work/out2")" = "$out" ] && grep -q cached "$work/err2" && echo 0 || echo 1)" \
	"a second build is a cache hit in the same directory"
ok "$([ "$warm_ms" -lt 3000 ] && echo 0 || echo 1)" "the cache hit is fast (${warm_ms} ms)"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
