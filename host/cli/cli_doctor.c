/* agentvm doctor: what this host can isolate with, and why. Every check is a
 * row (name, status, detail); then a verdict per isolation level. Always
 * exits 0: the report is the product. */
#include "host/cli/cli.h"

#include "host/backend.h"
#include "host/cgroup.h"
#include "host/hostprobe.h"
#include "host/libexec.h"
#include "host/sandbox_seccomp.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define DOCTOR_MAX_CHECKS 32

struct doctor_check {
	const char *name;
	struct hostprobe_result r;
};

struct doctor {
	struct doctor_check c[DOCTOR_MAX_CHECKS];
	int n;
};

static const char cli_doctor_usage[] =
	"Usage: agentvm doctor [--json]\n"
	"Check this host: /dev/kvm, whether KVM guests' user space can run here (a synthetic\n"
	"SYSCALL probe) and how fast guest kernel code runs, cgroups, namespaces, seccomp,\n"
	"overlayfs, the agent, the images and chromium. Prints a table of checks and a verdict\n"
	"for each isolation level, then what of agentvm runs here: synthetic test guests,\n"
	"the guest kernel to its init, the agent in a microVM, the stack in containers,\n"
	"libvirt domains. The libvirt verdict follows AGENTVM_LIBVIRT_URI,\n"
	"AGENTVM_LIBVIRT_HOSTS and AGENTVM_LIBVIRT_VIRT_TYPE (kvm, or qemu: TCG for testing).\n"
	"\n"
	"  --json      the same report as one JSON object\n"
	"  -h, --help  show this help\n";

static struct hostprobe_result *doctor_add(struct doctor *d, const char *name)
{
	struct doctor_check *c = &d->c[d->n < DOCTOR_MAX_CHECKS - 1 ? d->n++ : d->n];

	c->name = name;
	c->r.status = HOSTPROBE_SKIP;
	c->r.detail[0] = '\0';
	return &c->r;
}

static __attribute__((format(printf, 3, 4))) void
doctor_set(struct hostprobe_result *r, enum hostprobe_status s, const char *fmt, ...)
{
	va_list ap;

	r->status = s;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static const struct hostprobe_result *doctor_get(const struct doctor *d, const char *name)
{
	for (int i = 0; i < d->n; i++)
		if (strcmp(d->c[i].name, name) == 0)
			return &d->c[i].r;
	return NULL;
}

static int doctor_ok(const struct doctor *d, const char *name)
{
	const struct hostprobe_result *r = doctor_get(d, name);

	return r && (r->status == HOSTPROBE_OK || r->status == HOSTPROBE_WARN);
}

static void doctor_programs(struct doctor *d, char *vmm, char *agent, size_t len)
{
	struct hostprobe_result *r;
	char buf[PATH_MAX];

	r = doctor_add(d, "agentvm-vmm");
	if (libexec_path("agentvm-vmm", vmm, len) == 0)
		doctor_set(r, HOSTPROBE_OK, "%s", vmm);
	else
		doctor_set(r, HOSTPROBE_FAIL, "%s is missing (make all, or set AGENTVM_LIBEXEC)",
			   vmm);

	r = doctor_add(d, "agentvm-agent");
	if (libexec_path("agentvm-agent", agent, len) < 0)
		doctor_set(r, HOSTPROBE_FAIL, "%s is missing (make all, or set AGENTVM_LIBEXEC)",
			   agent);
	else if (!cli_image_agent(buf, sizeof(buf)))
		doctor_set(r, HOSTPROBE_WARN,
			   "%s is not a static program: sandboxes use their image's own /sbin/init",
			   agent);
	else
		doctor_set(r, HOSTPROBE_OK, "%s (static)", agent);
}

static void doctor_kvm(struct doctor *d, const char *vmm)
{
	char guest[PATH_MAX];
	double ratio;
	struct hostprobe_result *kvm = doctor_add(d, "kvm");
	struct hostprobe_result *sys = doctor_add(d, "guest-user-space");
	struct hostprobe_result *spd = doctor_add(d, "guest-kernel-speed");

	hostprobe_kvm(kvm);
	if (kvm->status != HOSTPROBE_OK) {
		doctor_set(sys, HOSTPROBE_SKIP, "needs /dev/kvm");
		doctor_set(spd, HOSTPROBE_SKIP, "needs /dev/kvm");
		return;
	}
	libexec_path("guests/syscall_probe.elf", guest, sizeof(guest));
	hostprobe_guest_syscall(vmm, guest, sys);
	libexec_path("guests/speed_probe.elf", guest, sizeof(guest));
	hostprobe_guest_speed(vmm, guest, &ratio, spd);
}

static void doctor_kernel(struct doctor *d, const char *images)
{
	struct hostprobe_result *r = doctor_add(d, "guest-kernel");
	char script[PATH_MAX + 32], dir[PATH_MAX], path[PATH_MAX + 32];
	const char *argv[] = { script, "--dir", NULL };
	int st;

	snprintf(script, sizeof(script), "%s/kernel/build.sh", images);
	if (access(script, X_OK) < 0) {
		doctor_set(r, HOSTPROBE_SKIP, "no kernel build script at %s", script);
		return;
	}
	st = hostprobe_run(argv, dir, sizeof(dir), 30000, 0);
	dir[strcspn(dir, "\n")] = '\0';
	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || !dir[0]) {
		doctor_set(r, HOSTPROBE_SKIP, "%s --dir failed", script);
		return;
	}
	snprintf(path, sizeof(path), "%s/vmlinux", dir);
	if (access(path, R_OK) == 0)
		doctor_set(r, HOSTPROBE_OK, "%s", dir);
	else
		doctor_set(r, HOSTPROBE_WARN, "not built (make kernel)");
}

static void doctor_cgroups(struct doctor *d)
{
	static const char *const names[CGROUP_NCTRL] = { "cgroup-memory", "cgroup-pids",
							 "cgroup-cpu" };

	for (int c = 0; c < CGROUP_NCTRL; c++) {
		struct hostprobe_result *r = doctor_add(d, names[c]);
		struct cgroup_place pl;
		int e = cgroup_locate(c, &pl);

		if (e < 0)
			doctor_set(r, HOSTPROBE_FAIL, "the %s controller is not available (%s)",
				   cgroup_ctrl_name(c), strerror(-e));
		else if (access(pl.self_dir, W_OK) < 0)
			doctor_set(r, HOSTPROBE_FAIL, "v%d, %s is not writable", pl.version,
				   pl.self_dir);
		else
			doctor_set(r, HOSTPROBE_OK, "v%d, sandboxes go below %s/agentvm",
				   pl.version, pl.self_dir);
	}
}

static void doctor_images(struct doctor *d, const char *agent)
{
	static const char *const want[] = { "minimal", "base" };
	static const char *const check[] = { "image-minimal", "image-base" };

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		struct hostprobe_result *r = doctor_add(d, check[i]);
		char dir[PATH_MAX];
		int st = cli_image_locate(want[i], agent, dir, sizeof(dir));

		if (st == 1)
			doctor_set(r, HOSTPROBE_OK, "%s", dir);
		else if (st == 0)
			doctor_set(r, HOSTPROBE_WARN,
				   "not built yet (agentvm run builds it on first use; or "
				   "images/%s/build.sh)",
				   want[i]);
		else
			doctor_set(r, HOSTPROBE_SKIP, "no build script for it (%s)", strerror(-st));
	}
}

/* The first existing program among candidates, with its --version line. */
static void doctor_chromium(struct doctor *d)
{
	static const char *const cands[] = { "/usr/bin/chromium", "/usr/bin/chromium-browser",
					     "/usr/bin/google-chrome" };
	struct hostprobe_result *r = doctor_add(d, "chromium");

	for (size_t i = 0; i < sizeof(cands) / sizeof(cands[0]); i++) {
		char out[256];
		const char *argv[] = { cands[i], "--version", NULL };
		int st;

		if (access(cands[i], X_OK) < 0)
			continue;
		st = hostprobe_run(argv, out, sizeof(out), 15000, 0);
		out[strcspn(out, "\n")] = '\0';
		if (st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && out[0])
			doctor_set(r, HOSTPROBE_OK, "%s: %s", cands[i], out);
		else
			doctor_set(r, HOSTPROBE_WARN, "%s does not run (--version failed)",
				   cands[i]);
		return;
	}
	doctor_set(r, HOSTPROBE_WARN,
		   "not installed on the host (browser sessions run inside "
		   "images that carry it)");
}

struct doctor_verdict {
	const char *level;
	int available;
	char reason[512];
};

static void doctor_verdicts(const struct doctor *d, struct doctor_verdict v[3])
{
	const struct hostprobe_result *sys = doctor_get(d, "guest-user-space");
	const struct hostprobe_result *kvm = doctor_get(d, "kvm");
	static const char *const container_needs[] = {
		"root",		 "namespaces",	"overlayfs",  "seccomp",
		"cgroup-memory", "cgroup-pids", "cgroup-cpu", "agentvm-agent",
	};
	char why[512];

	v[0].level = "microvm";
	v[0].available = 0;
	if (!doctor_ok(d, "kvm")) {
		snprintf(v[0].reason, sizeof(v[0].reason), "no usable KVM: %s", kvm->detail);
	} else if (sys->status == HOSTPROBE_FAIL) {
		snprintf(v[0].reason, sizeof(v[0].reason), "%s", sys->detail);
	} else if (sys->status != HOSTPROBE_OK) {
		snprintf(v[0].reason, sizeof(v[0].reason), "cannot tell: %s", sys->detail);
	} else {
		/* The backend has the last word: can agentvm start the guest here? */
		const struct backend_ops *ops;
		backend_lookup("microvm", &ops);
		v[0].available = ops->probe(why, sizeof(why)) == 0;
		snprintf(v[0].reason, sizeof(v[0].reason), "%s", why);
	}

	v[1].level = "container";
	v[1].available = 1;
	why[0] = '\0';
	for (size_t i = 0; i < sizeof(container_needs) / sizeof(container_needs[0]); i++) {
		const struct hostprobe_result *r = doctor_get(d, container_needs[i]);
		if (r && r->status != HOSTPROBE_FAIL)
			continue;
		v[1].available = 0;
		size_t l = strlen(why);
		snprintf(why + l, sizeof(why) - l, "%s%s: %s", l ? "; " : "", container_needs[i],
			 r ? r->detail : "not checked");
	}
	if (v[1].available)
		snprintf(v[1].reason, sizeof(v[1].reason),
			 "namespaces (mount pid net ipc uts cgroup), overlayfs on the image, "
			 "cgroup limits, %d-syscall seccomp deny-list, reduced capabilities; "
			 "weaker than a VM: the host kernel is shared",
			 sandbox_seccomp_count());
	else
		snprintf(v[1].reason, sizeof(v[1].reason), "%s", why);

	/* libvirt: its daemon reachable, and guests whose user space runs (the
	 * agent is the guest's PID 1, as in a microVM). A KVM domain's user space
	 * runs where this host's KVM runs it; a qemu (TCG) domain emulates the
	 * whole guest in software, so it runs wherever libvirtd runs. */
	v[2].level = "libvirt";
	v[2].available = 0;
	{
		const struct backend_ops *ops;
		const char *vt = getenv("AGENTVM_LIBVIRT_VIRT_TYPE");
		const char *hosts = getenv("AGENTVM_LIBVIRT_HOSTS");
		int tcg = vt && strcmp(vt, "qemu") == 0;
		int lr = backend_lookup("libvirt", &ops) == 0 ? ops->probe(why, sizeof(why))
							      : -ENOENT;

		if (lr < 0) {
			snprintf(v[2].reason, sizeof(v[2].reason), "%s",
				 lr == -ENOENT ? "not built in" : why);
		} else if (hosts && *hosts) {
			v[2].available = 1;
			snprintf(v[2].reason, sizeof(v[2].reason),
				 "%s; each host's virt_type says how: kvm needs a KVM that runs "
				 "guest user space there, qemu (TCG, for testing) runs anywhere",
				 why);
		} else if (tcg) {
			v[2].available = 1;
			snprintf(v[2].reason, sizeof(v[2].reason),
				 "%s; virt_type qemu: TCG domains emulate the whole guest, so they "
				 "run wherever libvirtd runs (for testing: far slower than KVM)",
				 why);
		} else if (sys->status != HOSTPROBE_OK) {
			snprintf(v[2].reason, sizeof(v[2].reason),
				 "%s, but KVM domains need a KVM that runs guest user space: %s "
				 "(AGENTVM_LIBVIRT_VIRT_TYPE=qemu runs TCG domains here, for "
				 "testing)",
				 why, sys->detail);
		} else {
			v[2].available = 1;
			snprintf(v[2].reason, sizeof(v[2].reason),
				 "%s; KVM domains with the agent on virtio-serial or vsock", why);
		}
	}
}

/* What of agentvm this host can run, from the checks and verdicts: the
 * three ways the project proves itself on a host whose KVM cannot run guest
 * user space, and the full thing where it can. */
struct doctor_run {
	const char *what;
	int yes;
	char why[600];
};

#define DOCTOR_NRUNS 5

static void doctor_runs(const struct doctor *d, const struct doctor_verdict v[3],
			struct doctor_run r[DOCTOR_NRUNS])
{
	const struct hostprobe_result *kvm = doctor_get(d, "kvm");
	const struct hostprobe_result *spd = doctor_get(d, "guest-kernel-speed");
	const struct hostprobe_result *kern = doctor_get(d, "guest-kernel");
	int kvm_ok = doctor_ok(d, "kvm") && doctor_ok(d, "agentvm-vmm");

	r[0].what = "synthetic test guests in agentvm-vmm (make test-guests; agentvmd "
		    "templates with guest \"test\")";
	r[0].yes = kvm_ok;
	snprintf(r[0].why, sizeof(r[0].why), "%s",
		 kvm_ok ? "KVM runs guest user-mode code at full speed here"
			: (kvm && kvm->status != HOSTPROBE_OK ? kvm->detail
							      : "agentvm-vmm is not built"));
	r[1].what = "the guest kernel booting to its init (make test-boot)";
	r[1].yes = kvm_ok && kern && kern->status == HOSTPROBE_OK;
	if (!kvm_ok)
		snprintf(r[1].why, sizeof(r[1].why), "needs a usable KVM");
	else if (!r[1].yes)
		snprintf(r[1].why, sizeof(r[1].why), "the guest kernel is not built (make kernel)");
	else if (spd && spd->status == HOSTPROBE_WARN)
		snprintf(r[1].why, sizeof(r[1].why), "slowly, minutes to init: %s", spd->detail);
	else
		snprintf(r[1].why, sizeof(r[1].why), "at full speed");
	r[2].what = "the agent inside a microVM (the whole stack, as deployed)";
	r[2].yes = v[0].available;
	snprintf(r[2].why, sizeof(r[2].why), "%s", v[0].reason);
	r[3].what = "the whole stack in containers (agent, quotas, audit, egress, browser)";
	r[3].yes = v[1].available;
	snprintf(r[3].why, sizeof(r[3].why), "%s",
		 v[1].available ? "see the container verdict" : v[1].reason);
	r[4].what = "libvirt domains (fleets; TCG domains for testing)";
	r[4].yes = v[2].available;
	snprintf(r[4].why, sizeof(r[4].why), "%s",
		 v[2].available ? "see the libvirt verdict" : v[2].reason);
}

static void doctor_print_table(const struct doctor *d, const struct doctor_verdict v[3])
{
	struct doctor_run r[DOCTOR_NRUNS];

	printf("%-20s %-6s %s\n", "CHECK", "STATUS", "DETAIL");
	for (int i = 0; i < d->n; i++)
		printf("%-20s %-6s %s\n", d->c[i].name, hostprobe_status_name(d->c[i].r.status),
		       d->c[i].r.detail);
	printf("\n%-10s %-11s %s\n", "ISOLATION", "VERDICT", "REASON");
	for (int i = 0; i < 3; i++)
		printf("%-10s %-11s %s\n", v[i].level, v[i].available ? "available" : "unavailable",
		       v[i].reason);
	printf("\n--isolation auto picks: %s\n",
	       v[0].available ? "microvm" : (v[1].available ? "container" : "nothing (see above)"));
	doctor_runs(d, v, r);
	printf("\nWHAT RUNS HERE\n");
	for (int i = 0; i < DOCTOR_NRUNS; i++)
		printf("  %-3s %s\n      %s\n", r[i].yes ? "yes" : "no", r[i].what, r[i].why);
}

static void doctor_print_json(const struct doctor *d, const struct doctor_verdict v[3])
{
	struct json_object *root = json_object_new_object();
	struct json_object *checks = json_object_new_array();
	struct json_object *iso = json_object_new_object();
	struct json_object *runs = json_object_new_array();
	struct doctor_run r[DOCTOR_NRUNS];

	doctor_runs(d, v, r);
	for (int i = 0; i < DOCTOR_NRUNS; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "what", json_object_new_string(r[i].what));
		json_object_object_add(o, "yes", json_object_new_boolean(r[i].yes));
		json_object_object_add(o, "why", json_object_new_string(r[i].why));
		json_object_array_add(runs, o);
	}
	for (int i = 0; i < d->n; i++) {
		struct json_object *c = json_object_new_object();
		json_object_object_add(c, "name", json_object_new_string(d->c[i].name));
		json_object_object_add(
			c, "status",
			json_object_new_string(hostprobe_status_name(d->c[i].r.status)));
		json_object_object_add(c, "detail", json_object_new_string(d->c[i].r.detail));
		json_object_array_add(checks, c);
	}
	for (int i = 0; i < 3; i++) {
		struct json_object *o = json_object_new_object();
		json_object_object_add(o, "available", json_object_new_boolean(v[i].available));
		json_object_object_add(o, "reason", json_object_new_string(v[i].reason));
		json_object_object_add(iso, v[i].level, o);
	}
	json_object_object_add(root, "checks", checks);
	json_object_object_add(root, "isolation", iso);
	json_object_object_add(root, "runs", runs);
	json_object_object_add(root, "auto",
			       v[0].available	? json_object_new_string("microvm")
			       : v[1].available ? json_object_new_string("container")
						: NULL);
	printf("%s\n", json_object_to_json_string_ext(
			       root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
}

int cli_doctor_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct doctor d = { .n = 0 };
	struct doctor_verdict v[3];
	char vmm[PATH_MAX], agent[PATH_MAX], images[PATH_MAX];
	int json = 0, c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			fputs(cli_doctor_usage, stdout);
			return 0;
		default:
			if (optopt && optopt != 'j')
				return cli_usage_error("doctor", "unknown option '-%c'", optopt);
			return cli_usage_error("doctor", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("doctor", "unexpected argument '%s'", argv[optind]);

	doctor_programs(&d, vmm, agent, sizeof(vmm));
	doctor_kvm(&d, vmm);
	libexec_images_dir(images, sizeof(images));
	doctor_kernel(&d, images);
	{
		struct hostprobe_result *r = doctor_add(&d, "root");
		if (geteuid() == 0)
			doctor_set(r, HOSTPROBE_OK, "running as root");
		else
			doctor_set(r, HOSTPROBE_FAIL, "not root (uid %d): containers need root",
				   (int)geteuid());
	}
	hostprobe_namespaces(doctor_add(&d, "namespaces"));
	hostprobe_seccomp(doctor_add(&d, "seccomp"));
	hostprobe_overlay(doctor_add(&d, "overlayfs"));
	doctor_cgroups(&d);
	doctor_images(&d, cli_image_agent(agent, sizeof(agent)));
	doctor_chromium(&d);
	doctor_verdicts(&d, v);
	if (json)
		doctor_print_json(&d, v);
	else
		doctor_print_table(&d, v);
	return 0;
}
