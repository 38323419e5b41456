#!/usr/bin/env bash
# Builds a variant of the agentvm guest kernel: tinyconfig + microvm.config +
# <variant>.config (an option the variant sets wins over microvm.config's),
# from the same patched linux-source-6.1 tree as build.sh. Variants:
#   pci   for libvirt/QEMU `pc` guests (backend "libvirt"): PCI, virtio-pci,
#         virtio-blk and virtio-console (virtio-serial ports); pci.config
#
# The result is cached under $AGENTVM_CACHE/kernel/<variant>-<key>/ (default
# cache: ~/.cache/agentvm) with vmlinux, bzImage and config; <key> hashes this
# script and lib.sh, both fragments, the patches and the source package version. The
# main kernel (build.sh) and its cache key are not affected: each variant has
# its own object tree.
#
# Usage: build-variant.sh VARIANT          build if needed; print the output
#                                          directory last
#        build-variant.sh VARIANT --dir    print the output directory, build
#                                          nothing
#        build-variant.sh --help
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pkg=linux-source-6.1
tarball=/usr/src/$pkg.tar.xz
cache=${AGENTVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentvm}

usage() { sed -n '2,20s/^# \{0,1\}//p' "$0"; }
die() {
	echo "kernel: $*" >&2
	exit 1
}

variant=
dironly=0
for a in "$@"; do
	case "$a" in
	-h | --help) usage; exit 0 ;;
	--dir) dironly=1 ;;
	-*) echo "build-variant.sh: unknown argument '$a' (try --help)" >&2; exit 2 ;;
	*)
		[ -z "$variant" ] || { echo "build-variant.sh: one variant at a time" >&2; exit 2; }
		variant=$a
		;;
	esac
done
case "$variant" in
"") echo "build-variant.sh: which variant? (try --help)" >&2; exit 2 ;;
microvm | *[!a-z0-9]*) echo "build-variant.sh: bad variant '$variant'" >&2; exit 2 ;;
esac
frag=$here/$variant.config
[ -r "$frag" ] || { echo "build-variant.sh: no variant '$variant' ($frag)" >&2; exit 2; }

srcver=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
if [ -z "$srcver" ] || [ ! -r "$tarball" ]; then
	die "$pkg is not installed (run 'make deps')"
fi

# The source tree is build.sh's (same name, same patches); the key is ours.
patchkey=$( (echo "$srcver"; cat "$here"/patches/*.patch) | sha256sum | cut -c1-12)
key=$( (echo "$srcver $variant"; cat "$0" "$here/lib.sh" "$here/microvm.config" "$frag" "$here"/patches/*.patch) |
	sha256sum | cut -c1-16)
out=$cache/kernel/$variant-$key

if [ "$dironly" = 1 ]; then
	echo "$out"
	exit 0
fi
if [ -f "$out/vmlinux" ] && [ -f "$out/bzImage" ]; then
	echo "kernel: $variant cached ($out)" >&2
	echo "$out"
	exit 0
fi

# shellcheck source=images/kernel/lib.sh
. "$here/lib.sh"
src=$cache/kernel/src-$patchkey
obj=$cache/kernel/obj-$variant-$patchkey
mkdir -p "$cache/kernel"
kernel_source "$src" "$obj"

# What the two fragments ask for together: microvm.config's lines for options
# the variant does not mention, then the variant's.
want=$(mktemp)
trap 'rm -f "$want"' EXIT
opts() { sed -nE 's/^(# )?(CONFIG_[A-Z0-9_]+)[= ].*/\2/p' "$1"; }
grep -vwF -f <(opts "$frag") "$here/microvm.config" | grep -E '^(# )?CONFIG_' >"$want" || true
grep -E '^(# )?CONFIG_' "$frag" >>"$want"

kernel_configure "$src" "$obj" "$variant" "$want" "$here/microvm.config" "$frag"
kernel_build "$src" "$obj" "$variant" "$out"
