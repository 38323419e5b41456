#!/usr/bin/env bash
# Builds the "minimal" guest image: the agentvm guest agent as /sbin/init, and
# Debian's busybox-static as /bin/busybox with its applet links (sh, ls, cat,
# echo, uname...), the directories of a root filesystem, /etc/passwd, group,
# hostname and hosts. It takes a second or two.
#
# Output, under ${AGENTVM_CACHE:-~/.cache/agentvm}/images/minimal-<key>/:
#   rootfs/          the tree, for the container backend (read-only: its files
#                    are hard links shared with the cached tree)
#   rootfs.erofs     the same tree as a read-only erofs image, for virtio-blk
#   initramfs.cpio   the same tree as an uncompressed newc initramfs (/init is
#                    a link to /sbin/init)
#   manifest.txt     what went in: keys, agent hash, busybox version, sizes
# <key> hashes the agent binary and a tree key; the tree key hashes this
# script, images/lib.sh and the busybox-static version. A new agent reuses the
# cached tree, so a rebuild after an agent change is cheap.
#
# Usage: build.sh [--agent PATH]     build if needed; print the output directory
#                                    last on stdout, progress on stderr
#        build.sh --dir [--agent PATH]
#                                    print the directory the image of this agent
#                                    would have (it exists once built); build nothing
#        build.sh --rebuild          build the tree and the image again
#        build.sh --help
# The agent defaults to $BUILD_DIR/agentvm-agent, else build/agentvm-agent.
# AGENTVM_EROFS_COMPRESS=lz4hc|lz4|none picks the erofs compression (lz4hc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
. "$here/../lib.sh"

img_name=minimal
busybox_pkg=busybox-static
busybox_ver=$(dpkg-query -W -f='${Version}' "$busybox_pkg" 2>/dev/null || true)
img_key_files=()
img_key_extra="$busybox_pkg $busybox_ver"

img_check_host() {
	[ -n "$busybox_ver" ] || img_die "$busybox_pkg is not installed (run 'make deps')"
	busybox_bin=$(dpkg -L "$busybox_pkg" | grep -E '/bin/busybox$' | head -n1)
	[ -x "$busybox_bin" ] || img_die "$busybox_pkg has no executable /bin/busybox"
}

img_build_tree() {
	local root=$1/rootfs d applet up
	for d in bin sbin usr/bin usr/sbin usr/lib etc proc sys dev run tmp var/tmp var/log \
		root home mnt; do
		mkdir -p "$root/$d"
	done
	chmod 0755 "$root"
	chmod 1777 "$root/tmp" "$root/var/tmp"
	chmod 0700 "$root/root"
	ln -s ../run "$root/var/run"

	cp "$busybox_bin" "$root/bin/busybox"
	chmod 0755 "$root/bin/busybox"
	# Relative links, so that they resolve the same inside the guest and on
	# the host. busybox's own init and linuxrc stay out: /sbin/init is the agent.
	local n=0
	while read -r applet; do
		applet=${applet#/}
		case "$applet" in
		"" | sbin/init | linuxrc | bin/busybox) continue ;;
		esac
		[ ! -e "$root/$applet" ] || continue
		mkdir -p "$root/$(dirname "$applet")"
		up=$(dirname "$applet" | sed -e 's|[^/][^/]*|..|g')
		ln -s "$up/bin/busybox" "$root/$applet"
		n=$((n + 1))
	done < <("$root/bin/busybox" --list-full)
	# The kernel runs /init from an initramfs, and gives it /dev/console as its
	# stdio when the node exists (as root only; devtmpfs covers /dev later).
	ln -s sbin/init "$root/init"
	if [ "$(id -u)" -eq 0 ]; then
		mknod -m 0600 "$root/dev/console" c 5 1
		mknod -m 0666 "$root/dev/null" c 1 3
	fi

	img_write_etc "$root"
	cat >"$root/etc/profile" <<'PROFILE'
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=${HOME:-/root}
PROFILE
	printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
	{
		echo "busybox_static=$busybox_ver"
		echo "busybox_applets=$n"
	} >"$1/tree.txt"
	img_log "busybox $busybox_ver with $n applet links"
}

img_finish() {
	local dir=$1
	(cd "$dir/rootfs" && find . -mindepth 1 | LC_ALL=C sort |
		cpio --quiet -o -H newc -R 0:0) >"$dir/initramfs.cpio"
}

img_main "$0" "$@"
