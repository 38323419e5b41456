/* backend "libvirt": the backend_ops face of host/backend_libvirt.h, on one
 * process-wide fleet opened at the first sandbox (see the header for its
 * environment variables). */
#include "host/backend.h"

#include "common/log.h"
#include "host/backend_libvirt.h"
#include "host/libexec.h"
#include "host/libvirt_sched.h"
#include "host/libvirt_xml.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBVIRT_DEFAULT_URI	 "qemu:///system"
#define LIBVIRT_DEFAULT_SAVE_DIR "/var/lib/libvirt/qemu/save"

/* One sandbox: its domain, and the save file of its snapshot (golden). */
struct lv_sandbox {
	struct libvirt_domain *d;
	int snapshots; /* the config asked for snapshots (snapshot_dir) */
	int saved;     /* save holds the snapshot reset goes back to */
	char save[PATH_MAX];
	char console[PATH_MAX]; /* the serial console's file, or "" */
};

static pthread_mutex_t lv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct libvirt_fleet *lv_fleet;

static const char *lv_uri(void)
{
	const char *u = getenv("AGENTVM_LIBVIRT_URI");

	return u && *u ? u : LIBVIRT_DEFAULT_URI;
}

/* The fleet of AGENTVM_LIBVIRT_HOSTS, or this machine alone. */
static int lv_fleet_get(struct libvirt_fleet **out)
{
	const char *hosts = getenv("AGENTVM_LIBVIRT_HOSTS");
	const char *vt = getenv("AGENTVM_LIBVIRT_VIRT_TYPE");
	struct libvirt_sched *s = NULL;
	char err[256] = "", json[1100];
	int r = 0;

	pthread_mutex_lock(&lv_lock);
	if (lv_fleet)
		goto out;
	if (hosts && *hosts) {
		r = libvirt_sched_load(hosts, &s, err, sizeof(err));
	} else {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		unsigned long long mem = (unsigned long long)sysconf(_SC_PHYS_PAGES) *
					 (unsigned long long)sysconf(_SC_PAGESIZE);
		char esc[600];
		size_t k = 0;

		/* The URI comes from the environment: keep it a JSON string. */
		for (const char *p = lv_uri(); *p && k + 2 < sizeof(esc); p++) {
			if (*p == '"' || *p == '\\')
				esc[k++] = '\\';
			esc[k++] = *p;
		}
		esc[k] = '\0';
		if (vt && *vt && strcmp(vt, "kvm") != 0 && strcmp(vt, "qemu") != 0) {
			log_err("AGENTVM_LIBVIRT_VIRT_TYPE must be kvm or qemu, not \"%.40s\"", vt);
			r = -EINVAL;
			goto out;
		}
		snprintf(json, sizeof(json),
			 "[{\"uri\":\"%s\",\"capacity\":{\"vcpus\":%ld,\"mem\":%llu},"
			 "\"virt_type\":\"%s\"}]",
			 esc, cpus > 0 ? cpus : 1, mem ? mem : 1ull << 30, vt && *vt ? vt : "kvm");
		r = libvirt_sched_parse(json, strlen(json), &s, err, sizeof(err));
	}
	if (r < 0) {
		log_err("libvirt host list: %s", err[0] ? err : strerror(-r));
		goto out;
	}
	r = libvirt_fleet_open(s, &lv_fleet);
out:
	*out = lv_fleet;
	pthread_mutex_unlock(&lv_lock);
	return r;
}

static int lv_probe(char *why, size_t len)
{
	const char *hosts = getenv("AGENTVM_LIBVIRT_HOSTS");

	if (!libvirt_available()) {
		snprintf(why, len, "built without libvirt (install libvirt-dev and rebuild)");
		return -ENOTSUP;
	}
	if (hosts && *hosts) {
		snprintf(why, len, "fleet from %s", hosts);
		return access(hosts, R_OK) == 0 ? 0 : -errno;
	}
	int r = libvirt_probe_uri(lv_uri(), why, len);
	size_t n = strlen(why);

	/* Say how to get one: on a host without systemd nothing starts it. */
	if (r < 0 && r != -ENOTSUP && n < len)
		snprintf(why + n, len - n,
			 "; is libvirtd running? start it (systemctl start libvirtd, or "
			 "virtlogd -d && libvirtd -d as root) or point AGENTVM_LIBVIRT_URI at one");
	return r;
}

/* The image as one file: rootfs itself, or <rootfs>.erofs beside the tree. */
static int lv_disk(const char *rootfs, char *out, size_t len)
{
	struct stat st;

	if (!rootfs || stat(rootfs, &st) < 0)
		return -ENOENT;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		snprintf(out, len, "%s", rootfs);
		return 0;
	}
	if (snprintf(out, len, "%s.erofs", rootfs) >= (int)len)
		return -ENAMETOOLONG;
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

/* The pci variant's bzImage (images/kernel/build-variant.sh pci --dir, which
 * builds nothing): the kernel QEMU's pc machine boots and whose guest sees
 * the virtio-pci disk and channel. */
static int lv_default_kernel(char *out, size_t len)
{
	static const char *const args[] = { "pci", "--dir", NULL };
	char dir[PATH_MAX];
	int r = libexec_images_query("kernel/build-variant.sh", args, dir, sizeof(dir));

	if (r < 0)
		return r;
	if (snprintf(out, len, "%s/bzImage", dir) >= (int)len)
		return -ENOENT;
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

static int lv_create(const struct backend_config *cfg, void **priv)
{
	const char *kernel = getenv("AGENTVM_LIBVIRT_KERNEL");
	const char *save_dir = getenv("AGENTVM_LIBVIRT_SAVE_DIR");
	const char *console_dir = getenv("AGENTVM_LIBVIRT_CONSOLE_DIR");
	struct libvirt_domain_config dc = { 0 };
	struct libvirt_fleet *f;
	struct lv_sandbox *sb;
	char disk[4096], cmdline[2048], kbuf[PATH_MAX];
	int r;

	*priv = NULL;
	if (!kernel || !*kernel) {
		if (lv_default_kernel(kbuf, sizeof(kbuf)) < 0) {
			log_err("sandbox %s: no guest kernel for libvirt: build it "
				"(images/kernel/build-variant.sh pci) or set "
				"AGENTVM_LIBVIRT_KERNEL",
				cfg->name);
			return -ENOENT;
		}
		kernel = kbuf;
	}
	r = lv_disk(cfg->rootfs, disk, sizeof(disk));
	if (r < 0) {
		log_err("sandbox %s: no image file for %s (want a file or <dir>.erofs)", cfg->name,
			cfg->rootfs ? cfg->rootfs : "(none)");
		return r;
	}
	r = libvirt_cmdline(getenv("AGENTVM_LIBVIRT_CMDLINE"), cmdline, sizeof(cmdline));
	if (r < 0)
		return r;
	sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	if (snprintf(sb->save, sizeof(sb->save), "%s/" LIBVIRT_DOMAIN_PREFIX "%s.save",
		     save_dir && *save_dir ? save_dir : LIBVIRT_DEFAULT_SAVE_DIR,
		     cfg->name) >= (int)sizeof(sb->save)) {
		free(sb);
		return -ENAMETOOLONG;
	}
	sb->snapshots = cfg->snapshot_dir != NULL;
	if (console_dir && *console_dir &&
	    snprintf(sb->console, sizeof(sb->console), "%s/" LIBVIRT_DOMAIN_PREFIX "%s.console",
		     console_dir, cfg->name) >= (int)sizeof(sb->console)) {
		free(sb);
		return -ENAMETOOLONG;
	}
	r = lv_fleet_get(&f);
	if (r < 0) {
		free(sb);
		return r;
	}
	dc.name = cfg->name;
	dc.kernel = kernel;
	dc.cmdline = cmdline;
	dc.disk = disk;
	dc.console = sb->console;
	dc.mem_bytes = cfg->limits.mem_bytes;
	dc.cpu_millis = cfg->limits.cpu_millis;
	dc.run_as = getenv("AGENTVM_LIBVIRT_RUN_AS");
	r = libvirt_domain_start(f, &dc, &sb->d);
	if (r < 0) {
		free(sb);
		return r;
	}
	*priv = sb;
	return 0;
}

static int lv_connect(void *priv, int *fd)
{
	struct lv_sandbox *sb = priv;

	return libvirt_domain_connect(sb->d, fd);
}

static int lv_exit_fd(void *priv)
{
	struct lv_sandbox *sb = priv;

	return libvirt_domain_exit_fd(sb->d);
}

/* Save the running domain to its file on its host and start it again from
 * there: the snapshot a reset goes back to. Clients must have disconnected
 * from the agent channel (the domain's QEMU is replaced). */
static int lv_golden(void *priv)
{
	struct lv_sandbox *sb = priv;
	int r;

	if (!sb->snapshots)
		return 0;
	r = libvirt_domain_save(sb->d, sb->save);
	if (r < 0)
		return r;
	sb->saved = 1;
	return libvirt_domain_restore(sb->d, sb->save);
}

/* Back to the snapshot, in place (the same domain, a new QEMU). */
static int lv_reset(void *priv)
{
	struct lv_sandbox *sb = priv;

	if (!sb->saved)
		return -ENOTSUP;
	return libvirt_domain_restore(sb->d, sb->save);
}

/* A pool's spare waits with its vCPUs stopped. */
static int lv_pause(void *priv)
{
	struct lv_sandbox *sb = priv;

	return libvirt_domain_suspend(sb->d);
}

static int lv_resume(void *priv)
{
	struct lv_sandbox *sb = priv;

	return libvirt_domain_resume(sb->d);
}

static const char *lv_log_path(void *priv)
{
	struct lv_sandbox *sb = priv;

	return sb->console[0] && libvirt_domain_is_local(sb->d) ? sb->console : NULL;
}

static void lv_destroy(void *priv)
{
	struct lv_sandbox *sb = priv;

	if (!sb)
		return;
	/* A save file on another host stays there: its host's to clean. */
	if (sb->saved && libvirt_domain_is_local(sb->d) && unlink(sb->save) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove it: %s", sb->save, strerror(errno));
	libvirt_domain_free(sb->d);
	free(sb);
}

/* A sandbox of an earlier run of the daemon (which cannot adopt domains):
 * its domain goes, and its save file if it is on this machine. */
static void lv_remove_stale(const char *name)
{
	const char *save_dir = getenv("AGENTVM_LIBVIRT_SAVE_DIR");
	struct libvirt_fleet *f;
	char save[PATH_MAX];

	if (lv_fleet_get(&f) == 0)
		libvirt_fleet_remove_domain(f, name);
	if (snprintf(save, sizeof(save), "%s/" LIBVIRT_DOMAIN_PREFIX "%s.save",
		     save_dir && *save_dir ? save_dir : LIBVIRT_DEFAULT_SAVE_DIR,
		     name) < (int)sizeof(save) &&
	    unlink(save) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove it: %s", save, strerror(errno));
}

const struct backend_ops backend_libvirt_ops = {
	.name = "libvirt",
	.probe = lv_probe,
	.create = lv_create,
	.connect = lv_connect,
	.exit_fd = lv_exit_fd,
	.destroy = lv_destroy,
	.log_path = lv_log_path,
	.golden = lv_golden,
	.reset = lv_reset,
	.remove_stale = lv_remove_stale,
	.pause = lv_pause,
	.resume = lv_resume,
};
