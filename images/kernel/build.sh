#!/usr/bin/env bash
# Builds the agentvm guest kernel (vmlinux with the PVH note, and bzImage)
# from Debian's linux-source-6.1 package, tinyconfig plus microvm.config,
# with the patches in patches/ applied.
#
# The result is cached under $AGENTVM_CACHE/kernel/<key>/ (default cache:
# ~/.cache/agentvm), where <key> hashes this script and lib.sh, the config
# fragment, the patches and the source package version. A second run prints the cached
# directory at once.
#
# Usage: build.sh            build if needed; print the output directory last
#        build.sh --dir      print the output directory, build nothing
#        build.sh --help
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pkg=linux-source-6.1
tarball=/usr/src/$pkg.tar.xz
cache=${AGENTVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentvm}

usage() { sed -n '2,13s/^# \{0,1\}//p' "$0"; }

case "${1:-}" in
-h | --help) usage; exit 0 ;;
--dir | "") ;;
*) echo "build.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

srcver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
if [ -z "$srcver" ] || [ ! -r "$tarball" ]; then
	echo "kernel: $pkg is not installed (run 'make deps')" >&2
	exit 1
fi

patchkey=$( (echo "$srcver"; cat "$here"/patches/*.patch) | sha256sum | cut -c1-12)
key=$( (echo "$srcver"; cat "$0" "$here/lib.sh" "$here/microvm.config" "$here"/patches/*.patch) | sha256sum | cut -c1-16)
out=$cache/kernel/$key

if [ "${1:-}" = --dir ]; then
	echo "$out"
	exit 0
fi
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
	echo "kernel: cached ($out)" >&2
	echo "$out"
	exit 0
fi

# shellcheck source=images/kernel/lib.sh
. "$here/lib.sh"
src=$cache/kernel/src-$patchkey
obj=$cache/kernel/obj-$patchkey
mkdir -p "$cache/kernel"
kernel_source "$src" "$obj"
kernel_configure "$src" "$obj" "" "$here/microvm.config" "$here/microvm.config"
kernel_build "$src" "$obj" "" "$out"
