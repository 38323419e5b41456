# shellcheck shell=bash
# Shared by the container-backend quota tests tests/e2e/quota_*.t (sourced,
# not run): TAP helpers; a private copy of the minimal image holding `qprobe`,
# a small static program compiled here that hits one limit and says how it
# was stopped; inside, which runs `agentvm run --isolation container` on it;
# and cgroup_file, which finds a file of a running sandbox's cgroup.
set -u

top=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"

[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP the container isolation needs root"; exit 0; }
command -v cc >/dev/null || { echo "1..0 # SKIP no C compiler for the probe program"; exit 0; }

tmp=$(mktemp -d)
bg_pid=
quota_cleanup() {
	[ -z "$bg_pid" ] || kill "$bg_pid" 2>/dev/null
	[ -z "$bg_pid" ] || wait "$bg_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap quota_cleanup EXIT

minimal=$("$top/images/minimal/build.sh" --agent "$build/agentvm-agent" 2>"$tmp/build.log" | tail -n1)
[ -d "$minimal/rootfs" ] || { diag "$(cat "$tmp/build.log")"; echo "Bail out! cannot build the minimal image"; exit 1; }
img=$tmp/img
cp -a "$minimal/rootfs" "$img"

cat >"$tmp/qprobe.c" <<'EOF'
/* qprobe WHAT ARGS: run into one limit and print how it went.
 *   alloc MIB       allocate and touch MIB MiB, 1 MiB at a time
 *   forkbomb SECS   every process forks until fork fails; the first one
 *                   prints the error; all sleep SECS, then exit
 *   fill PATH       write 1 MiB blocks to PATH until a write fails
 *   spin SECS       spin for SECS seconds of wall time; print CPU and wall ms */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long ms(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int main(int argc, char **argv)
{
	const char *w = argc > 2 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(w, "alloc")) {
		long mib = atol(argv[2]);
		for (long i = 0; i < mib; i++) {
			char *p = malloc(1 << 20);
			if (!p) {
				printf("alloc: malloc failed after %ld MiB\n", i);
				return 1;
			}
			memset(p, 1, 1 << 20);
		}
		printf("alloc: %ld MiB allocated\n", mib);
		return 0;
	}
	if (!strcmp(w, "forkbomb")) {
		pid_t root = getpid();
		long forks = 0;
		int err;
		for (;;) {
			pid_t p = fork();
			if (p < 0) {
				err = errno;
				break;
			}
			if (p > 0)
				forks++;
		}
		if (getpid() == root)
			printf("forkbomb: fork failed with %s (%s) after %ld forks\n",
			       err == EAGAIN ? "EAGAIN" : "another error", strerror(err), forks);
		sleep((unsigned)atoi(argv[2]));
		return 0;
	}
	if (!strcmp(w, "fill")) {
		static char block[1 << 20];
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		long mib = 0;
		if (fd < 0) {
			printf("fill: open: %s\n", strerror(errno));
			return 1;
		}
		memset(block, 7, sizeof(block));
		for (;;) {
			/* A short write is followed by one that fails. */
			ssize_t n = write(fd, block, sizeof(block));
			if (n < 0) {
				int err = errno;
				printf("fill: %s (%s) after %ld MiB\n",
				       err == ENOSPC ? "ENOSPC" : "another error", strerror(err), mib);
				return err == ENOSPC ? 0 : 1;
			}
			if (n == (ssize_t)sizeof(block))
				mib++;
		}
	}
	if (!strcmp(w, "spin")) {
		long wall0 = ms(CLOCK_MONOTONIC), cpu0 = ms(CLOCK_PROCESS_CPUTIME_ID);
		long end = wall0 + atol(argv[2]) * 1000;
		volatile unsigned long x = 0;
		while (ms(CLOCK_MONOTONIC) < end)
			for (int i = 0; i < 100000; i++)
				x++;
		printf("spin: cpu_ms=%ld wall_ms=%ld\n", ms(CLOCK_PROCESS_CPUTIME_ID) - cpu0,
		       ms(CLOCK_MONOTONIC) - wall0);
		return 0;
	}
	fprintf(stderr, "qprobe: unknown check %s\n", w);
	return 2;
}
EOF
cc -static -O1 -o "$img/bin/qprobe" "$tmp/qprobe.c" 2>"$tmp/cc.log" ||
	{ diag "$(cat "$tmp/cc.log")"; echo "Bail out! cannot compile the probe"; exit 1; }

# A private state directory, so that other runs on this host do not count.
export AGENTVM_RUN_DIR=$tmp/run

inside() { "$agentvm" run --isolation container --image "$img" "$@"; }

# cgroup_file NAME FILE...: the first of the FILEs found in a directory
# agentvm/NAME of any cgroup hierarchy (v1 and v2 spell them differently).
cgroup_file() {
	local name=$1 d f
	shift
	while IFS= read -r d; do
		for f in "$@"; do
			if [ -e "$d/$f" ]; then
				echo "$d/$f"
				return 0
			fi
		done
	done < <(find /sys/fs/cgroup -maxdepth 12 -type d -path "*/agentvm/$name" 2>/dev/null)
	return 1
}

# wait_cgroup NAME FILE...: cgroup_file, waiting up to 10 s for the sandbox.
wait_cgroup() {
	local i
	for ((i = 0; i < 100; i++)); do
		cgroup_file "$@" && return 0
		sleep 0.1
	done
	return 1
}
