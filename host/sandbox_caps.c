#include "host/sandbox_caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* What the agent (PID 1 of the sandbox, uid 0) needs to run commands as any
 * user of the image and manage their files; everything else is dropped.
 * Notably absent: CAP_SYS_ADMIN (mount, namespaces, most of /proc and /sys),
 * CAP_NET_ADMIN and CAP_NET_RAW (the network namespace holds only lo anyway),
 * CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_RAWIO, CAP_SYS_BOOT, CAP_SYS_TIME,
 * CAP_MKNOD (the sandbox's /dev is made for it), CAP_DAC_READ_SEARCH (file
 * handles: open_by_handle_at escapes a chroot), CAP_SETPCAP, CAP_SETFCAP,
 * CAP_AUDIT_*, CAP_SYSLOG, CAP_BPF, CAP_PERFMON, CAP_IPC_LOCK. */
static const int sandbox_caps_keep[] = {
	CAP_CHOWN,	      /* fs.write's uid/gid, tar/cp -p, package managers */
	CAP_DAC_OVERRIDE,     /* root in the sandbox reads and writes files of other users */
	CAP_FOWNER,	      /* chmod/utime on files root does not own (cp -a, git checkout) */
	CAP_FSETID,	      /* keep setgid bits on chmod/chown of directories root does not own */
	CAP_KILL,	      /* the agent signals execs run as other uids; the pid namespace
			     holds only the sandbox, so nothing outside can be reached */
	CAP_SETUID,	      /* exec's "uid": run a command as another user */
	CAP_SETGID,	      /* exec's "gid" and "groups" */
	CAP_NET_BIND_SERVICE, /* servers on ports < 1024 inside the sandbox's own lo */
	CAP_SYS_CHROOT,	      /* chroot(1) within the sandbox's root (build tools use it); without
			     CAP_SYS_ADMIN it cannot lead above the pivoted root */
};

uint64_t sandbox_caps_keep_mask(void)
{
	uint64_t m = 0;

	for (size_t i = 0; i < sizeof(sandbox_caps_keep) / sizeof(sandbox_caps_keep[0]); i++)
		m |= 1ull << sandbox_caps_keep[i];
	return m;
}

int sandbox_caps_drop(void)
{
	uint64_t keep = sandbox_caps_keep_mask();
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };
	int last = CAP_LAST_CAP;

	/* The running kernel may know more capabilities than our headers. */
	for (int c = 0; c < 64; c++) {
		if (keep & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			if (errno == EINVAL && c > last)
				break;
			return -errno;
		}
	}
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	data[0].permitted = data[0].effective = (uint32_t)keep;
	data[1].permitted = data[1].effective = (uint32_t)(keep >> 32);
	/* Inheritable stays empty: root's execs get the bounding set anyway. */
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}
