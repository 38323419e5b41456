/* backend "libvirt": the backend_ops face of host/backend_libvirt.h, on one
 * process-wide fleet opened at the first sandbox (see the header for its
 * environment variables). */
#include "host/backend.h"

#include "common/log.h"
#include "host/backend_libvirt.h"
#include "host/libvirt_sched.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LIBVIRT_DEFAULT_URI "qemu:///system"

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
	struct libvirt_sched *s = NULL;
	char err[256] = "", json[1024];
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
		snprintf(json, sizeof(json),
			 "[{\"uri\":\"%s\",\"capacity\":{\"vcpus\":%ld,\"mem\":%llu}}]", esc,
			 cpus > 0 ? cpus : 1, mem ? mem : 1ull << 30);
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
	return libvirt_probe_uri(lv_uri(), why, len);
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

static int lv_create(const struct backend_config *cfg, void **priv)
{
	const char *kernel = getenv("AGENTVM_LIBVIRT_KERNEL");
	struct libvirt_domain_config dc = { 0 };
	struct libvirt_fleet *f;
	struct libvirt_domain *d;
	char disk[4096], cmdline[2048];
	int r;

	*priv = NULL;
	if (!kernel || !*kernel) {
		log_err("sandbox %s: set AGENTVM_LIBVIRT_KERNEL to the guest kernel "
			"(images/kernel/build.sh --dir)",
			cfg->name);
		return -EINVAL;
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
	r = lv_fleet_get(&f);
	if (r < 0)
		return r;
	dc.name = cfg->name;
	dc.kernel = kernel;
	dc.cmdline = cmdline;
	dc.disk = disk;
	dc.mem_bytes = cfg->limits.mem_bytes;
	dc.cpu_millis = cfg->limits.cpu_millis;
	dc.run_as = getenv("AGENTVM_LIBVIRT_RUN_AS");
	r = libvirt_domain_start(f, &dc, &d);
	if (r < 0)
		return r;
	*priv = d;
	return 0;
}

static int lv_connect(void *priv, int *fd)
{
	return libvirt_domain_connect(priv, fd);
}

static int lv_exit_fd(void *priv)
{
	return libvirt_domain_exit_fd(priv);
}

static void lv_destroy(void *priv)
{
	libvirt_domain_free(priv);
}

const struct backend_ops backend_libvirt_ops = {
	.name = "libvirt",
	.probe = lv_probe,
	.create = lv_create,
	.connect = lv_connect,
	.exit_fd = lv_exit_fd,
	.destroy = lv_destroy,
};
