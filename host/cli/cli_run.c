/* agentvm run: one command in a fresh sandbox, output streamed, exit status
 * passed through, sandbox destroyed. When agentvmd answers (and no --image or
 * -i asks for more than it offers) the sandbox comes from it; otherwise the
 * controller is embedded. */
#include "host/cli/cli.h"

#include "common/log.h"
#include "host/client.h"
#include "host/controller.h"
#include "host/egress/egress_policy.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define CLI_RUN_MAX_ENV 256

static const char cli_run_usage[] =
	"Usage: agentvm run [OPTIONS] -- COMMAND [ARG...]\n"
	"Run COMMAND in a new sandbox, stream its output, and exit with its status.\n"
	"\n"
	"Options:\n"
	"  --image NAME|PATH     image to boot: a name (minimal, base) built by images/<name>/\n"
	"                        build.sh when needed, or a directory holding a root tree\n"
	"                        (default: minimal)\n"
	"  --isolation LEVEL     auto, microvm or container (default: auto: microvm when this\n"
	"                        host can run microVM guests, else container; says which on "
	"stderr),\n"
	"                        or libvirt: a domain of a libvirtd (AGENTVM_LIBVIRT_*)\n"
	"  --mem SIZE            memory limit, e.g. 512M, 2G (default: 1G)\n"
	"  --cpus N              CPU limit, e.g. 2 or 0.5 (default: 2)\n"
	"  --disk SIZE           size of the writable layer over the image (default: 1G)\n"
	"  --pids N              task limit (default: 1024)\n"
	"  --timeout SECONDS     kill the command after this long and exit 124 (default: none)\n"
	"  -e, --env KEY=VALUE   set an environment variable (repeatable)\n"
	"  -w, --workdir DIR     working directory inside the sandbox (default: /)\n"
	"  -u, --user UID        run as this numeric user id (default: 0)\n"
	"  -i, --interactive     pass our standard input to the command\n"
	"  --name NAME           name the sandbox (default: run-<random>)\n"
	"  --policy FILE         let the sandbox reach the network through the egress proxy,\n"
	"                        under this policy (JSON; docs/EGRESS.md). Without --policy\n"
	"                        or --allow-domain the sandbox has no network at all\n"
	"  --allow-domain D      allow the domain D (example.com, *.example.com) through\n"
	"                        the egress proxy, on ports 80 and 443 (repeatable)\n"
	"  --egress-audit FILE   append one JSON line per egress connection to FILE\n"
	"                        (the egress options use the embedded controller)\n"
	"  --template NAME       with agentvmd: the template to start from (default: default)\n"
	"  --no-daemon           use the embedded controller even when agentvmd runs\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: the command's own; 128+N if signal N ended it; 124 on timeout;\n"
	"126 if it cannot be executed; 127 if it is not found; 125 if agentvm failed;\n"
	"2 for bad options.\n"
	"With agentvmd running (AGENTVMD_SOCKET, or its default socket), the sandbox comes\n"
	"from it (its warm pool) unless --image, -i or --no-daemon is given.\n"
	"Environment: AGENTVM_LIBEXEC (where agentvm-agent, agentvm-vmm and guests/ are;\n"
	"default: the directory of this program), AGENTVM_IMAGES (the image scripts; default:\n"
	"<libexec>/../images), AGENTVM_RUN_DIR (sandbox state; default /run/agentvm),\n"
	"AGENTVM_DEBUG=1 (debug log, and the agent's log on stderr).\n";

enum {
	OPT_IMAGE = 256,
	OPT_ISOLATION,
	OPT_MEM,
	OPT_CPUS,
	OPT_DISK,
	OPT_PIDS,
	OPT_TIMEOUT,
	OPT_NAME,
	OPT_TEMPLATE,
	OPT_NO_DAEMON,
	OPT_POLICY,
	OPT_ALLOW_DOMAIN,
	OPT_EGRESS_AUDIT,
};

static const struct option cli_run_opts[] = {
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "isolation", required_argument, NULL, OPT_ISOLATION },
	{ "mem", required_argument, NULL, OPT_MEM },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "pids", required_argument, NULL, OPT_PIDS },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "allow-domain", required_argument, NULL, OPT_ALLOW_DOMAIN },
	{ "egress-audit", required_argument, NULL, OPT_EGRESS_AUDIT },
	{ "template", required_argument, NULL, OPT_TEMPLATE },
	{ "no-daemon", no_argument, NULL, OPT_NO_DAEMON },
	{ "env", required_argument, NULL, 'e' },
	{ "workdir", required_argument, NULL, 'w' },
	{ "user", required_argument, NULL, 'u' },
	{ "interactive", no_argument, NULL, 'i' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct cli_run_args {
	const char *image;
	const char *isolation;
	const char *name;
	struct backend_limits limits;
	uint64_t timeout_ms;
	const char *env[CLI_RUN_MAX_ENV + 1];
	int nenv;
	const char *workdir;
	int64_t uid;
	int interactive;
	char **cmd;
	const char *template_name;
	int no_daemon;
	int image_given;
	const char *policy;
	const char *domains[CLI_RUN_MAX_ENV];
	int ndomains;
	const char *egress_audit;
};

/* 0, or the exit status to leave with (help: 0 after printing). */
static int cli_run_parse(int argc, char **argv, struct cli_run_args *a, int *done)
{
	int c, r;

	*done = 0;
	memset(a, 0, sizeof(*a));
	a->image = "minimal";
	a->isolation = "auto";
	a->uid = -1;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:e:w:u:ih", cli_run_opts, NULL)) != -1) {
		switch (c) {
		case OPT_IMAGE:
			if (!*optarg)
				return cli_usage_error("run", "--image needs a name or a path");
			a->image = optarg;
			a->image_given = 1;
			break;
		case OPT_ISOLATION:
			if (strcmp(optarg, "auto") && strcmp(optarg, "microvm") &&
			    strcmp(optarg, "container") && strcmp(optarg, "libvirt"))
				return cli_usage_error(
					"run",
					"--isolation must be auto, microvm or container "
					"(or libvirt), not '%s'",
					optarg);
			a->isolation = optarg;
			break;
		case OPT_MEM:
		case OPT_DISK:
			r = cli_parse_size(optarg, c == OPT_MEM ? &a->limits.mem_bytes
								: &a->limits.disk_bytes);
			if (r < 0 || (c == OPT_MEM && a->limits.mem_bytes < (16u << 20)))
				return cli_usage_error("run",
						       "--%s wants a size such as 512M or 2G (at "
						       "least 16M for --mem), not '%s'",
						       c == OPT_MEM ? "mem" : "disk", optarg);
			break;
		case OPT_CPUS:
			if (cli_parse_cpus(optarg, &a->limits.cpu_millis) < 0)
				return cli_usage_error("run",
						       "--cpus wants a number of CPUs such as 2 or "
						       "0.5, not '%s'",
						       optarg);
			break;
		case OPT_PIDS: {
			char *end;
			errno = 0;
			unsigned long long v = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 8 || v > 4194304)
				return cli_usage_error(
					"run", "--pids wants a number from 8 to 4194304, not '%s'",
					optarg);
			a->limits.pids_max = v;
			break;
		}
		case OPT_TIMEOUT:
			if (cli_parse_seconds(optarg, &a->timeout_ms) < 0)
				return cli_usage_error("run",
						       "--timeout wants seconds such as 30 or 1.5, "
						       "not '%s'",
						       optarg);
			break;
		case OPT_NAME:
			if (!backend_name_valid(optarg))
				return cli_usage_error(
					"run",
					"--name wants 1-%d of A-Z a-z 0-9 _ . - (not "
					"starting with . or -), not '%s'",
					BACKEND_NAME_MAX, optarg);
			a->name = optarg;
			break;
		case OPT_TEMPLATE:
			if (!backend_name_valid(optarg))
				return cli_usage_error("run",
						       "--template wants a template name, not "
						       "'%s'",
						       optarg);
			a->template_name = optarg;
			break;
		case OPT_NO_DAEMON:
			a->no_daemon = 1;
			break;
		case OPT_POLICY:
			a->policy = optarg;
			break;
		case OPT_ALLOW_DOMAIN:
			if (a->ndomains >= CLI_RUN_MAX_ENV)
				return cli_usage_error("run", "at most %d --allow-domain options",
						       CLI_RUN_MAX_ENV);
			a->domains[a->ndomains++] = optarg;
			break;
		case OPT_EGRESS_AUDIT:
			a->egress_audit = optarg;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return cli_usage_error("run", "--env wants KEY=VALUE, not '%s'",
						       optarg);
			if (a->nenv >= CLI_RUN_MAX_ENV)
				return cli_usage_error("run", "at most %d --env options",
						       CLI_RUN_MAX_ENV);
			a->env[a->nenv++] = optarg;
			break;
		case 'w':
			if (optarg[0] != '/')
				return cli_usage_error("run",
						       "--workdir wants an absolute path, not '%s'",
						       optarg);
			a->workdir = optarg;
			break;
		case 'u': {
			char *end;
			errno = 0;
			long long v = strtoll(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 0 || v > 0xfffffffeLL)
				return cli_usage_error(
					"run", "--user wants a numeric uid, not '%s'", optarg);
			a->uid = v;
			break;
		}
		case 'i':
			a->interactive = 1;
			break;
		case 'h':
			fputs(cli_run_usage, stdout);
			*done = 1;
			return 0;
		case ':':
			return cli_usage_error("run", "%s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error("run", "unknown option '-%c'", optopt);
			return cli_usage_error("run", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error("run", "no command given: agentvm run [OPTIONS] -- COMMAND");
	a->cmd = argv + optind;
	return 0;
}

static volatile sig_atomic_t cli_run_signal;

static void cli_run_on_signal(int signo)
{
	cli_run_signal = signo;
}

/* Destroy the sandbox name (on a fresh connection when c was interrupted). */
static void cli_run_daemon_destroy(struct client_conn *c, const char *name)
{
	struct client_conn *fresh = NULL;
	struct json_object *p = json_object_new_object();

	if (cli_run_signal && client_connect(NULL, &fresh) == 0)
		c = fresh;
	json_object_object_add(p, "sandbox", json_object_new_string(name));
	client_call(c, "sandbox.destroy", p, NULL, NULL, NULL, NULL);
	client_close(fresh);
}

/* The run through agentvmd: create, exec with streamed output, destroy. */
static int cli_run_daemon(struct cli_run_args *a, struct client_conn *c)
{
	struct json_object *p = json_object_new_object(), *lim = json_object_new_object();
	struct sigaction sa = { .sa_handler = cli_run_on_signal };
	struct client_error e;
	char name[BACKEND_NAME_MAX + 1];
	int status = CLI_EXIT_INTERNAL, r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	client_set_interrupt(c, &cli_run_signal);
	if (a->name) {
		snprintf(name, sizeof(name), "%s", a->name);
	} else {
		unsigned v = (unsigned)getpid() * 2654435761u ^ (unsigned)time(NULL);
		snprintf(name, sizeof(name), "run-%08x", v);
	}
	json_object_object_add(p, "name", json_object_new_string(name));
	if (a->template_name)
		json_object_object_add(p, "template", json_object_new_string(a->template_name));
	if (strcmp(a->isolation, "auto") != 0)
		json_object_object_add(p, "isolation", json_object_new_string(a->isolation));
	if (a->limits.mem_bytes)
		json_object_object_add(lim, "mem_bytes",
				       json_object_new_int64((int64_t)a->limits.mem_bytes));
	if (a->limits.cpu_millis)
		json_object_object_add(lim, "cpus",
				       json_object_new_double(a->limits.cpu_millis / 1000.0));
	if (a->limits.pids_max)
		json_object_object_add(lim, "pids",
				       json_object_new_int64((int64_t)a->limits.pids_max));
	if (a->limits.disk_bytes)
		json_object_object_add(lim, "disk_bytes",
				       json_object_new_int64((int64_t)a->limits.disk_bytes));
	if (json_object_object_length(lim))
		json_object_object_add(p, "limits", json_object_get(lim));
	/* A safety net: a run whose agentvm is killed outright is reclaimed. */
	json_object_object_add(p, "idle_ttl", json_object_new_int(600));
	r = client_call(c, "sandbox.create", p, NULL, NULL, NULL, &e);
	p = NULL;
	if (r < 0) {
		if (r == -EINTR) {
			cli_run_daemon_destroy(c, name);
			status = CLI_EXIT_SIGNALLED + (int)cli_run_signal;
		} else {
			cli_client_fail("run", r, &e);
		}
		goto out;
	}
	struct json_object *x = json_object_new_object(), *av = json_object_new_array();
	json_object_object_add(x, "sandbox", json_object_new_string(name));
	for (char **arg = a->cmd; *arg; arg++)
		json_object_array_add(av, json_object_new_string(*arg));
	json_object_object_add(x, "argv", av);
	if (a->nenv) {
		struct json_object *env = json_object_new_object();
		for (int i = 0; i < a->nenv; i++) {
			const char *eq = strchr(a->env[i], '=');
			char key[4096];
			snprintf(key, sizeof(key), "%.*s", (int)(eq - a->env[i]), a->env[i]);
			json_object_object_add(env, key, json_object_new_string(eq + 1));
		}
		json_object_object_add(x, "env", env);
	}
	if (a->workdir)
		json_object_object_add(x, "cwd", json_object_new_string(a->workdir));
	if (a->uid >= 0)
		json_object_object_add(x, "uid", json_object_new_int64(a->uid));
	if (a->timeout_ms)
		json_object_object_add(x, "timeout",
				       json_object_new_double(a->timeout_ms / 1000.0));
	r = cli_exec_call(c, x, a->cmd[0], false, &status);
	if (r == -EINTR)
		status = CLI_EXIT_SIGNALLED + (int)cli_run_signal;
	cli_run_daemon_destroy(c, name);
out:
	json_object_put(p);
	json_object_put(lim);
	client_close(c);
	return status;
}

/* The egress policy the options ask for, in *out (NULL: no egress). 0, or the
 * exit status for bad options. */
static int cli_run_egress_policy(const struct cli_run_args *a, struct egress_policy **out)
{
	struct egress_policy *p = NULL;
	char err[512];

	*out = NULL;
	if ((a->policy || a->ndomains) && a->template_name)
		return cli_usage_error("run", "--template (agentvmd) cannot be combined with "
					      "--policy or --allow-domain yet");
	if (!a->policy && !a->ndomains) {
		if (a->egress_audit)
			return cli_usage_error("run", "--egress-audit needs --policy or "
						      "--allow-domain");
		return 0;
	}
	if (a->policy ? egress_policy_load(a->policy, &p, err, sizeof(err)) < 0
		      : egress_policy_new(&p) < 0)
		return cli_usage_error("run", "--policy: %s", a->policy ? err : "out of memory");
	for (int i = 0; i < a->ndomains; i++)
		if (egress_policy_add_domain(p, a->domains[i]) < 0) {
			egress_policy_free(p);
			return cli_usage_error("run",
					       "--allow-domain wants a domain such as example.com "
					       "or *.example.com, not '%s'",
					       a->domains[i]);
		}
	*out = p;
	return 0;
}

int cli_run_main(int argc, char **argv)
{
	struct cli_run_args a;
	struct controller_options o = { .log_fd = -1 };
	struct controller_sandbox *sb = NULL;
	struct controller_exec ex = { .uid = -1, .out_fd = 1, .err_fd = 2, .stdin_fd = -1 };
	struct controller_exec_result res;
	const struct backend_ops *ops;
	char rootfs[PATH_MAX], agentbuf[PATH_MAX], why[768];
	sigset_t sigs;
	int done, r, status, sigfd = -1;

	r = cli_run_parse(argc, argv, &a, &done);
	if (r || done)
		return r;
	r = cli_run_egress_policy(&a, &o.egress_policy);
	if (r)
		return r;
	o.egress_audit = a.egress_audit;
	/* agentvmd has no egress yet: a run that asks for it is embedded. */
	if (!a.no_daemon && !a.image_given && !a.interactive && !o.egress_policy) {
		struct client_conn *c;
		if (client_connect(NULL, &c) == 0)
			return cli_run_daemon(&a, c);
	}
	if (a.template_name) {
		char sock[108];
		client_socket_path(sock, sizeof(sock));
		fprintf(stderr, "agentvm run: --template needs agentvmd, and none answers on %s\n",
			sock);
		return CLI_EXIT_INTERNAL;
	}

	/* Signals wait in a signalfd: while the sandbox starts they end the run
	 * cleanly; while the command runs they are forwarded to it. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGQUIT);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

	r = controller_choose_backend(a.isolation, &ops, why, sizeof(why));
	if (r < 0) {
		log_err("isolation %s: %s", a.isolation, strerror(-r));
		status = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (strcmp(a.isolation, "auto") == 0)
		fprintf(stderr, "agentvm: %s\n", why);
	/* Say now if the backend cannot work here, before building any image. */
	r = ops->probe(why, sizeof(why));
	if (r < 0) {
		log_err("%s isolation is not possible here: %s (see 'agentvm doctor')", ops->name,
			why);
		status = CLI_EXIT_INTERNAL;
		goto out;
	}

	o.agent_path = cli_image_agent(agentbuf, sizeof(agentbuf));
	r = cli_image_resolve(a.image, o.agent_path, rootfs, sizeof(rootfs));
	if (r < 0) {
		status = CLI_EXIT_INTERNAL;
		goto out;
	}
	o.isolation = a.isolation;
	o.name = a.name;
	o.rootfs = rootfs;
	o.limits = a.limits;
	if (getenv("AGENTVM_DEBUG") && strcmp(getenv("AGENTVM_DEBUG"), "0") != 0)
		o.log_fd = 2;
	r = controller_sandbox_new(&o, ops, &sb);
	if (r < 0) {
		status = CLI_EXIT_INTERNAL;
		goto out;
	}
	if (sigfd >= 0) {
		struct signalfd_siginfo si;
		if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			status = CLI_EXIT_SIGNALLED + (int)si.ssi_signo;
			goto out;
		}
	}

	a.env[a.nenv] = NULL;
	ex.argv = (const char *const *)a.cmd;
	ex.env = a.env;
	ex.cwd = a.workdir;
	ex.uid = a.uid;
	ex.timeout_ms = a.timeout_ms;
	ex.stdin_fd = a.interactive ? 0 : -1;
	ex.signal_fd = sigfd;
	r = controller_sandbox_exec(sb, &ex, &res);
	if (r < 0) {
		status = CLI_EXIT_INTERNAL;
		goto out;
	}
	status = cli_exit_status(&res);
	if (!res.started) {
		if (status == CLI_EXIT_NOTFOUND)
			fprintf(stderr, "agentvm: %s: command not found\n", a.cmd[0]);
		else
			fprintf(stderr, "agentvm: %s: %s\n", a.cmd[0],
				res.error[0] ? res.error : res.error_code);
	} else if (res.timed_out) {
		fprintf(stderr, "agentvm: %s: timed out after %llu ms\n", a.cmd[0],
			(unsigned long long)a.timeout_ms);
	}
out:
	controller_sandbox_free(sb);
	if (sigfd >= 0)
		close(sigfd);
	return status;
}
