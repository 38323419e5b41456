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
			hostprobe_guest_syscall(vmm, guest, &sys);
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
