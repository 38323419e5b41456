/* agentvm-agent: the guest agent. PID 1 of every sandbox; serves the agent
 * protocol (docs/PROTOCOL.md) on vsock or a Unix socket. */
#include "common/log.h"
#include "guest-agent/agent.h"
#include "guest-agent/agent_cmdline.h"
#include "guest-agent/agent_pid1.h"
#include "guest-agent/agent_proto.h"
#include "guest-agent/agent_proxy.h"
#include "guest-agent/browser.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: agentvm-agent [OPTION]...\n"
		"Run commands and file operations for the controller, speaking the agentvm\n"
		"agent protocol (length-prefixed JSON frames; see docs/PROTOCOL.md).\n"
		"\n"
		"  --listen ADDR       listen on ADDR (repeatable, up to %d):\n"
		"                        unix:PATH   a Unix stream socket at PATH\n"
		"                        vsock:PORT  AF_VSOCK, any CID, PORT (the VM default: "
		"1024)\n"
		"                        fd:N        an already-listening socket, fd N\n"
		"                        serial:PATH a virtio-serial port carrying one\n"
		"                                    connection (libvirt guests without vsock:\n"
		"                                    /dev/virtio-ports/org.agentvm.0)\n"
		"  --listen-fd N       same as --listen fd:N (the container backend passes one)\n"
		"  --hostname NAME     set the host name (PID 1 default: \"agentvm\")\n"
		"  --container         running in a container: shutdown exits instead of\n"
		"                      rebooting, and /tmp and /run are left to the runtime\n"
		"                      (also detected as PID 1 from $container or /.dockerenv)\n"
		"  --vm                running in a VM: ignore container markers\n"
		"  --max-connections N accept at most N clients at once (default %d)\n"
		"  --egress ADDR       serve an HTTP proxy for the sandbox's programs and carry\n"
		"                      each of its connections to the host's egress proxy at\n"
		"                      ADDR: unix:PATH, or vsock:PORT (CID 2); execs get\n"
		"                      http_proxy/https_proxy pointing at it (docs/EGRESS.md)\n"
		"  --egress-listen A:P where that proxy listens (default %s)\n"
		"  --chromium PATH     the browser the browser.* ops start (default:\n"
		"                      $AGENTVM_CHROMIUM, else /usr/lib/chromium/chromium,\n"
		"                      /usr/bin/chromium, /usr/bin/chromium-browser)\n"
		"  --browser-proxy URL|none\n"
		"                      the proxy of every browser session that names none\n"
		"                      (default: with --egress, the agent's own proxy; else\n"
		"                      $AGENTVM_BROWSER_PROXY, else http://127.0.0.1:3128);\n"
		"                      \"none\": no proxy\n"
		"  --browser-tmpdir DIR where browser profiles go (default: $TMPDIR, /tmp)\n"
		"  --browser-allow-evaluate\n"
		"                      allow browser.evaluate in every session\n"
		"  --debug             log debug messages (also AGENTVM_DEBUG=1)\n"
		"  --help              show this help and exit\n"
		"  --version           show the agent and protocol versions and exit\n"
		"\n"
		"As PID 1 it mounts /proc, /sys, /dev, /dev/pts, /dev/shm, /tmp and /run,\n"
		"brings up lo, reaps every orphan, and powers the machine off on \"shutdown\".\n"
		"With no --listen as PID 1 it listens on vsock:1024. SIGTERM or SIGINT shut\n"
		"it down like the \"shutdown\" op.\n"
		"\n"
		"As PID 1 in a VM (not a container) it also reads the kernel command line\n"
		"(/proc/cmdline), where the host puts what it cannot pass as flags:\n"
		"  agentvm.egress=vsock:PORT   as --egress vsock:PORT\n"
		"  agentvm.hostname=NAME       as --hostname NAME\n"
		"A flag given wins; a bad or unknown agentvm.* parameter is logged and ignored.\n",
		AGENT_LISTEN_MAX, AGENT_MAX_CONNS, AGENT_PROXY_LISTEN_DEFAULT);
}

/* In a VM the kernel starts us with no arguments of ours: take the settings
 * the host put on the kernel command line where no flag gave them. */
static void main_kernel_cmdline(struct agent_options *opt, struct agent_cmdline *kc)
{
	int r = agent_cmdline_read(AGENT_CMDLINE_PATH, kc);

	if (r < 0) {
		log_warn("reading %s: %s; no agentvm.* settings taken from it", AGENT_CMDLINE_PATH,
			 strerror(-r));
		return;
	}
	if (kc->nbad)
		log_warn("ignored %d bad or unknown agentvm.* kernel parameter%s (the first: %s)",
			 kc->nbad, kc->nbad == 1 ? "" : "s", kc->bad);
	if (kc->egress[0] && !opt->egress) {
		opt->egress = kc->egress;
		log_debug("egress from the kernel command line: %s", kc->egress);
	}
	if (kc->hostname[0] && !opt->hostname)
		opt->hostname = kc->hostname;
}

int main(int argc, char **argv)
{
	enum {
		OPT_LISTEN = 256,
		OPT_LISTEN_FD,
		OPT_HOSTNAME,
		OPT_CONTAINER,
		OPT_VM,
		OPT_MAXCONN,
		OPT_EGRESS,
		OPT_EGRESS_LISTEN,
		OPT_CHROMIUM,
		OPT_BROWSER_PROXY,
		OPT_BROWSER_TMPDIR,
		OPT_BROWSER_EVALUATE,
		OPT_DEBUG,
		OPT_HELP,
		OPT_VERSION
	};
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "listen-fd", required_argument, NULL, OPT_LISTEN_FD },
		{ "hostname", required_argument, NULL, OPT_HOSTNAME },
		{ "container", no_argument, NULL, OPT_CONTAINER },
		{ "vm", no_argument, NULL, OPT_VM },
		{ "max-connections", required_argument, NULL, OPT_MAXCONN },
		{ "egress", required_argument, NULL, OPT_EGRESS },
		{ "egress-listen", required_argument, NULL, OPT_EGRESS_LISTEN },
		{ "chromium", required_argument, NULL, OPT_CHROMIUM },
		{ "browser-proxy", required_argument, NULL, OPT_BROWSER_PROXY },
		{ "browser-tmpdir", required_argument, NULL, OPT_BROWSER_TMPDIR },
		{ "browser-allow-evaluate", no_argument, NULL, OPT_BROWSER_EVALUATE },
		{ "debug", no_argument, NULL, OPT_DEBUG },
		{ "help", no_argument, NULL, OPT_HELP },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	static char fdspec[AGENT_LISTEN_MAX][32];
	static struct agent_cmdline kcmd;
	struct agent_options opt = { 0 };
	struct browser_config bcfg = { 0 };
	char egress_proxy[300];
	struct agent *a = NULL;
	struct rlimit rl;
	char *end;
	long v;
	int c, r, vm = 0;

	log_init("agentvm-agent", NULL);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_LISTEN:
		case OPT_LISTEN_FD:
			if (opt.nlisten == AGENT_LISTEN_MAX) {
				fprintf(stderr, "agentvm-agent: at most %d listeners\n",
					AGENT_LISTEN_MAX);
				return 2;
			}
			if (c == OPT_LISTEN_FD) {
				snprintf(fdspec[opt.nlisten], sizeof(fdspec[0]), "fd:%s", optarg);
				opt.listen[opt.nlisten] = fdspec[opt.nlisten];
				opt.nlisten++;
			} else {
				opt.listen[opt.nlisten++] = optarg;
			}
			break;
		case OPT_HOSTNAME:
			opt.hostname = optarg;
			break;
		case OPT_CONTAINER:
			opt.container = 1;
			vm = 0;
			break;
		case OPT_VM:
			opt.container = 0;
			vm = 1;
			break;
		case OPT_MAXCONN:
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || *end || v < 1 || v > 100000) {
				fprintf(stderr, "agentvm-agent: bad --max-connections\n");
				return 2;
			}
			opt.max_conns = (int)v;
			break;
		case OPT_EGRESS:
			opt.egress = optarg;
			break;
		case OPT_EGRESS_LISTEN:
			opt.egress_listen = optarg;
			break;
		case OPT_CHROMIUM:
			if (!*optarg || optarg[0] != '/') {
				fprintf(stderr,
					"agentvm-agent: --chromium needs an absolute path\n");
				return 2;
			}
			bcfg.chromium = optarg;
			break;
		case OPT_BROWSER_PROXY:
			if (strcmp(optarg, "none") != 0 && !strstr(optarg, "://")) {
				fprintf(stderr, "agentvm-agent: --browser-proxy needs "
						"SCHEME://HOST:PORT or \"none\"\n");
				return 2;
			}
			bcfg.proxy = optarg;
			break;
		case OPT_BROWSER_TMPDIR:
			if (!*optarg) {
				fprintf(stderr,
					"agentvm-agent: --browser-tmpdir needs a directory\n");
				return 2;
			}
			bcfg.tmpdir = optarg;
			break;
		case OPT_BROWSER_EVALUATE:
			bcfg.allow_evaluate = 1;
			break;
		case OPT_DEBUG:
			log_set_level(LOG_DEBUG);
			break;
		case OPT_HELP:
			usage(stdout);
			return 0;
		case OPT_VERSION:
			printf("agentvm-agent %s (protocol %d)\n", AGENT_VERSION,
			       AGENT_PROTOCOL_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "agentvm-agent: unexpected argument \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}

	opt.pid1 = getpid() == 1;
	if (opt.pid1 && !opt.container && !vm &&
	    (getenv("container") || access("/.dockerenv", F_OK) == 0))
		opt.container = 1;
	/* File modes in requests are meant literally; execs get 022 back. */
	umask(0);
	/* Many execs hold several fds each. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (opt.pid1) {
		agent_pid1_stdio();
		agent_pid1_mount_all(opt.container);
		if (!opt.container)
			main_kernel_cmdline(&opt, &kcmd);
		r = agent_pid1_loopback_up();
		if (r < 0)
			log_debug("bringing up lo: %s", strerror(-r));
		if (!opt.hostname && !opt.container) {
			char cur[256] = "";

			gethostname(cur, sizeof(cur) - 1);
			if (!cur[0] || strcmp(cur, "(none)") == 0)
				opt.hostname = "agentvm";
		}
	}
	/* With egress on, the browser goes through the agent's proxy unless told
	 * otherwise. */
	if (opt.egress && !bcfg.proxy) {
		snprintf(egress_proxy, sizeof(egress_proxy), "http://%s",
			 opt.egress_listen ? opt.egress_listen : AGENT_PROXY_LISTEN_DEFAULT);
		bcfg.proxy = egress_proxy;
	}
	/* The hello's capabilities look for chromium where the browser will. */
	if (bcfg.chromium && setenv("AGENTVM_CHROMIUM", bcfg.chromium, 1) < 0) {
		fprintf(stderr, "agentvm-agent: setenv: %s\n", strerror(errno));
		return 1;
	}
	browser_configure(&bcfg);

	if (opt.hostname) {
		r = agent_pid1_set_hostname(opt.hostname);
		if (r < 0)
			log_warn("sethostname %s: %s", opt.hostname, strerror(-r));
	}

	r = agent_new(&opt, &a);
	if (r == 0) {
		log_info("agentvm-agent %s ready%s%s", AGENT_VERSION, opt.pid1 ? " as PID 1" : "",
			 opt.container ? " (container)" : "");
		r = agent_run(a);
	} else {
		log_err("cannot start: %s", strerror(-r));
	}
	agent_free(a);
	if (opt.pid1 && !opt.container) {
		/* PID 1 must not exit: that panics the kernel. */
		log_info("powering off");
		agent_pid1_poweroff();
	}
	return r < 0 ? 1 : 0;
}
