/* Fleet connections and domains through libvirt's C API (never virsh). */
#include "host/backend_libvirt.h"

#include "common/log.h"
#include "host/libvirt_sched.h"
#include "host/libvirt_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __has_include(<libvirt/libvirt.h>)
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <linux/vm_sockets.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define FLEET_KEEPALIVE_S     5
#define FLEET_KEEPALIVE_COUNT 3

struct fleet_host {
	struct libvirt_fleet *f;
	size_t index;
	virConnectPtr conn; /* NULL once lost */
	int lifecycle_id;   /* domain event callback, or -1 */
	int local;	    /* the host is this machine: its sockets are ours to open */
};

struct libvirt_domain {
	struct libvirt_fleet *f;
	struct libvirt_domain *next; /* in f->domains */
	size_t host;
	virDomainPtr dom;
	char name[128];
	char channel[sizeof(((struct sockaddr_un *)0)->sun_path)];
	unsigned cid;
	int evfd;
	int gone; /* stopped (or host lost) since the last start/restore */
	/* Stops we made (destroy, save) whose STOPPED event has not come yet:
	 * we fired the exit fd ourselves, and the event, which libvirtd may
	 * deliver after a restore has started the next run, is dropped. */
	int own_stops;
	uint32_t vcpus;
	uint64_t mem;
};

struct libvirt_fleet {
	struct libvirt_sched *sched;
	pthread_mutex_t lock; /* domains, hosts[].conn */
	struct libvirt_domain *domains;
	size_t n;
	struct fleet_host hosts[];
};

static pthread_once_t fleet_once = PTHREAD_ONCE_INIT;
static int fleet_event_ok;

static void fleet_error_quiet(void *opaque, virErrorPtr err)
{
	(void)opaque;
	(void)err; /* logged where the decision is made */
}

static void *fleet_event_thread(void *arg)
{
	(void)arg;
	for (;;)
		if (virEventRunDefaultImpl() < 0)
			usleep(100000);
	return NULL;
}

/* libvirt's event loop: keepalive, close callbacks and domain events run on
 * one thread for the life of the process. */
static void fleet_event_init(void)
{
	pthread_t t;

	virSetErrorFunc(NULL, fleet_error_quiet);
	if (virInitialize() < 0 || virEventRegisterDefaultImpl() < 0)
		return;
	if (pthread_create(&t, NULL, fleet_event_thread, NULL) != 0)
		return;
	pthread_detach(t);
	fleet_event_ok = 1;
}

int libvirt_available(void)
{
	return 1;
}

static const char *fleet_err(void)
{
	const char *m = virGetLastErrorMessage();

	return m ? m : "unknown libvirt error";
}

/* Mark every domain of host h gone and wake its exit fd. Lock held. */
static void fleet_host_domains_gone(struct libvirt_fleet *f, size_t h, const char *only)
{
	uint64_t one = 1;

	for (struct libvirt_domain *d = f->domains; d; d = d->next) {
		if (d->host != h || (only && strcmp(d->name, only) != 0))
			continue;
		if (only && d->own_stops > 0) {
			d->own_stops--;
			continue;
		}
		d->gone = 1;
		if (write(d->evfd, &one, sizeof(one)) < 0)
			log_debug("domain %s: exit fd: %s", d->name, strerror(errno));
	}
}

static void fleet_on_close(virConnectPtr conn, int reason, void *opaque)
{
	struct fleet_host *h = opaque;
	struct libvirt_sched_host sh;

	(void)conn;
	if (libvirt_sched_set_down(h->f->sched, h->index, 1) == 0) {
		libvirt_sched_host(h->f->sched, h->index, &sh);
		log_warn("libvirt host %s lost (reason %d: %s); marked down", sh.uri, reason,
			 reason == VIR_CONNECT_CLOSE_REASON_KEEPALIVE ? "keepalive"
			 : reason == VIR_CONNECT_CLOSE_REASON_EOF     ? "end of file"
			 : reason == VIR_CONNECT_CLOSE_REASON_ERROR   ? "error"
								      : "closed");
	}
	pthread_mutex_lock(&h->f->lock);
	fleet_host_domains_gone(h->f, h->index, NULL);
	pthread_mutex_unlock(&h->f->lock);
}

static int fleet_on_lifecycle(virConnectPtr conn, virDomainPtr dom, int event, int detail,
			      void *opaque)
{
	struct fleet_host *h = opaque;
	const char *name = virDomainGetName(dom);

	(void)conn;
	(void)detail;
	if (event != VIR_DOMAIN_EVENT_STOPPED || !name)
		return 0;
	pthread_mutex_lock(&h->f->lock);
	fleet_host_domains_gone(h->f, h->index, name);
	pthread_mutex_unlock(&h->f->lock);
	return 0;
}

/* A URI without a remote host names this machine. */
static int fleet_uri_local(const char *uri)
{
	const char *p = strstr(uri, "://");

	return p && (p[3] == '/' || strncmp(p + 3, "localhost/", 10) == 0);
}

int libvirt_fleet_open(struct libvirt_sched *s, struct libvirt_fleet **out)
{
	struct libvirt_fleet *f;
	size_t n = libvirt_sched_count(s), up = 0;

	*out = NULL;
	pthread_once(&fleet_once, fleet_event_init);
	if (!fleet_event_ok) {
		log_err("libvirt: cannot start its event loop: %s", fleet_err());
		libvirt_sched_free(s);
		return -EIO;
	}
	f = calloc(1, sizeof(*f) + n * sizeof(f->hosts[0]));
	if (!f) {
		libvirt_sched_free(s);
		return -ENOMEM;
	}
	f->sched = s;
	f->n = n;
	pthread_mutex_init(&f->lock, NULL);
	for (size_t i = 0; i < n; i++) {
		struct fleet_host *h = &f->hosts[i];
		struct libvirt_sched_host sh;

		h->f = f;
		h->index = i;
		h->lifecycle_id = -1;
		libvirt_sched_host(s, i, &sh);
		h->local = fleet_uri_local(sh.uri);
		h->conn = virConnectOpen(sh.uri);
		if (!h->conn) {
			log_warn("libvirt host %s: cannot connect: %s; marked down", sh.uri,
				 fleet_err());
			libvirt_sched_set_down(s, i, 1);
			continue;
		}
		if (virConnectSetKeepAlive(h->conn, FLEET_KEEPALIVE_S, FLEET_KEEPALIVE_COUNT) < 0)
			log_debug("libvirt host %s: no keepalive: %s", sh.uri, fleet_err());
		if (virConnectRegisterCloseCallback(h->conn, fleet_on_close, h, NULL) < 0)
			log_warn("libvirt host %s: no close callback: %s", sh.uri, fleet_err());
		h->lifecycle_id = virConnectDomainEventRegisterAny(
			h->conn, NULL, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
			VIR_DOMAIN_EVENT_CALLBACK(fleet_on_lifecycle), h, NULL);
		libvirt_sched_set_down(s, i, 0);
		up++;
	}
	if (!up) {
		log_err("libvirt: no host of the fleet can be reached");
		libvirt_fleet_free(f);
		return -EHOSTDOWN;
	}
	*out = f;
	return 0;
}

void libvirt_fleet_free(struct libvirt_fleet *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		struct fleet_host *h = &f->hosts[i];

		if (!h->conn)
			continue;
		if (h->lifecycle_id >= 0)
			virConnectDomainEventDeregisterAny(h->conn, h->lifecycle_id);
		virConnectUnregisterCloseCallback(h->conn, fleet_on_close);
		virConnectClose(h->conn);
		h->conn = NULL;
	}
	libvirt_sched_free(f->sched);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

struct libvirt_sched *libvirt_fleet_sched(struct libvirt_fleet *f)
{
	return f->sched;
}

/* The connection of d's host, or NULL if it is down. */
static virConnectPtr domain_conn(struct libvirt_domain *d)
{
	struct libvirt_sched_host sh;

	if (libvirt_sched_host(d->f->sched, d->host, &sh) < 0 || sh.down)
		return NULL;
	return d->f->hosts[d->host].conn;
}

static int domain_limit_and_run(struct libvirt_domain *d);

/* Find the channel socket or vsock CID in the live XML. */
static void domain_read_channel(struct libvirt_domain *d)
{
	char *xml = virDomainGetXMLDesc(d->dom, 0), *p, *q;

	d->channel[0] = '\0';
	d->cid = 0;
	if (!xml)
		return;
	p = strstr(xml, "name='" LIBVIRT_XML_CHANNEL "'");
	if (p) {
		/* <source mode='bind' path='...'/> precedes the target in the channel. */
		char *ch = xml, *src = NULL;

		while ((ch = strstr(ch, "<channel")) && ch < p) {
			src = ch;
			ch++;
		}
		if (src && (q = strstr(src, "path='")) && q < p) {
			q += 6;
			size_t n = strcspn(q, "'");
			if (n < sizeof(d->channel) && !memchr(q, '&', n)) {
				memcpy(d->channel, q, n);
				d->channel[n] = '\0';
			}
		}
	}
	p = strstr(xml, "<vsock");
	if (p && (q = strstr(p, "<cid ")) && (q = strstr(q, "address='")))
		d->cid = (unsigned)strtoul(q + 9, NULL, 10);
	free(xml);
}

/* Start paused, set the memory hard limit on the live domain (see
 * libvirt_xml_config.memtune_live), then run. */
static int domain_create(struct libvirt_domain *d, virConnectPtr conn, const char *xml)
{
	d->dom = virDomainCreateXML(conn, xml, VIR_DOMAIN_START_PAUSED);
	if (!d->dom) {
		log_err("domain %s: libvirt refused to start it: %s", d->name, fleet_err());
		return -EIO;
	}
	if (domain_limit_and_run(d) < 0) {
		virDomainDestroy(d->dom);
		virDomainFree(d->dom);
		d->dom = NULL;
		return -EIO;
	}
	domain_read_channel(d);
	return 0;
}

int libvirt_domain_start(struct libvirt_fleet *f, const struct libvirt_domain_config *cfg,
			 struct libvirt_domain **out)
{
	struct libvirt_xml_config xc = { 0 };
	struct libvirt_domain *d;
	virConnectPtr conn;
	char *xml = NULL;
	int r;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->f = f;
	d->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->evfd < 0) {
		r = -errno;
		free(d);
		return r;
	}
	if (snprintf(d->name, sizeof(d->name), LIBVIRT_DOMAIN_PREFIX "%s", cfg->name) >=
	    (int)sizeof(d->name)) {
		r = -ENAMETOOLONG;
		goto fail_fd;
	}
	d->vcpus = libvirt_xml_vcpus(cfg->cpu_millis);
	d->mem = cfg->mem_bytes;
	r = libvirt_sched_place(f->sched, d->vcpus, d->mem, &d->host);
	if (r < 0) {
		log_err("domain %s: no libvirt host has room for %u vCPUs and %llu MiB%s", d->name,
			d->vcpus, (unsigned long long)(d->mem >> 20),
			r == -EHOSTDOWN ? " (every host is down)" : "");
		goto fail_fd;
	}
	xc.name = d->name;
	xc.kernel = cfg->kernel;
	xc.initrd = cfg->initrd;
	xc.cmdline = cfg->cmdline;
	xc.disk = cfg->disk;
	xc.console = cfg->console;
	xc.mem_bytes = cfg->mem_bytes;
	xc.cpu_millis = cfg->cpu_millis;
	xc.memtune_live = 1;
	xc.run_as = cfg->run_as;
	{
		struct libvirt_sched_host sh;

		if (libvirt_sched_host(f->sched, d->host, &sh) == 0 &&
		    strcmp(sh.virt_type, "qemu") == 0)
			xc.virt_type = "qemu";
	}
	xc.channel = access("/dev/vhost-vsock", F_OK) == 0 && f->hosts[d->host].local
			     ? LIBVIRT_XML_VSOCK
			     : LIBVIRT_XML_SERIAL;
	r = libvirt_xml_domain(&xc, &xml);
	if (r < 0) {
		log_err("domain %s: cannot build its XML: %s", d->name, strerror(-r));
		goto fail_place;
	}
	conn = domain_conn(d);
	r = conn ? domain_create(d, conn, xml) : -EHOSTDOWN;
	free(xml);
	if (r < 0)
		goto fail_place;
	pthread_mutex_lock(&f->lock);
	d->next = f->domains;
	f->domains = d;
	pthread_mutex_unlock(&f->lock);
	*out = d;
	return 0;
fail_place:
	libvirt_sched_release(f->sched, d->host, d->vcpus, d->mem);
fail_fd:
	close(d->evfd);
	free(d);
	return r;
}

/* We are about to stop d's run (own = 1), or that failed (own = -1). */
static void domain_own_stop(struct libvirt_domain *d, int own)
{
	pthread_mutex_lock(&d->f->lock);
	/* A run already seen to end sends no other event. */
	if (own < 0 || !d->gone)
		d->own_stops += own;
	if (d->own_stops < 0)
		d->own_stops = 0;
	pthread_mutex_unlock(&d->f->lock);
}

/* d's run ended by our hand: its exit fd fires now, not when libvirt's
 * event comes (that one is dropped: own_stops). */
static void domain_mark_gone(struct libvirt_domain *d)
{
	uint64_t one = 1;

	pthread_mutex_lock(&d->f->lock);
	d->gone = 1;
	if (write(d->evfd, &one, sizeof(one)) < 0)
		log_debug("domain %s: exit fd: %s", d->name, strerror(errno));
	pthread_mutex_unlock(&d->f->lock);
}

int libvirt_domain_stop(struct libvirt_domain *d)
{
	int r = 0;

	if (!d->dom)
		return 0;
	if (domain_conn(d)) {
		domain_own_stop(d, 1);
		if (virDomainDestroy(d->dom) < 0 && virDomainIsActive(d->dom) == 1) {
			log_err("domain %s: cannot destroy it: %s", d->name, fleet_err());
			domain_own_stop(d, -1);
			r = -EIO;
		} else {
			domain_mark_gone(d);
		}
	}
	virDomainFree(d->dom);
	d->dom = NULL;
	return r;
}

void libvirt_domain_free(struct libvirt_domain *d)
{
	struct libvirt_domain **pp;

	if (!d)
		return;
	libvirt_domain_stop(d);
	pthread_mutex_lock(&d->f->lock);
	for (pp = &d->f->domains; *pp; pp = &(*pp)->next)
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	pthread_mutex_unlock(&d->f->lock);
	libvirt_sched_release(d->f->sched, d->host, d->vcpus, d->mem);
	close(d->evfd);
	free(d);
}

int libvirt_domain_info(struct libvirt_domain *d, struct libvirt_domain_info *out)
{
	virDomainInfo info;

	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->dom || virDomainGetInfo(d->dom, &info) < 0)
		return -ESRCH;
	out->state = info.state;
	out->vcpus = info.nrVirtCpu;
	out->mem_bytes = (uint64_t)info.memory << 10;
	out->cpu_time_ns = info.cpuTime;
	return 0;
}

int libvirt_domain_xml(struct libvirt_domain *d, char **out)
{
	*out = NULL;
	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->dom || !(*out = virDomainGetXMLDesc(d->dom, 0)))
		return -ESRCH;
	return 0;
}

size_t libvirt_domain_host(const struct libvirt_domain *d)
{
	return d->host;
}

const char *libvirt_domain_name(const struct libvirt_domain *d)
{
	return d->name;
}

int libvirt_domain_is_local(const struct libvirt_domain *d)
{
	return d->f->hosts[d->host].local;
}

const char *libvirt_domain_channel(const struct libvirt_domain *d)
{
	return d->channel;
}

int libvirt_domain_exit_fd(struct libvirt_domain *d)
{
	return d->evfd;
}

int libvirt_domain_save(struct libvirt_domain *d, const char *path)
{
	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->dom)
		return -ESRCH;
	domain_own_stop(d, 1);
	if (virDomainSaveFlags(d->dom, path, NULL, VIR_DOMAIN_SAVE_RUNNING) < 0) {
		log_err("domain %s: save to %s failed: %s", d->name, path, fleet_err());
		if (virDomainIsActive(d->dom) == 1)
			domain_own_stop(d, -1);
		return -EIO;
	}
	domain_mark_gone(d);
	virDomainFree(d->dom);
	d->dom = NULL;
	return 0;
}

int libvirt_domain_suspend(struct libvirt_domain *d)
{
	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->dom)
		return -ESRCH;
	if (virDomainSuspend(d->dom) < 0) {
		log_err("domain %s: cannot pause it: %s", d->name, fleet_err());
		return -EIO;
	}
	return 0;
}

int libvirt_domain_resume(struct libvirt_domain *d)
{
	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->dom)
		return -ESRCH;
	if (virDomainResume(d->dom) < 0) {
		log_err("domain %s: cannot resume it: %s", d->name, fleet_err());
		return -EIO;
	}
	return 0;
}

/* Set the memory hard limit of the paused domain, then run it. */
static int domain_limit_and_run(struct libvirt_domain *d)
{
	virTypedParameter p = { .field = VIR_DOMAIN_MEMORY_HARD_LIMIT,
				.type = VIR_TYPED_PARAM_ULLONG };

	p.value.ul = libvirt_xml_hard_limit_kib(d->mem);
	if (virDomainSetMemoryParameters(d->dom, &p, 1, VIR_DOMAIN_AFFECT_LIVE) < 0) {
		log_err("domain %s: cannot set its memory hard limit: %s", d->name, fleet_err());
		return -EIO;
	}
	if (virDomainResume(d->dom) < 0) {
		log_err("domain %s: cannot run it: %s", d->name, fleet_err());
		return -EIO;
	}
	return 0;
}

/* The save file's XML without <memtune> (restored paused, the limit is set
 * live as at creation). NULL if the file has none: restore it as it is. */
static char *domain_restore_xml(virConnectPtr conn, const char *path)
{
	char *xml = virDomainSaveImageGetXMLDesc(conn, path, VIR_DOMAIN_SAVE_IMAGE_XML_SECURE);
	char *a, *b;

	if (!xml)
		return NULL;
	a = strstr(xml, "<memtune>");
	b = a ? strstr(a, "</memtune>") : NULL;
	if (!b) {
		free(xml);
		return NULL;
	}
	b += strlen("</memtune>");
	memmove(a, b, strlen(b) + 1);
	return xml;
}

int libvirt_domain_restore(struct libvirt_domain *d, const char *path)
{
	virConnectPtr conn = domain_conn(d);
	uint64_t junk;
	char *xml;
	int r;

	if (!conn)
		return -EHOSTDOWN;
	if (libvirt_domain_stop(d) < 0)
		return -EIO;
	xml = domain_restore_xml(conn, path);
	r = virDomainRestoreFlags(conn, path, xml, VIR_DOMAIN_SAVE_PAUSED);
	free(xml);
	if (r < 0) {
		log_err("domain %s: restore from %s failed: %s", d->name, path, fleet_err());
		return -EIO;
	}
	d->dom = virDomainLookupByName(conn, d->name);
	if (!d->dom) {
		log_err("domain %s: gone right after its restore: %s", d->name, fleet_err());
		return -ESRCH;
	}
	r = domain_limit_and_run(d);
	if (r < 0) {
		libvirt_domain_stop(d);
		return r;
	}
	/* The stop above (or the save before) fired the exit fd: this is a new
	 * run. */
	pthread_mutex_lock(&d->f->lock);
	d->gone = 0;
	while (read(d->evfd, &junk, sizeof(junk)) > 0)
		;
	pthread_mutex_unlock(&d->f->lock);
	domain_read_channel(d);
	return 0;
}

int libvirt_domain_connect(struct libvirt_domain *d, int *fd)
{
	int s, r;

	*fd = -1;
	if (!domain_conn(d))
		return -EHOSTDOWN;
	if (!d->f->hosts[d->host].local)
		return -EREMOTE;
	if (d->cid) {
		struct sockaddr_vm sv = { .svm_family = AF_VSOCK,
					  .svm_cid = d->cid,
					  .svm_port = LIBVIRT_AGENT_VSOCK_PORT };

		s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		r = connect(s, (struct sockaddr *)&sv, sizeof(sv));
	} else if (d->channel[0]) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		memcpy(sa.sun_path, d->channel, strlen(d->channel) + 1);
		s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			return -errno;
		r = connect(s, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		return -ENOTCONN;
	}
	if (r < 0) {
		r = -errno;
		close(s);
		return r;
	}
	*fd = s;
	return 0;
}

int libvirt_fleet_remove_domain(struct libvirt_fleet *f, const char *name)
{
	char dname[128];
	int found = 0;

	if (snprintf(dname, sizeof(dname), LIBVIRT_DOMAIN_PREFIX "%s", name) >= (int)sizeof(dname))
		return -ENAMETOOLONG;
	for (size_t i = 0; i < f->n; i++) {
		struct libvirt_sched_host sh;
		virDomainPtr dom;

		if (libvirt_sched_host(f->sched, i, &sh) < 0 || sh.down || !f->hosts[i].conn)
			continue;
		dom = virDomainLookupByName(f->hosts[i].conn, dname);
		if (!dom)
			continue;
		found = 1;
		if (virDomainDestroy(dom) < 0 && virDomainIsActive(dom) == 1)
			log_warn("domain %s on %s: cannot destroy it: %s", dname, sh.uri,
				 fleet_err());
		else
			log_info("domain %s on %s: left over, destroyed", dname, sh.uri);
		virDomainFree(dom);
	}
	return found ? 0 : -ESRCH;
}

int libvirt_probe_uri(const char *uri, char *why, size_t len)
{
	unsigned long ver = 0;
	virConnectPtr c;

	pthread_once(&fleet_once, fleet_event_init);
	c = virConnectOpenReadOnly(uri);
	if (!c) {
		snprintf(why, len, "cannot connect to %s: %s", uri, fleet_err());
		return -ECONNREFUSED;
	}
	virConnectGetLibVersion(c, &ver);
	snprintf(why, len, "%s reachable (libvirt %lu.%lu.%lu)", uri, ver / 1000000,
		 ver / 1000 % 1000, ver % 1000);
	virConnectClose(c);
	return 0;
}

#else /* built without libvirt-dev */

int libvirt_probe_uri(const char *uri, char *why, size_t len)
{
	(void)uri;
	snprintf(why, len, "built without libvirt (libvirt-dev)");
	return -ENOTSUP;
}

int libvirt_available(void)
{
	return 0;
}

int libvirt_fleet_open(struct libvirt_sched *s, struct libvirt_fleet **out)
{
	*out = NULL;
	libvirt_sched_free(s);
	log_err("built without libvirt (install libvirt-dev and rebuild)");
	return -ENOTSUP;
}

void libvirt_fleet_free(struct libvirt_fleet *f)
{
	(void)f;
}

struct libvirt_sched *libvirt_fleet_sched(struct libvirt_fleet *f)
{
	(void)f;
	return NULL;
}

int libvirt_fleet_remove_domain(struct libvirt_fleet *f, const char *name)
{
	(void)f;
	(void)name;
	return -ENOTSUP;
}

int libvirt_domain_start(struct libvirt_fleet *f, const struct libvirt_domain_config *cfg,
			 struct libvirt_domain **out)
{
	(void)f;
	(void)cfg;
	*out = NULL;
	return -ENOTSUP;
}

void libvirt_domain_free(struct libvirt_domain *d)
{
	(void)d;
}

int libvirt_domain_info(struct libvirt_domain *d, struct libvirt_domain_info *out)
{
	(void)d;
	(void)out;
	return -ENOTSUP;
}

int libvirt_domain_xml(struct libvirt_domain *d, char **out)
{
	(void)d;
	*out = NULL;
	return -ENOTSUP;
}

size_t libvirt_domain_host(const struct libvirt_domain *d)
{
	(void)d;
	return 0;
}

const char *libvirt_domain_name(const struct libvirt_domain *d)
{
	(void)d;
	return "";
}

const char *libvirt_domain_channel(const struct libvirt_domain *d)
{
	(void)d;
	return "";
}

int libvirt_domain_is_local(const struct libvirt_domain *d)
{
	(void)d;
	return 0;
}

int libvirt_domain_exit_fd(struct libvirt_domain *d)
{
	(void)d;
	return -1;
}

int libvirt_domain_save(struct libvirt_domain *d, const char *path)
{
	(void)d;
	(void)path;
	return -ENOTSUP;
}

int libvirt_domain_restore(struct libvirt_domain *d, const char *path)
{
	(void)d;
	(void)path;
	return -ENOTSUP;
}

/* d's run ended by our hand: its exit fd fires now, not when libvirt's
 * event comes (that one is dropped: own_stops). */
static void domain_mark_gone(struct libvirt_domain *d)
{
	uint64_t one = 1;

	pthread_mutex_lock(&d->f->lock);
	d->gone = 1;
	if (write(d->evfd, &one, sizeof(one)) < 0)
		log_debug("domain %s: exit fd: %s", d->name, strerror(errno));
	pthread_mutex_unlock(&d->f->lock);
}

int libvirt_domain_stop(struct libvirt_domain *d)
{
	(void)d;
	return -ENOTSUP;
}

int libvirt_domain_suspend(struct libvirt_domain *d)
{
	(void)d;
	return -ENOTSUP;
}

int libvirt_domain_resume(struct libvirt_domain *d)
{
	(void)d;
	return -ENOTSUP;
}

int libvirt_domain_connect(struct libvirt_domain *d, int *fd)
{
	(void)d;
	*fd = -1;
	return -ENOTSUP;
}

#endif

int libvirt_cmdline(const char *extra, char *out, size_t len)
{
	/* The agent listens on the channel's port, by its name (the guest has
	 * no udev: the agent looks the name up in sysfs), and on vsock, for
	 * hosts with vhost-vsock. */
	int n = snprintf(out, len,
			 "console=ttyS0 root=/dev/vda ro rootfstype=erofs panic=-1 reboot=k%s%s"
			 " init=/sbin/init -- --vm --listen serial:" LIBVIRT_XML_GUEST_PORT
			 " --listen vsock:%d",
			 extra && *extra ? " " : "", extra ? extra : "", LIBVIRT_AGENT_VSOCK_PORT);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}
