#!/usr/bin/env bash
# Builds the agentvm guest kernel (vmlinux with the PVH note, and bzImage)
# from Debian's linux-source-6.1 package, tinyconfig plus microvm.config,
# with the patches in patches/ applied.
#
# The result is cached under $AGENTVM_CACHE/kernel/<key>/ (default cache:
# ~/.cache/agentvm), where <key> hashes this script, the config fragment,
# the patches and the source package version. A second run prints the cached
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
key=$( (echo "$srcver"; cat "$0" "$here/microvm.config" "$here"/patches/*.patch) | sha256sum | cut -c1-16)
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

# A pristine, patched source tree per (source version, patch set), shared by
# every config; the object tree beside it makes a config change incremental.
src=$cache/kernel/src-$patchkey
obj=$cache/kernel/obj-$patchkey
mkdir -p "$cache/kernel"
if [ ! -f "$src/.agentvm-ready" ]; then
	echo "kernel: unpacking $pkg $srcver" >&2
	rm -rf "$src" "$src.tmp"
	mkdir -p "$src.tmp"
	tar -xf "$tarball" -C "$src.tmp" --strip-components=1
	for p in "$here"/patches/*.patch; do
		echo "kernel: applying $(basename "$p")" >&2
		patch -s -d "$src.tmp" -p1 <"$p"
	done
	touch "$src.tmp/.agentvm-ready"
	mv "$src.tmp" "$src"
	rm -rf "$obj"
fi

mkdir -p "$obj"
jobs=$(nproc)
log=$obj/build.log
echo "kernel: configuring (tinyconfig + microvm.config)" >&2
make -s -C "$src" O="$obj" tinyconfig >"$log" 2>&1
"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$here/microvm.config" >>"$log" 2>&1
make -s -C "$src" O="$obj" olddefconfig >>"$log" 2>&1

# Every option the fragment asks for must have survived olddefconfig.
missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$here/microvm.config" | while read -r line; do
	grep -qxF "$line" "$obj/.config" || echo "$line"
done)
unwanted=$(grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$here/microvm.config" | while read -r line; do
	opt=${line#\# }
	opt=${opt%% *}
	grep -q "^$opt=" "$obj/.config" && echo "$opt"
done || true)
if [ -n "$missing$unwanted" ]; then
	echo "kernel: the config fragment did not apply:" >&2
	[ -z "$missing" ] || echo "$missing" | sed 's/^/  not set: /' >&2
	[ -z "$unwanted" ] || echo "$unwanted" | sed 's/^/  still set: /' >&2
	exit 1
fi

echo "kernel: building vmlinux and bzImage with $jobs jobs (about 6 minutes on 2 cores; log: $log)" >&2
start=$(date +%s)
make -C "$src" O="$obj" -j"$jobs" vmlinux bzImage >>"$log" 2>&1 &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
	sleep 10
	n=$(grep -c '^  CC ' "$log" || true)
	echo "kernel: $n files compiled, $(($(date +%s) - start))s" >&2
done
if ! wait "$pid"; then
	echo "kernel: build failed; the last lines of $log:" >&2
	tail -n 30 "$log" >&2
	exit 1
fi

tmp=$out.tmp.$$
rm -rf "$tmp"
mkdir -p "$tmp"
cp "$obj/vmlinux" "$obj/arch/x86/boot/bzImage" "$obj/.config" "$tmp/"
mv "$tmp/.config" "$tmp/config"
echo "$srcver" >"$tmp/source-version"
rm -rf "$out"
mv "$tmp" "$out"
echo "kernel: built in $(($(date +%s) - start))s ($out)" >&2
echo "$out"
