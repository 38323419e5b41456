#!/usr/bin/env bash
# The "minimal" guest image: the agent as /sbin/init plus busybox-static, as a
# tree, an erofs image and an initramfs; a second build is a cache hit, and a
# new agent reuses the cached tree without touching earlier images.
# Builds into a private cache, so the cold path runs every time (a second or two).
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-$(git -C "$top" rev-parse --show-toplevel)/build}
agent=$BUILD_DIR/agentvm-agent
script=$top/images/minimal/build.sh

if [ ! -x "$agent" ]; then
	echo "1..1"
	echo "not ok 1 - the guest agent $agent exists (build it: make build/agentvm-agent)"
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export AGENTVM_CACHE=$work/cache

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

echo "1..27"

t0=$(now_ms)
"$script" --agent "$agent" >"$work/out1" 2>"$work/err1"
ok $? "cold build succeeds"
cold_ms=$(($(now_ms) - t0))
echo "# cold build: ${cold_ms} ms"
out=$(tail -n1 "$work/out1")
case "$out" in
"$AGENTVM_CACHE"/images/minimal-*) ok 0 "prints the image directory under the cache last" ;;
*)
	ok 1 "prints the image directory under the cache last (got '$out')"
	sed 's/^/# /' "$work/err1"
	echo "Bail out! the minimal image did not build"
	exit 1
	;;
esac
root=$out/rootfs

check "/sbin/init is the agent, byte for byte" cmp "$agent" "$root/sbin/init"
check "/sbin/init is executable" test -x "$root/sbin/init"
check "/init links to /sbin/init" test "$(readlink "$root/init")" = sbin/init
check "busybox is at /bin/busybox" test -x "$root/bin/busybox"
missing=
for a in sh ls cat echo uname mount mkdir cp wget; do
	p=$(cd "$root" && for d in bin sbin usr/bin usr/sbin; do [ -L "$d/$a" ] && echo "$d/$a" && break; done)
	if [ -z "$p" ] || [ "$(readlink -f "$root/$p")" != "$(readlink -f "$root/bin/busybox")" ]; then
		missing="$missing $a"
	fi
done
ok "$([ -z "$missing" ] && echo 0 || echo 1)" "busybox applets link to /bin/busybox${missing:+ (missing:$missing)}"
check "busybox's own init is not installed over the agent" test ! -L "$root/sbin/init"
bad=
for d in proc sys dev tmp run etc root bin sbin usr/bin usr/sbin var/tmp home; do
	[ -d "$root/$d" ] || bad="$bad $d"
done
ok "$([ -z "$bad" ] && echo 0 || echo 1)" "root filesystem directories exist${bad:+ (missing:$bad)}"
check "/tmp is world-writable and sticky" test "$(stat -c %a "$root/tmp")" = 1777
check "/etc/passwd has root" grep -q '^root:x:0:0:' "$root/etc/passwd"
check "/etc/group has root" grep -q '^root:x:0:' "$root/etc/group"
check "/etc/hostname is agentvm" test "$(cat "$root/etc/hostname")" = agentvm
check "/etc/hosts maps localhost" grep -qE '^127\.0\.0\.1[[:space:]]+localhost' "$root/etc/hosts"

if [ "$(id -u)" -eq 0 ]; then
	got=$(chroot "$root" /bin/sh -c 'echo hello; uname -s; ls /bin/busybox' 2>&1)
	ok "$([ "$got" = "hello
Linux
/bin/busybox" ] && echo 0 || echo 1)" "busybox's sh runs in the tree (chroot)"
else
	n=$((n + 1))
	echo "ok $n # SKIP chroot needs root"
fi

check "rootfs.erofs exists" test -s "$out/rootfs.erofs"
check "fsck.erofs accepts rootfs.erofs" fsck.erofs "$out/rootfs.erofs"
rm -rf "$work/x"
fsck.erofs --extract="$work/x" "$out/rootfs.erofs" >/dev/null 2>&1
check "rootfs.erofs holds the agent as /sbin/init" cmp "$agent" "$work/x/sbin/init"
check "rootfs.erofs holds the busybox links" \
	test "$(readlink -f "$work/x/bin/sh")" = "$(readlink -f "$work/x/bin/busybox")"
check "initramfs.cpio lists /init and /sbin/init" \
	bash -c "cpio -it <'$out/initramfs.cpio' 2>/dev/null | grep -qx init && cpio -it <'$out/initramfs.cpio' 2>/dev/null | grep -qx sbin/init"
check "manifest.txt records the agent's SHA-256" \
	grep -qx "agent_sha256=$(sha256sum "$agent" | cut -d' ' -f1)" "$out/manifest.txt"

t0=$(now_ms)
"$script" --agent "$agent" >"$work/out2" 2>"$work/err2"
warm_ms=$(($(now_ms) - t0))
echo "# warm build: ${warm_ms} ms"
ok "$([ "$(tail -n1 "$work/out2")" = "$out" ] && grep -q cached "$work/err2" && echo 0 || echo 1)" \
	"a second build is a cache hit in the same directory"
ok "$([ "$warm_ms" -lt 3000 ] && echo 0 || echo 1)" "the cache hit is fast (${warm_ms} ms)"
check "--dir prints the same directory" test "$("$script" --dir --agent "$agent" 2>/dev/null)" = "$out"

# A different agent: a new image from the cached tree; the first one is intact.
cp "$agent" "$work/agent2"
printf 'x' >>"$work/agent2"
"$script" --agent "$work/agent2" >"$work/out3" 2>"$work/err3"
out2=$(tail -n1 "$work/out3")
ok "$([ -n "$out2" ] && [ "$out2" != "$out" ] && grep -q 'tree .* cached' "$work/err3" &&
	cmp -s "$work/agent2" "$out2/rootfs/sbin/init" && echo 0 || echo 1)" \
	"a new agent gives a new image from the cached tree"
check "the earlier image still holds the first agent" cmp "$agent" "$root/sbin/init"

"$script" --agent "$work/missing" >/dev/null 2>"$work/err4"
rc=$?
ok "$([ "$rc" -ne 0 ] && grep -q 'does not exist' "$work/err4" && echo 0 || echo 1)" \
	"a missing agent fails with a clear message"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
