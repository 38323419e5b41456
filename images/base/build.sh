#!/usr/bin/env bash
# Builds the "base" guest image: Debian bookworm (debootstrap --variant=minbase
# with bash, coreutils, git, python3, curl and ca-certificates; see
# packages.txt) with the agentvm guest agent as /sbin/init. Needs root.
#
# The Debian tree is downloaded from the first Debian main archive among this
# machine's apt sources (or $AGENTVM_DEBIAN_MIRROR) and takes a few minutes;
# it is cached under its own key, which hashes this script, images/lib.sh,
# packages.txt, the suite, the debootstrap version and this machine's Debian
# point release. Downloaded packages are kept in images/debs/ of the cache.
#
# Output, under ${AGENTVM_CACHE:-~/.cache/agentvm}/images/base-<key>/:
#   rootfs/          the tree, for the container backend (read-only: its files
#                    are hard links shared with the cached tree)
#   rootfs.erofs     the same tree as a read-only erofs image, for virtio-blk
#   manifest.txt     what went in: keys, agent hash, Debian version, mirror,
#                    every package with its version
# <key> hashes the tree key and the agent binary: a new agent costs a copy of
# hard links and one mkfs.erofs (seconds), never a new debootstrap.
#
# Usage: build.sh [--agent PATH]     build if needed; print the output directory
#                                    last on stdout, progress on stderr
#        build.sh --dir [--agent PATH]
#                                    print the directory the image of this agent
#                                    would have (it exists once built); build nothing
#        build.sh --rebuild          debootstrap again (to pick up Debian updates)
#        build.sh --help
# The agent defaults to $BUILD_DIR/agentvm-agent, else build/agentvm-agent.
# AGENTVM_EROFS_COMPRESS=lz4hc|lz4|none picks the erofs compression (lz4hc).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=images/lib.sh
. "$here/../lib.sh"

img_name=base
suite=bookworm
mapfile -t packages < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' -e 's/[[:space:]]//g' "$here/packages.txt")
debootstrap_ver=$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || true)
host_release=$(cat /etc/debian_version 2>/dev/null || echo unknown)
img_key_files=("$here/packages.txt")
img_needs_root=1
img_key_extra="suite $suite
debootstrap $debootstrap_ver
host-debian $host_release"

img_check_host() {
	[ -n "$debootstrap_ver" ] || img_die "debootstrap is not installed (run 'make deps')"
	[ "${#packages[@]}" -gt 0 ] || img_die "$here/packages.txt lists no package"
}

img_build_tree() {
	local dir=$1 root=$1/rootfs mirror log=$1/debootstrap.log debs pid start

	mirror=$(img_debian_mirror /etc/apt) ||
		img_die "no Debian main archive found in /etc/apt/sources.list{,.d/*.list,.d/*.sources}; set AGENTVM_DEBIAN_MIRROR"
	debs=$img_cache/debs
	mkdir -p "$debs"

	img_log "debootstrap $suite from $mirror with ${packages[*]} (a few minutes; log: $log)"
	start=$(date +%s)
	local include
	include=$(IFS=,; echo "${packages[*]}")
	# debootstrap's phase lines ("I: Configuring the base system...") are the
	# progress, with its latest step every 10 s of silence; the rest goes to the log.
	setsid debootstrap --variant=minbase --include="$include" --cache-dir="$debs" \
		"$suite" "$root" "$mirror" >"$log" 2>&1 &
	pid=$!
	img_bg_pid=$pid
	local shown=0 lines quiet=0 new
	while kill -0 "$pid" 2>/dev/null; do
		sleep 2
		quiet=$((quiet + 2))
		lines=$(grep -c '' "$log" || true)
		[ "$lines" -gt "$shown" ] || continue
		new=$(sed -n "$((shown + 1)),${lines}p" "$log")
		shown=$lines
		if grep -E '^(W|E):|^I: ' <<<"$new" | img_debootstrap_phases >&2; then
			quiet=0
		elif [ "$quiet" -ge 10 ]; then
			img_log "[$(($(date +%s) - start))s] $(grep -E '^I: ' <<<"$new" | tail -n1 | cut -c4-)"
			quiet=0
		fi
	done
	if ! wait "$pid"; then
		img_log "debootstrap failed; the last lines of its logs:"
		tail -n 20 "$log" >&2
		[ ! -f "$root/debootstrap/debootstrap.log" ] || tail -n 20 "$root/debootstrap/debootstrap.log" >&2
		img_die "debootstrap $suite from $mirror failed"
	fi
	sed -n "$((shown + 1)),\$p" "$log" | img_debootstrap_phases >&2 || true

	img_log "cleaning apt caches, logs and documentation"
	rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/archives/partial/* \
		"$root"/var/cache/apt/*.bin
	rm -rf "$root"/var/lib/apt/lists/*
	mkdir -p "$root/var/lib/apt/lists/partial"
	rm -rf "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
	find "$root/var/log" -type f -delete
	rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/lintian
	find "$root/usr/share/doc" -mindepth 1 -not -type d -not -name copyright -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	# Later apt installs in the guest keep to the same rule.
	mkdir -p "$root/etc/dpkg/dpkg.cfg.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/agentvm-nodoc" <<'CFG'
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
CFG

	img_write_etc "$root"
	# The guest has no network device: names and connections go through the
	# agent's egress proxy on 127.0.0.1:3128.
	rm -f "$root/etc/resolv.conf"
	: >"$root/etc/resolv.conf"
	cat >"$root/etc/profile.d/agentvm-proxy.sh" <<'PROFILE'
export http_proxy=http://127.0.0.1:3128 https_proxy=http://127.0.0.1:3128
export HTTP_PROXY=$http_proxy HTTPS_PROXY=$https_proxy no_proxy=localhost,127.0.0.1
PROFILE
	cat >"$root/etc/apt/apt.conf.d/90agentvm-proxy" <<'APT'
Acquire::http::Proxy "http://127.0.0.1:3128";
Acquire::https::Proxy "http://127.0.0.1:3128";
APT

	{
		echo "suite=$suite"
		echo "debian_version=$(cat "$root/etc/debian_version")"
		echo "mirror=$mirror"
		echo "debootstrap=$debootstrap_ver"
		echo "packages_requested=${packages[*]}"
		dpkg-query --admindir="$root/var/lib/dpkg" -W -f='package ${Package} ${Version}\n' |
			LC_ALL=C sort
	} >"$dir/tree.txt"
	img_log "Debian $(cat "$root/etc/debian_version"), $(grep -c '^package ' "$dir/tree.txt") packages, $(du -sh "$root" | cut -f1)"
}

# Filter debootstrap output down to its phases and warnings, prefixed with the
# time since start; fails when nothing is left.
img_debootstrap_phases() {
	grep -E '^(W|E):|^I: ' |
		grep -vE '^I: (Retrieving|Validating) [^ ]+ [^ ]+$|^I: (Extracting|Unpacking|Configuring) [^ ]+\.\.\.$' |
		sed -e "s/^/$img_name: [$(($(date +%s) - start))s] /"
}

img_main "$0" "$@"
