/* agentvm mcp: options, the audit log, and the stdio loop around the server. */
#include "host/mcp/mcp.h"

#include "common/cleanup.h"
#include "common/log.h"
#include "host/audit.h"
#include "host/cli/cli.h"
#include "host/daemon.h"
#include "host/egress/egress_policy.h"
#include "host/mcp/mcp_policy.h"
#include "host/mcp/mcp_server.h"
#include "host/mcp/mcp_tools.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MCP_MAIN_READ_CHUNK (64u << 10)

static const char mcp_main_usage[] =
	"Usage: agentvm mcp [OPTIONS]\n"
	"Serve the Model Context Protocol on standard input and output (newline-delimited\n"
	"JSON-RPC 2.0), for AI agents: tools run commands, read and write files and drive a\n"
	"headless browser in sandboxes. Logs go to standard error only.\n"
	"\n"
	"Options:\n"
	"  --policy FILE        JSON policy: allowed_domains for the browser and egress,\n"
	"                       browser.evaluate, and limits (exec_timeout_ms,\n"
	"                       output_cap_bytes, max_sandboxes, mem, cpus). Default: no\n"
	"                       domain list (public hosts only), no evaluate, 120 s per\n"
	"                       command, 64 KiB of output per stream, 4 sandboxes.\n"
	"  --isolation LEVEL    auto, microvm, container or libvirt (default: auto, which\n"
	"                       never picks libvirt)\n"
	"  --image NAME|PATH    the sandboxes' image (default: minimal)\n"
	"  --audit FILE         the audit log (hash-chained JSON lines; default: the\n"
	"                       controller's, <state dir>/audit.log, the state dir being\n"
	"                       $AGENTVM_STATE_DIR, else /var/lib/agentvm as root, else\n"
	"                       ~/.local/state/agentvm)\n"
	"  -h, --help           show this help\n"
	"\n"
	"Sandboxes created during the session, the default one included, are destroyed\n"
	"when the client closes standard input or on SIGTERM/SIGINT.\n"
	"\n"
	"Client configuration, e.g. for Claude Code or another MCP client:\n"
	"  {\"mcpServers\": {\"agentvm\": {\"command\": \"agentvm\", \"args\": [\"mcp\"]}}}\n";

enum {
	OPT_POLICY = 256,
	OPT_ISOLATION,
	OPT_IMAGE,
	OPT_AUDIT,
};

static const struct option mcp_main_opts[] = {
	{ "policy", required_argument, NULL, OPT_POLICY },
	{ "isolation", required_argument, NULL, OPT_ISOLATION },
	{ "image", required_argument, NULL, OPT_IMAGE },
	{ "audit", required_argument, NULL, OPT_AUDIT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct mcp_main_args {
	const char *policy, *isolation, *image, *audit;
};

static int mcp_main_parse(int argc, char **argv, struct mcp_main_args *a, int *done)
{
	int c;

	*done = 0;
	memset(a, 0, sizeof(*a));
	a->isolation = "auto";
	a->image = "minimal";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+:h", mcp_main_opts, NULL)) != -1) {
		switch (c) {
		case OPT_POLICY:
			a->policy = optarg;
			break;
		case OPT_ISOLATION:
			if (strcmp(optarg, "auto") && strcmp(optarg, "microvm") &&
			    strcmp(optarg, "container") && strcmp(optarg, "libvirt"))
				return cli_usage_error(
					"mcp",
					"--isolation must be auto, microvm, container or "
					"libvirt, not '%s'",
					optarg);
			a->isolation = optarg;
			break;
		case OPT_IMAGE:
			if (!*optarg)
				return cli_usage_error("mcp", "--image needs a name or a path");
			a->image = optarg;
			break;
		case OPT_AUDIT:
			if (!*optarg)
				return cli_usage_error("mcp", "--audit needs a file");
			a->audit = optarg;
			break;
		case 'h':
			fputs(mcp_main_usage, stdout);
			*done = 1;
			return 0;
		case ':':
			return cli_usage_error("mcp", "%s needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error("mcp", "unknown option '-%c'", optopt);
			return cli_usage_error("mcp", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("mcp", "unexpected argument '%s'", argv[optind]);
	return 0;
}

/* mkdir -p with mode 0700 for the missing parts. */
static int mcp_main_mkdirs(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int mcp_main_default_audit(char *out, size_t len)
{
	const char *env = getenv("AGENTVM_STATE_DIR");
	char dir[PATH_MAX];
	int r;

	/* The controller's log: several processes may append to it. */
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		daemon_default_state_dir(dir, sizeof(dir));
	r = mcp_main_mkdirs(dir);
	if (r < 0)
		return r;
	if ((size_t)snprintf(out, len, "%s/audit.log", dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

static void mcp_main_audit(void *arg, struct json_object *rec)
{
	static int warned;
	int r = audit_append(arg, rec);

	if (r < 0 && !warned) {
		warned = 1;
		log_err("mcp: cannot write the audit log %s: %s", audit_path(arg), strerror(-r));
	}
}

static int mcp_main_write_all(int fd, const char *p, size_t n)
{
	struct iovec iov[2] = { { (void *)p, n }, { (void *)"\n", 1 } };
	int i = 0;

	while (i < 2) {
		ssize_t w = writev(fd, iov + i, 2 - i);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		while (i < 2 && (size_t)w >= iov[i].iov_len) {
			w -= (ssize_t)iov[i].iov_len;
			i++;
		}
		if (i < 2) {
			iov[i].iov_base = (char *)iov[i].iov_base + w;
			iov[i].iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Handle one line and write the reply. -EPIPE when the client is gone. */
static int mcp_main_line(struct mcp_server *s, int out_fd, const char *line, size_t len)
{
	char *reply;
	size_t rlen;
	int r;

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return 0;
	r = mcp_server_handle_line(s, line, len, &reply, &rlen);
	if (r < 0) {
		log_err("mcp: out of memory handling a message");
		return 0;
	}
	if (!reply)
		return 0;
	r = mcp_main_write_all(out_fd, reply, rlen);
	free(reply);
	return r;
}

static int mcp_main_too_large(int out_fd)
{
	char *msg = NULL;
	struct json_object *e = mcp_server_error(NULL, MCP_ERR_INVALID_REQUEST,
						 "Invalid Request: message too large");
	const char *t = e ? json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN) : NULL;
	int r = 0;

	if (t && (msg = strdup(t)))
		r = mcp_main_write_all(out_fd, msg, strlen(msg));
	free(msg);
	json_object_put(e);
	return r;
}

/* Read messages from in_fd until end of file or a signal. */
static int mcp_main_loop(struct mcp_server *s, int in_fd, int out_fd, int sigfd)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, scanned = 0;
	int discarding = 0, r = 0, eof = 0;

	while (!eof) {
		struct pollfd p[2] = { { .fd = in_fd, .events = POLLIN },
				       { .fd = sigfd, .events = POLLIN } };
		int64_t next = mcp_server_next_expiry(s), now;
		int timeout = -1;
		ssize_t n;

		if (next >= 0) {
			now = mcp_now_ms();
			timeout =
				next > now ? (int)(next - now > 1000000 ? 1000000 : next - now) : 0;
		}
		if (poll(p, sigfd >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		mcp_server_expire(s, mcp_now_ms());
		if (sigfd >= 0 && p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				log_info("mcp: signal %u: ending the session", si.ssi_signo);
			break;
		}
		if (!p[0].revents)
			continue;
		if (cap - len < MCP_MAIN_READ_CHUNK) {
			char *nb = realloc(buf, cap + MCP_MAIN_READ_CHUNK * 4);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			cap += MCP_MAIN_READ_CHUNK * 4;
		}
		n = read(in_fd, buf + len, MCP_MAIN_READ_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			eof = 1;
			/* A last message without its newline still counts. */
			if (len && !discarding)
				r = mcp_main_line(s, out_fd, buf, len);
			break;
		}
		len += (size_t)n;
		for (;;) {
			char *nl = memchr(buf + scanned, '\n', len - scanned);
			size_t used;
			if (!nl) {
				scanned = len;
				break;
			}
			used = (size_t)(nl - buf) + 1;
			if (!discarding)
				r = mcp_main_line(s, out_fd, buf, used - 1);
			discarding = 0;
			memmove(buf, buf + used, len - used);
			len -= used;
			scanned = 0;
			if (r < 0)
				break;
		}
		if (r < 0)
			break;
		if (len > MCP_SERVER_LINE_MAX) {
			/* Too long: answer once, drop it up to its newline. */
			if (!discarding)
				r = mcp_main_too_large(out_fd);
			discarding = 1;
			len = scanned = 0;
			if (r < 0)
				break;
		}
	}
	free(buf);
	if (r == -EPIPE) {
		log_info("mcp: the client went away");
		r = 0;
	}
	return r;
}

int mcp_main(int argc, char **argv)
{
	struct mcp_main_args a;
	struct mcp_policy *policy = NULL;
	struct audit_log *audit = NULL;
	struct mcp_server *s = NULL;
	struct mcp_sandbox_ctx ctx = { .cancel_fd = -1, .log_fd = -1 };
	struct mcp_server_config cfg = { 0 };
	char err[1024], audit_path_buf[PATH_MAX];
	const char *dbg = getenv("AGENTVM_DEBUG");
	int done, r, status = CLI_EXIT_INTERNAL;
	int in_fd = -1, out_fd = -1, sigfd = -1, null_fd;
	struct json_object *ev;
	sigset_t sigs;

	r = mcp_main_parse(argc, argv, &a, &done);
	if (r || done)
		return r;
	if (a.policy) {
		r = mcp_policy_load(a.policy, &policy, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "agentvm mcp: %s\n", err);
			return CLI_EXIT_USAGE;
		}
	} else if (mcp_policy_new_default(&policy) < 0) {
		return CLI_EXIT_INTERNAL;
	}
	/* The egress proxy must accept the same rules: say now if it would not.
	 * (Each sandbox gets its own proxy with them: mcp_sandbox.c.) */
	{
		struct egress_policy *ep = NULL;
		r = mcp_policy_to_egress(policy, &ep, err, sizeof(err));
		egress_policy_free(ep);
		if (r < 0) {
			fprintf(stderr, "agentvm mcp: policy %s: for the egress proxy: %s\n",
				a.policy ? a.policy : "(built-in)", err);
			mcp_policy_free(policy);
			return CLI_EXIT_USAGE;
		}
	}
	if (!a.audit) {
		r = mcp_main_default_audit(audit_path_buf, sizeof(audit_path_buf));
		if (r < 0) {
			log_err("mcp: no state directory for the audit log (%s); name one with "
				"--audit FILE",
				strerror(-r));
			goto out;
		}
		a.audit = audit_path_buf;
	}
	r = audit_open(a.audit, &audit);
	if (r < 0) {
		log_err("mcp: cannot open the audit log %s: %s", a.audit, strerror(-r));
		goto out;
	}

	/* stdout carries protocol messages only: keep it for us, and point fd 1
	 * at stderr for everything else (image builds, sandboxes). Our stdin is
	 * the client's; nothing else may read it. */
	out_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
	in_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (out_fd < 0 || in_fd < 0 || null_fd < 0 || dup2(2, 1) < 0 || dup2(null_fd, 0) < 0) {
		log_err("mcp: cannot set up standard input and output: %m");
		if (null_fd >= 0)
			close(null_fd);
		goto out;
	}
	close(null_fd);

	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	sigfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	ctx.cancel_fd = sigfd;
	if (dbg && strcmp(dbg, "0") != 0)
		ctx.log_fd = 2;

	ctx.policy = policy;
	ctx.audit = audit;
	cfg.policy = policy;
	cfg.ops = &mcp_sandbox_ops;
	cfg.ops_ctx = &ctx;
	cfg.image = a.image;
	cfg.isolation = a.isolation;
	cfg.audit = mcp_main_audit;
	cfg.audit_arg = audit;
	r = mcp_server_new(&cfg, &s);
	if (r < 0) {
		log_err("mcp: cannot start the server: %s", strerror(-r));
		goto out;
	}
	ev = json_object_new_object();
	if (ev) {
		json_object_object_add(ev, "pid", json_object_new_int(getpid()));
		json_object_object_add(ev, "policy",
				       a.policy ? json_object_new_string(a.policy) : NULL);
		json_object_object_add(ev, "isolation", json_object_new_string(a.isolation));
		json_object_object_add(ev, "image", json_object_new_string(a.image));
		audit_event(audit, "mcp.session_start", NULL, (long)getuid(), (long)getpid(), ev);
		json_object_put(ev);
	}
	log_info("mcp: serving on stdio (isolation %s, image %s, policy %s, audit %s)", a.isolation,
		 a.image, a.policy ? a.policy : "built-in", a.audit);
	r = mcp_main_loop(s, in_fd, out_fd, sigfd);
	status = r < 0 ? CLI_EXIT_INTERNAL : 0;
	if (r < 0)
		log_err("mcp: %s", strerror(-r));
out:
	mcp_server_free(s);
	if (audit) {
		audit_event(audit, "mcp.session_end", NULL, (long)getuid(), (long)getpid(), NULL);
		audit_close(audit);
	}
	mcp_policy_free(policy);
	if (sigfd >= 0)
		close(sigfd);
	if (in_fd >= 0)
		close(in_fd);
	if (out_fd >= 0)
		close(out_fd);
	return status;
}
