#include "guest-agent/agent_info.h"

#include "common/json_util.h"
#include "guest-agent/agent.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/browser_proc.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

static const char *const info_capabilities[] = {
	"exec",	     "exec.pty",  "exec.stdin_stream", "signal",  "resize",
	"fs.read",   "fs.write",  "fs.stat",	       "fs.list", "fs.mkdir",
	"fs.remove", "fs.rename", "shutdown",
};

/* The browser ops are announced only when a chromium the agent would start is
 * there (looked for at each hello, where browser.open looks for it): a
 * client can tell a browser image from one without a browser before it asks. */
static const char *const info_browser_capabilities[] = {
	"browser.open",	    "browser.navigate", "browser.snapshot", "browser.click",
	"browser.fill",	    "browser.select",	"browser.press",    "browser.screenshot",
	"browser.evaluate", "browser.back",	"browser.tabs",	    "browser.close",
	"browser.list",
};

/* MemAvailable from /proc/meminfo in bytes, or -1. */
static long long info_mem_available(void)
{
	char line[256];
	long long kb = -1;
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb * 1024;
}

static struct json_object *info_str(const char *s)
{
	return json_util_new_string_lossy(s, strlen(s));
}

int agent_info_hello(struct agent *a, struct json_object **result, struct agent_error *err)
{
	struct json_object *o, *caps, *k, *mem;
	struct utsname u;
	struct sysinfo si;
	struct timespec now;
	char host[256];
	long long avail;
	size_t i;

	o = json_object_new_object();
	caps = json_object_new_array();
	k = json_object_new_object();
	mem = json_object_new_object();
	if (!o || !caps || !k || !mem) {
		json_object_put(o);
		json_object_put(caps);
		json_object_put(k);
		json_object_put(mem);
		agent_error_errno(err, ENOMEM, NULL, "hello");
		return -1;
	}
	json_object_object_add(o, "agent", json_object_new_string("agentvm-agent"));
	json_object_object_add(o, "version", json_object_new_string(AGENT_VERSION));
	json_object_object_add(o, "protocol", json_object_new_int(AGENT_PROTOCOL_VERSION));
	for (i = 0; i < sizeof(info_capabilities) / sizeof(info_capabilities[0]); i++)
		json_object_array_add(caps, json_object_new_string(info_capabilities[i]));
	{
		char chromium[PATH_MAX];

		if (browser_proc_find_chromium(chromium, sizeof(chromium)) == 0)
			for (i = 0; i < sizeof(info_browser_capabilities) /
						sizeof(info_browser_capabilities[0]);
			     i++)
				json_object_array_add(
					caps, json_object_new_string(info_browser_capabilities[i]));
	}
	json_object_object_add(o, "capabilities", caps);
	if (uname(&u) == 0) {
		json_object_object_add(k, "sysname", info_str(u.sysname));
		json_object_object_add(k, "release", info_str(u.release));
		json_object_object_add(k, "version", info_str(u.version));
		json_object_object_add(k, "machine", info_str(u.machine));
	}
	json_object_object_add(o, "kernel", k);
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		json_object_object_add(o, "hostname", info_str(host));
	}
	json_object_object_add(o, "cpus", json_object_new_int((int)sysconf(_SC_NPROCESSORS_ONLN)));
	if (sysinfo(&si) == 0) {
		avail = info_mem_available();
		if (avail < 0)
			avail = (long long)si.freeram * si.mem_unit;
		json_object_object_add(mem, "total",
				       json_object_new_int64((int64_t)si.totalram * si.mem_unit));
		json_object_object_add(mem, "available", json_object_new_int64(avail));
	}
	json_object_object_add(o, "memory", mem);
	json_object_object_add(o, "pid1", json_object_new_boolean(a->opt->pid1));
	json_object_object_add(o, "container", json_object_new_boolean(a->opt->container));
	if (clock_gettime(CLOCK_BOOTTIME, &now) == 0)
		json_object_object_add(
			o, "uptime_ms",
			json_object_new_int64((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	json_object_object_add(o, "agent_uptime_ms",
			       json_object_new_int64((int64_t)(agent_now_ms() - a->start_ms)));
	clock_gettime(CLOCK_REALTIME, &now);
	json_object_object_add(
		o, "time_ms",
		json_object_new_int64((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000));
	*result = o;
	return 0;
}
