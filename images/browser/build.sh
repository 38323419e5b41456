#!/usr/bin/env bash
# Builds the "browser" guest image: the "base" image (Debian bookworm, see
# images/base/) plus Debian's chromium and fonts (see packages.txt), with the
# agentvm guest agent as /sbin/init. The agent's browser.* ops run
# /usr/lib/chromium/chromium from it. Needs root.
#
# The tree is a full copy of base's (never hard links: apt rewrites files)
# into which apt-get installs the packages inside a chroot, from this
# machine's Debian sources (the entries naming its Debian main archive or
# debian-security; AGENTVM_BROWSER_APT_SOURCES=FILE replaces them). It is
# cached under its own key, which hashes this script, images/lib.sh,
# packages.txt, base's tree key and the chromium version apt would pick here.
# Downloaded packages are kept in images/debs/ of the cache, like base's.
#
# Output, under ${AGENTVM_CACHE:-~/.cache/agentvm}/images/browser-<key>/:
#   rootfs/          the tree, for the container backend (read-only: its files
#                    are hard links shared with the cached tree)
#   rootfs.erofs     the same tree as a read-only erofs image, for virtio-blk
#   manifest.txt     keys, agent hash, base's tree key, chromium's version and
#                    every package with its version
#
# Usage: build.sh [--agent PATH]     build if needed (base too); print the output
#                                    directory last on stdout, progress on stderr
#        build.sh --dir [--agent PATH]
#                                    print the directory the image of this agent
#                                    would have (it exists once built); builds
#                                    base if needed, nothing else
#        build.sh --rebuild          install the packages again
#        build.sh --help
# The agent defaults to $BUILD_DIR/agentvm-agent, else build/agentvm-agent.
# AGENTVM_EROFS_COMPRESS=lz4hc|lz4|none picks the erofs compression (lz4hc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
. "$here/../lib.sh"

img_name=browser
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]//g' "$here/packages.txt")
img_key_files=("$here/packages.txt")
img_needs_root=1

# The agent argument goes to base's build too.
agent_args=()
prev=
for a in "$@"; do
	case "$a" in
	--agent=*) agent_args=("$a") ;;
	esac
	[ "$prev" != --agent ] || agent_args=(--agent "$a")
	prev=$a
done
case " $* " in
*" -h "* | *" --help "*)
	img_usage "$0"
	exit 0
	;;
esac

# base first: its tree key is part of ours, its tree the start of ours.
echo "browser: the base image first" >&2
base_dir=$("$here/../base/build.sh" "${agent_args[@]}" | tail -n1)
[ -f "$base_dir/manifest.txt" ] || {
	echo "browser: error: the base image did not build ($base_dir)" >&2
	exit 1
}
base_tree_key=$(sed -n 's/^tree_key=//p' "$base_dir/manifest.txt")
chromium_candidate=$(LC_ALL=C apt-cache policy chromium 2>/dev/null | sed -n 's/^ *Candidate: *//p')
img_key_extra="base-tree $base_tree_key
chromium $chromium_candidate"

img_check_host() {
	[ -n "$base_tree_key" ] || img_die "$base_dir/manifest.txt has no tree_key"
	command -v chroot >/dev/null || img_die "chroot is missing"
}

# The apt sources for the chroot: the host's Debian entries.
browser_sources() {
	local out=$1 mirror f
	if [ -n "${AGENTVM_BROWSER_APT_SOURCES:-}" ]; then
		cp "$AGENTVM_BROWSER_APT_SOURCES" "$out/agentvm-host.sources"
		return 0
	fi
	mirror=$(img_debian_mirror /etc/apt) ||
		img_die "no Debian main archive found in /etc/apt; set AGENTVM_BROWSER_APT_SOURCES"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		if grep -qF "$mirror" "$f" || grep -q 'debian-security' "$f"; then
			cp "$f" "$out/agentvm-host-${f##*/}"
		fi
	done
}

img_build_tree() {
	local dir=$1 root=$1/rootfs log=$1/apt.log debs src
	debs=$img_cache/debs
	mkdir -p "$debs/partial"

	img_log "copying base's tree (tree $base_tree_key)"
	cp -a "$base_dir/rootfs" "$root"
	rm -f "$root/sbin/init" "$root/usr/sbin/init"

	# A chroot that can run apt: /proc, /dev, the host's name servers, the
	# host's Debian sources in place of the guest's, no services started.
	src=$dir/sources
	mkdir -p "$src"
	browser_sources "$src"
	mv "$root/etc/apt/sources.list" "$dir/sources.list.guest" 2>/dev/null || true
	mkdir -p "$dir/sources.list.d.guest"
	if compgen -G "$root/etc/apt/sources.list.d/*" >/dev/null; then
		mv "$root"/etc/apt/sources.list.d/* "$dir/sources.list.d.guest/"
	fi
	cp "$src"/* "$root/etc/apt/sources.list.d/"
	cp "$root/etc/resolv.conf" "$dir/resolv.conf.guest"
	cat /etc/resolv.conf >"$root/etc/resolv.conf"
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 0755 "$root/usr/sbin/policy-rc.d"
	mount -t proc proc "$root/proc"
	mount --bind /dev "$root/dev"
	mkdir -p "$root/var/cache/apt/archives"
	mount --bind "$debs" "$root/var/cache/apt/archives"

	img_log "apt-get install ${packages[*]} (log: $log)"
	# The guest's apt goes through the agent's proxy; here it goes direct.
	local apt=(chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
		apt-get -o Acquire::http::Proxy=false -o Acquire::https::Proxy=false
		-o APT::Sandbox::User=root -o Dpkg::Use-Pty=0)
	if ! "${apt[@]}" update >"$log" 2>&1 ||
		! "${apt[@]}" install -y --no-install-recommends "${packages[@]}" >>"$log" 2>&1; then
		tail -n 20 "$log" >&2
		umount "$root/var/cache/apt/archives" "$root/dev" "$root/proc" 2>/dev/null || true
		img_die "apt-get install in the chroot failed"
	fi
	umount "$root/var/cache/apt/archives"
	umount "$root/dev"
	umount "$root/proc"

	img_log "restoring the guest's apt sources and resolv.conf"
	rm -f "$root/usr/sbin/policy-rc.d"
	rm -f "$root"/etc/apt/sources.list.d/agentvm-host*
	[ ! -f "$dir/sources.list.guest" ] || mv "$dir/sources.list.guest" "$root/etc/apt/sources.list"
	if compgen -G "$dir/sources.list.d.guest/*" >/dev/null; then
		mv "$dir"/sources.list.d.guest/* "$root/etc/apt/sources.list.d/"
	fi
	cat "$dir/resolv.conf.guest" >"$root/etc/resolv.conf"
	rm -rf "$src" "$dir/sources.list.d.guest" "$dir/resolv.conf.guest"
	rm -rf "$root"/var/lib/apt/lists/*
	mkdir -p "$root/var/lib/apt/lists/partial"
	rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
	find "$root/var/log" -type f -delete
	[ -x "$root/usr/lib/chromium/chromium" ] || img_die "chromium is not in the tree"

	{
		echo "base_tree_key=$base_tree_key"
		echo "chromium=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' chromium)"
		echo "packages_requested=${packages[*]}"
		dpkg-query --admindir="$root/var/lib/dpkg" -W -f='package ${Package} ${Version}\n' |
			LC_ALL=C sort
	} >"$dir/tree.txt"
	img_log "chromium $(sed -n 's/^chromium=//p' "$dir/tree.txt"), $(grep -c '^package ' "$dir/tree.txt") packages, $(du -sh "$root" | cut -f1)"
}

img_main "$0" "$@"
