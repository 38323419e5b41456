#!/usr/bin/env bash
# The demo behind `make demo` (which first runs `make deps all kernel`):
#   1. builds what is missing: the test guests that doctor's probes run, and
#      the minimal and base images (base is a Debian tree: a few minutes the
#      first time, cached afterwards);
#   2. runs `agentvm doctor`: what this host can isolate with, and why;
#   3. runs a command in a fresh sandbox of the base image:
#        agentvm run --image base -- sh -c 'uname -a; python3 -c "print(6*7)"'
#      with --isolation auto, which says on stderr which isolation it took.
# BUILD_DIR (exported by make) says where the programs are; default build/.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

step() {
	if [ -t 1 ]; then
		printf '\n\033[1m== %s\033[0m\n' "$*"
	else
		printf '\n== %s\n' "$*"
	fi
}

for prog in agentvm agentvm-agent agentvm-vmm; do
	[ -x "$build/$prog" ] || {
		echo "demo: $build/$prog is not built (make all)" >&2
		exit 1
	}
done

step "building what is missing (guests, images)"
if [ ! -f "$build/guests/syscall_probe.elf" ] || [ ! -f "$build/guests/speed_probe.elf" ]; then
	make --no-print-directory -C "$top" BUILD="$(realpath --relative-to="$top" "$build" 2>/dev/null || echo build)" guests >/dev/null
fi
for img in minimal base; do
	dir=$("$top/images/$img/build.sh" --agent "$build/agentvm-agent" | tail -n1)
	echo "image $img: $dir"
done

step "agentvm doctor"
"$agentvm" doctor

step "agentvm run --image base -- sh -c 'uname -a; python3 -c \"print(6*7)\"'"
set +e
"$agentvm" run --image base -- sh -c 'uname -a; python3 -c "print(6*7)"'
rc=$?
set -e
echo "(exit status $rc)"
exit "$rc"
