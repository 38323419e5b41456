#!/usr/bin/env bash
# The container isolation holds: from inside a sandbox each of these fails —
# seeing host processes, reaching the host over the network (its 127.0.0.1
# and its other addresses), writing to the image, loading a kernel module,
# mounting anything (a block device, a tmpfs), making device nodes, new
# namespaces, ptrace; limits (memory, pids) hold; what one sandbox writes is
# gone for the next; nothing is left behind on the host.
#
# A small static probe program, compiled here, is copied into a private copy
# of the minimal image to make the exact system calls.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm

# shellcheck source=tests/tap.sh
. "$top/tests/tap.sh"

[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP the container isolation needs root"; exit 0; }
command -v cc >/dev/null || { echo "1..0 # SKIP no C compiler for the probe program"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed for the host listener"; exit 0; }

tmp=$(mktemp -d)
listener=
host_sleep=
cleanup() {
	[ -z "$listener" ] || kill "$listener" 2>/dev/null
	[ -z "$host_sleep" ] || kill "$host_sleep" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# --- the image: a private copy of minimal plus the probe ----------------------
minimal=$("$top/images/minimal/build.sh" --agent "$build/agentvm-agent" 2>"$tmp/build.log" | tail -n1)
[ -d "$minimal/rootfs" ] || { sed 's/^/# /' "$tmp/build.log"; echo "Bail out! cannot build the minimal image"; exit 1; }
img=$tmp/img
cp -a "$minimal/rootfs" "$img"

cat >"$tmp/probe.c" <<'EOF'
/* probe WHAT [ARGS]: try one forbidden thing; print what happened; exit 0 if
 * it was refused, 1 if it worked, 2 on bad usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

static int verdict(const char *what, long r)
{
	if (r < 0) {
		printf("%s: refused: %s\n", what, strerror(errno));
		return 0;
	}
	printf("%s: ALLOWED\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	const char *w = argc > 1 ? argv[1] : "";

	if (!strcmp(w, "ptrace") && argc > 2)
		return verdict("ptrace", ptrace(PTRACE_ATTACH, atoi(argv[2]), 0, 0));
	if (!strcmp(w, "init_module")) {
		static char junk[64] = "\177ELF";
		return verdict("init_module", syscall(SYS_init_module, junk, sizeof(junk), ""));
	}
	if (!strcmp(w, "finit_module")) {
		int fd = open("/bin/busybox", O_RDONLY);
		return verdict("finit_module", syscall(SYS_finit_module, fd, "", 0));
	}
	if (!strcmp(w, "mount") && argc > 3)
		return verdict("mount", mount(argv[2], "/mnt", argv[3], 0, NULL));
	if (!strcmp(w, "mknod"))
		return verdict("mknod", mknod("/tmp/blk", S_IFBLK | 0600, makedev(254, 0)));
	if (!strcmp(w, "unshare"))
		return verdict("unshare", unshare(CLONE_NEWUSER | CLONE_NEWNS));
	if (!strcmp(w, "chroot-escape")) {
		/* The classic: chroot into a subdirectory, walk up, chroot ".". */
		mkdir("/tmp/jail", 0755);
		if (chroot("/tmp/jail") < 0)
			return verdict("chroot", -1);
		for (int i = 0; i < 64; i++)
			if (chdir("..") < 0)
				break;
		chroot(".");
		errno = ENOENT;
		return verdict("escape", access("/etc/hostname", F_OK) == 0 &&
						 access("/work", F_OK) == 0 ? 0 : -1);
	}
	if (!strcmp(w, "connect") && argc > 3) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[3])) };
		int s = socket(AF_INET, SOCK_STREAM, 0);
		inet_pton(AF_INET, argv[2], &sa.sin_addr);
		return verdict("connect", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	}
	if (!strcmp(w, "alloc") && argc > 2) {
		size_t mb = strtoul(argv[2], NULL, 10);
		for (size_t i = 0; i < mb; i++) {
			char *p = malloc(1 << 20);
			if (!p)
				return verdict("alloc", -1);
			memset(p, 1, 1 << 20);
		}
		printf("alloc: ALLOWED %zu MiB\n", mb);
		return 1;
	}
	if (!strcmp(w, "fork") && argc > 2) {
		int want = atoi(argv[2]), made = 0;
		for (; made < want; made++) {
			pid_t p = fork();
			if (p < 0)
				break;
			if (p == 0) {
				sleep(5);
				_exit(0);
			}
		}
		printf("fork: made %d of %d\n", made, want);
		return made < want ? 0 : 1;
	}
	fprintf(stderr, "probe: unknown check %s\n", w);
	return 2;
}
EOF
cc -static -O1 -o "$img/bin/probe" "$tmp/probe.c" 2>"$tmp/cc.log" ||
	{ sed 's/^/# /' "$tmp/cc.log"; echo "Bail out! cannot compile the probe"; exit 1; }

fingerprint() { (cd "$img" && find . -printf '%p %y %s %m %U %T@\n' | LC_ALL=C sort | sha256sum); }
before=$(fingerprint)

# A private state directory, so that other runs on this host do not count.
export AGENTVM_RUN_DIR=$tmp/run

inside() { "$agentvm" run --isolation container --image "$img" "$@"; }

# --- processes ----------------------------------------------------------------
sleep 300 &
host_sleep=$!
out=$(inside -- sh -c "ls -d /proc/[0-9]* | wc -l; test -e /proc/$host_sleep && echo visible; ps -o pid,comm")
nproc_seen=$(echo "$out" | head -n1)
ok "$([ "$nproc_seen" -lt 10 ] && echo 0 || echo 1)" "/proc shows only the sandbox ($nproc_seen processes)"
echo "$out" | grep -q visible; ok "$((1 - $?))" "a host process (pid $host_sleep) is not in /proc"
echo "$out" | grep -qw sleep; ok "$((1 - $?))" "ps does not show host processes"
inside -- sh -c 'tr "\0" " " </proc/1/cmdline' | grep -q '^agentvm-agent '
ok $? "PID 1 of the sandbox is the agent"
inside -- sh -c 'readlink /proc/1/exe' | grep -q '^/memfd:'
ok $? "and its /proc/1/exe leads to no host file"
inside -- probe ptrace "$host_sleep" >"$tmp/pt" 2>&1; is $? 0 "ptrace of a host pid fails"
inside -- sh -c 'sleep 5 & probe ptrace $!' >"$tmp/pt2" 2>&1; is $? 0 "ptrace of a sandbox process fails too"
grep -q "Operation not permitted" "$tmp/pt2"; ok $? "(refused by policy: $(head -c 60 "$tmp/pt2"))"

# --- network --------------------------------------------------------------------
port=$((20000 + RANDOM % 20000))
python3 - "$port" "$tmp/conns" <<'EOF' &
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8)
while True:
    c, a = s.accept()
    open(sys.argv[2], "a").write("%s\n" % (a,)); c.close()
EOF
listener=$!
hostip=$(ip -4 -o route get 1.1.1.1 2>/dev/null | sed -n 's/.* src \([0-9.]*\).*/\1/p')
[ -n "$hostip" ] || hostip=$(hostname -I 2>/dev/null | awk '{print $1}')
for _ in $(seq 1 50); do
	python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null && break
	sleep 0.1
done
: >"$tmp/conns"
inside -- probe connect 127.0.0.1 "$port" >"$tmp/n1" 2>&1; is $? 0 "the host's 127.0.0.1:$port is out of reach"
if [ -n "$hostip" ]; then
	inside -- probe connect "$hostip" "$port" >"$tmp/n2" 2>&1
	is $? 0 "the host's $hostip:$port is out of reach ($(cut -c1-60 "$tmp/n2"))"
else
	ok 0 "# SKIP no non-loopback host address"
fi
is "$(wc -l <"$tmp/conns")" 0 "the host listener saw no connection from the sandbox"
links=$(inside -- sh -c 'ls /sys/class/net' | tr '\n' ' ')
is "$links" "lo " "the network namespace holds only lo"
is "$(inside -- sh -c 'ip -4 addr show lo | grep -c 127.0.0.1')" 1 "lo is up with 127.0.0.1"

# --- the image is never written --------------------------------------------------
inside -- sh -c 'echo pwned >/etc/hostname; rm -f /bin/ls; touch /new-file; mkdir -p /root/x; echo y >/root/x/y; chmod 777 /etc' >/dev/null 2>&1
is $? 0 "the sandbox may write anywhere in its own root"
is "$(fingerprint)" "$before" "the image directory is unchanged afterwards"
[ ! -e "$img/new-file" ]; ok $? "(no new file appeared in it)"
is "$(inside -- cat /etc/hostname)" agentvm "the next sandbox sees the original /etc/hostname"
inside -- sh -c 'test -e /new-file || test -e /root/x/y || test ! -e /bin/ls' >/dev/null 2>&1
is $? 1 "files written by one sandbox are not visible to the next"
inside -- sh -c 'echo data >/tmp/mark; echo data >/dev/shm/mark' >/dev/null 2>&1
inside -- sh -c 'test -e /tmp/mark || test -e /dev/shm/mark' >/dev/null 2>&1
is $? 1 "nor are its /tmp and /dev/shm"

# --- kernel, mounts, devices, namespaces -------------------------------------------
inside -- probe init_module >"$tmp/m1" 2>&1; is $? 0 "init_module fails"
inside -- probe finit_module >"$tmp/m2" 2>&1; is $? 0 "finit_module fails"
inside -- insmod /bin/busybox >/dev/null 2>&1; ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "insmod fails"
inside -- probe mknod >/dev/null 2>&1; is $? 0 "making a block device node fails"
is "$(inside -- sh -c 'ls -l /dev | grep -c "^b"')" 0 "/dev holds no block devices"
rootdev=$(awk '$2 == "/" { print $1; exit }' /proc/self/mounts)
inside -- probe mount "$rootdev" ext4 >"$tmp/mb" 2>&1; is $? 0 "mounting a block device ($rootdev) fails"
inside -- probe mount none tmpfs >/dev/null 2>&1; is $? 0 "mounting a new tmpfs fails"
inside -- probe mount none devtmpfs >/dev/null 2>&1; is $? 0 "mounting devtmpfs (the host's devices) fails"
inside -- mount -t proc proc /mnt >/dev/null 2>&1; ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "mount(8) fails"
inside -- probe unshare >/dev/null 2>&1; is $? 0 "new user and mount namespaces are refused"
inside -- probe chroot-escape >"$tmp/ce" 2>&1; is $? 0 "chroot does not lead out of the sandbox"
inside -- sh -c 'echo 1 >/proc/sys/kernel/sysrq' >/dev/null 2>&1
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "/proc/sys is read-only"
inside -- sh -c 'echo x >/sys/kernel/uevent_helper' >/dev/null 2>&1
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "/sys is read-only"
capeff=$(inside -- sh -c 'grep ^CapEff /proc/self/status' | awk '{print $2}')
ok "$(((0x$capeff >> 21) & 1))" "root inside has no CAP_SYS_ADMIN (CapEff $capeff)"
is "$(inside -- sh -c 'grep ^NoNewPrivs /proc/self/status' | awk '{print $2}')" 1 "no_new_privs is set"
is "$(inside -- sh -c 'grep ^Seccomp: /proc/self/status' | awk '{print $2}')" 2 "a seccomp filter is installed"
is "$(inside -- hostname)" agentvm "the uts namespace has its own hostname"

# --- limits ---------------------------------------------------------------------------
inside --mem 64M -- probe alloc 256 >/dev/null 2>&1
is $? 137 "256 MiB in a 64 MiB sandbox: the OOM killer ends it (128+9)"
inside --pids 32 -- probe fork 100 >"$tmp/fork" 2>&1; is $? 0 "--pids 32 stops a fork burst ($(cat "$tmp/fork"))"
inside --disk 8M -- sh -c 'dd if=/dev/zero of=/big bs=1M count=64' >/dev/null 2>&1
ok "$([ $? -ne 0 ] && echo 0 || echo 1)" "--disk 8M caps the writable layer"

# --- hostile images -------------------------------------------------------------------
bad=$tmp/bad-img
cp -a "$img" "$bad"
rm -rf "$bad/proc"
ln -s /etc "$bad/proc"
"$agentvm" run --isolation container --image "$bad" -- true >/dev/null 2>"$tmp/bad.err"
is $? 125 "an image whose /proc is a symlink is refused"
grep -q "/proc is not a directory" "$tmp/bad.err"; ok $? "with the reason"
"$agentvm" run --isolation container --image / -- true >/dev/null 2>"$tmp/root.err"
is $? 125 "the host's root directory is refused as an image"

# --- nothing left behind ------------------------------------------------------------------
is "$(ls -A "$AGENTVM_RUN_DIR" | wc -l)" 0 "no sandbox state left in \$AGENTVM_RUN_DIR"
name=isolation-$$
is "$(inside --name "$name" -- sh -c 'cat /proc/self/cgroup' | grep -c ':/$')" \
	"$(grep -c '' /proc/self/cgroup)" "the sandbox sees its own cgroups as / (cgroup namespace)"
left=$(find /sys/fs/cgroup -maxdepth 8 -type d -path "*/agentvm/$name" 2>/dev/null | wc -l)
is "$left" 0 "its cgroups are gone once it ended"
grep -q " $img" /proc/self/mounts; ok "$((1 - $?))" "no mount of the image left in the host's mount table"

done_testing
