/* The microvm backend. Its sandboxes need a host whose KVM runs guest user
 * space; the probe says whether this one does (the syscall_probe test guest
 * in agentvm-vmm). Starting the agent's guest from here (kernel + image over
 * virtio-blk, the agent over hybrid vsock) is not wired up yet, so create
 * says so rather than pretend. */
#include "host/backend.h"

#include "common/log.h"
#include "host/hostprobe.h"
#include "host/libexec.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What the probe depends on: this boot of the host, and the VMM and probe
 * guest binaries. */
static void microvm_probe_key(const char *vmm, const char *guest, char *key, size_t len)
{
	char boot[64] = "";
	struct stat a, b;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");

	if (f) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
		boot[strcspn(boot, "\n")] = '\0';
	}
	if (stat(vmm, &a) < 0)
		memset(&a, 0, sizeof(a));
	if (stat(guest, &b) < 0)
		memset(&b, 0, sizeof(b));
	snprintf(key, len, "%s %lld.%ld %lld %lld.%ld %lld", boot, (long long)a.st_mtim.tv_sec,
		 a.st_mtim.tv_nsec, (long long)a.st_size, (long long)b.st_mtim.tv_sec,
		 b.st_mtim.tv_nsec, (long long)b.st_size);
}

/* The SYSCALL probe runs a VMM (~15 ms here); its answer holds until the host
 * reboots or the binaries change, so it is kept in the state directory. */
static void microvm_guest_syscall(const char *vmm, const char *guest, struct hostprobe_result *out)
{
	char root[256], path[300], key[256], line[sizeof(out->detail) + 16];
	int status;
	FILE *f;

	microvm_probe_key(vmm, guest, key, sizeof(key));
	if (backend_state_root(root, sizeof(root)) < 0)
		root[0] = '\0';
	snprintf(path, sizeof(path), "%s/.guest-syscall-probe", root);
	f = root[0] ? fopen(path, "re") : NULL;
	if (f) {
		int hit = fgets(line, sizeof(line), f) && (line[strcspn(line, "\n")] = '\0', 1) &&
			  strcmp(line, key) == 0 && fscanf(f, "%d ", &status) == 1 &&
			  (status == HOSTPROBE_OK || status == HOSTPROBE_FAIL) &&
			  fgets(out->detail, sizeof(out->detail), f);
		fclose(f);
		if (hit) {
			out->detail[strcspn(out->detail, "\n")] = '\0';
			out->status = status;
			return;
		}
	}
	hostprobe_guest_syscall(vmm, guest, out);
	if (!root[0] || (out->status != HOSTPROBE_OK && out->status != HOSTPROBE_FAIL))
		return;
	char tmp[320];
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return;
	fprintf(f, "%s\n%d %s\n", key, (int)out->status, out->detail);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		unlink(tmp);
}

static int microvm_probe(char *why, size_t len)
{
	static int done, verdict;
	static char reason[sizeof(((struct hostprobe_result *)0)->detail) + 64];
	struct hostprobe_result kvm, sys;
	char vmm[PATH_MAX], guest[PATH_MAX];

	if (!done) {
		hostprobe_kvm(&kvm);
		if (kvm.status != HOSTPROBE_OK) {
			verdict = -ENODEV;
			snprintf(reason, sizeof(reason), "no usable KVM: %s", kvm.detail);
		} else {
			libexec_path("agentvm-vmm", vmm, sizeof(vmm));
			libexec_path("guests/syscall_probe.elf", guest, sizeof(guest));
			microvm_guest_syscall(vmm, guest, &sys);
			if (sys.status == HOSTPROBE_OK) {
				/* The host could; agentvm cannot start the guest yet. */
				verdict = -ENOSYS;
				snprintf(reason, sizeof(reason),
					 "guest user space runs on this host, but starting microVM "
					 "sandboxes from agentvm is not implemented yet");
			} else if (sys.status == HOSTPROBE_FAIL) {
				verdict = -ENOTSUP;
				snprintf(reason, sizeof(reason), "%s", sys.detail);
			} else {
				verdict = -EAGAIN;
				snprintf(reason, sizeof(reason),
					 "cannot tell whether guest user space runs here: %s",
					 sys.detail);
			}
		}
		done = 1;
	}
	snprintf(why, len, "%s", reason);
	return verdict;
}

static int microvm_create(const struct backend_config *cfg, void **priv)
{
	char why[512];
	int r = microvm_probe(why, sizeof(why));

	*priv = NULL;
	if (r == 0)
		r = -ENOSYS;
	log_err("sandbox %s: microvm isolation is not possible: %s (see 'agentvm doctor'; use "
		"--isolation container)",
		cfg->name, why);
	return r;
}

static int microvm_connect(void *priv, int *fd)
{
	(void)priv;
	(void)fd;
	return -ENOTCONN;
}

static void microvm_destroy(void *priv)
{
	(void)priv;
}

const struct backend_ops backend_microvm_ops = {
	.name = "microvm",
	.probe = microvm_probe,
	.create = microvm_create,
	.connect = microvm_connect,
	.exit_fd = NULL,
	.destroy = microvm_destroy,
};
