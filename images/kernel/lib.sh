# shellcheck shell=bash
# What build.sh (the microVM kernel) and build-variant.sh (its variants) both
# do, sourced by them and hashed into their cache keys. Each function reads
# pkg, tarball, here and srcver from the caller and exits on failure; LABEL is
# "" for the main kernel, the variant's name otherwise.
# shellcheck disable=SC2154 # pkg, tarball, here and srcver are the caller's

kernel_say() { echo "kernel: $*" >&2; }

# kernel_source SRC: the pristine, patched source tree, unpacked once per
# (source version, patch set) and shared by every configuration. OBJ, the
# object tree beside it, is dropped when the tree is made anew.
kernel_source() {
	local src=$1 obj=$2 tmp=$1.tmp.$$ p
	[ -f "$src/.agentvm-ready" ] && return 0
	kernel_say "unpacking $pkg $srcver"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	tar -xf "$tarball" -C "$tmp" --strip-components=1
	for p in "$here"/patches/*.patch; do
		kernel_say "applying $(basename "$p")"
		patch -s -d "$tmp" -p1 <"$p"
	done
	touch "$tmp/.agentvm-ready"
	# Another build may have unpacked the same tree meanwhile: keep the first.
	if [ -f "$src/.agentvm-ready" ]; then
		rm -rf "$tmp"
	else
		rm -rf "$src"
		mv "$tmp" "$src"
	fi
	rm -rf "$obj"
}

# kernel_configure SRC OBJ LABEL WANT FRAGMENT...: tinyconfig plus the
# fragments, then every line of the file WANT must have survived
# olddefconfig, or the build stops naming the ones that did not.
kernel_configure() {
	local src=$1 obj=$2 label=$3 want=$4 missing unwanted names="" f
	shift 4
	for f in "$@"; do names+=" + ${f##*/}"; done
	mkdir -p "$obj"
	kernel_say "configuring${label:+ $label} (tinyconfig$names)"
	make -s -C "$src" O="$obj" tinyconfig >"$obj/build.log" 2>&1
	"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$@" >>"$obj/build.log" 2>&1
	make -s -C "$src" O="$obj" olddefconfig >>"$obj/build.log" 2>&1
	missing=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$want" | while read -r line; do
		grep -qxF "$line" "$obj/.config" || echo "$line"
	done)
	unwanted=$(grep -E '^# CONFIG_[A-Z0-9_]+ is not set' "$want" | while read -r line; do
		opt=${line#\# }
		opt=${opt%% *}
		grep -q "^$opt=" "$obj/.config" && echo "$opt"
	done || true)
	if [ -n "$missing$unwanted" ]; then
		kernel_say "the${label:+ $label} config fragments did not apply:"
		[ -z "$missing" ] || echo "$missing" | sed 's/^/  not set: /' >&2
		[ -z "$unwanted" ] || echo "$unwanted" | sed 's/^/  still set: /' >&2
		exit 1
	fi
}

# kernel_build SRC OBJ LABEL OUT: vmlinux and bzImage, with progress every
# 10 s, installed into OUT (with the config and the source version) in one
# rename; prints OUT.
kernel_build() {
	local src=$1 obj=$2 label=$3 out=$4 log=$2/build.log jobs start pid n tmp
	jobs=$(nproc)
	kernel_say "building the${label:+ $label} vmlinux and bzImage with $jobs jobs (about 5 minutes on 2 cores; log: $log)"
	start=$(date +%s)
	make -C "$src" O="$obj" -j"$jobs" vmlinux bzImage >>"$log" 2>&1 &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 10
		n=$(grep -c '^  CC ' "$log" || true)
		kernel_say "${label:+$label: }$n files compiled, $(($(date +%s) - start))s"
	done
	if ! wait "$pid"; then
		kernel_say "the${label:+ $label} build failed; the last lines of $log:"
		tail -n 30 "$log" >&2
		exit 1
	fi
	tmp=$out.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$obj/vmlinux" "$obj/arch/x86/boot/bzImage" "$tmp/"
	cp "$obj/.config" "$tmp/config"
	echo "$srcver" >"$tmp/source-version"
	rm -rf "$out"
	mv "$tmp" "$out"
	kernel_say "${label:+$label }built in $(($(date +%s) - start))s ($out)"
	echo "$out"
}
