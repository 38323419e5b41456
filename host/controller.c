#include "host/controller.h"

#include "common/base64.h"
#include "common/log.h"
#include "host/agent_client.h"
#include "host/egress/egress_run.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define CONTROLLER_HELLO_MS    30000
#define CONTROLLER_SHUTDOWN_MS 2000
/* Past the command's own timeout, how long the agent gets to report it. */
#define CONTROLLER_GRACE_MS    10000
#define CONTROLLER_STDIN_CHUNK (64 * 1024)

struct controller_sandbox {
	struct backend_sandbox *sb;
	struct agent_client *client;
	struct json_object *hello;
	struct egress_run *egress;
};

int controller_choose_backend(const char *isolation, const struct backend_ops **ops, char *why,
			      size_t why_len)
{
	const struct backend_ops *vm, *ct;
	char reason[512];

	if (backend_lookup("microvm", &vm) < 0 || backend_lookup("container", &ct) < 0)
		return -ENOENT;
	/* libvirt only when asked for: it needs a libvirtd, and "auto" stays
	 * within this machine's own isolation. */
	if (strcmp(isolation, "microvm") == 0 || strcmp(isolation, "container") == 0 ||
	    strcmp(isolation, "libvirt") == 0) {
		if (backend_lookup(isolation, ops) < 0)
			return -ENOENT;
		snprintf(why, why_len, "isolation: %s (asked for)", isolation);
		return 0;
	}
	if (strcmp(isolation, "auto") != 0)
		return -EINVAL;
	if (vm->probe(reason, sizeof(reason)) == 0) {
		*ops = vm;
		snprintf(why, why_len, "isolation: microvm (%s)", reason);
		return 0;
	}
	*ops = ct;
	snprintf(why, why_len, "isolation: container, because microvm is not possible here: %s",
		 reason);
	return 0;
}

static void controller_fresh_name(char *out, size_t len)
{
	unsigned int v = 0;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
		v = (unsigned int)getpid() ^ (unsigned int)time(NULL);
	snprintf(out, len, "run-%08x", v);
}

int controller_sandbox_new(const struct controller_options *o, const struct backend_ops *ops,
			   struct controller_sandbox **out)
{
	struct controller_sandbox *cs;
	struct backend_config cfg = {
		.name = o->name,
		.rootfs = o->rootfs,
		.agent_path = o->agent_path,
		.limits = o->limits,
		.log_fd = o->log_fd,
	};
	char name[BACKEND_NAME_MAX + 1], err[512];
	int fd, r;

	*out = NULL;
	if (!cfg.name) {
		controller_fresh_name(name, sizeof(name));
		cfg.name = name;
	}
	cs = calloc(1, sizeof(*cs));
	if (!cs) {
		egress_policy_free(o->egress_policy);
		return -ENOMEM;
	}
	if (o->egress_policy) {
		r = egress_run_start(cfg.name, o->egress_policy, o->egress_audit, NULL,
				     &cs->egress);
		if (r < 0)
			goto fail;
		cfg.egress_sock = egress_run_sock(cs->egress);
	}
	r = backend_sandbox_new(ops, &cfg, &cs->sb);
	if (r < 0)
		goto fail;
	r = backend_sandbox_connect(cs->sb, &fd);
	if (r < 0)
		goto fail;
	r = agent_client_new(fd, &cs->client);
	if (r < 0)
		goto fail;
	r = agent_client_hello(cs->client,
			       o->hello_timeout_ms ? o->hello_timeout_ms : CONTROLLER_HELLO_MS,
			       &cs->hello, err, sizeof(err));
	if (r < 0) {
		if (r == -ETIMEDOUT)
			log_err("sandbox %s: the agent did not say hello within %d ms", cfg.name,
				o->hello_timeout_ms ? o->hello_timeout_ms : CONTROLLER_HELLO_MS);
		else if (r == -ECONNRESET)
			log_err("sandbox %s: the agent closed the connection before saying hello",
				cfg.name);
		else
			log_err("sandbox %s: hello failed: %s", cfg.name,
				err[0] ? err : strerror(-r));
		backend_sandbox_log_tail(cs->sb, 10);
		goto fail;
	}
	log_debug("sandbox %s: hello: %s", cfg.name,
		  json_object_to_json_string_ext(cs->hello, JSON_C_TO_STRING_PLAIN));
	*out = cs;
	return 0;
fail:
	controller_sandbox_free(cs);
	return r;
}

struct json_object *controller_sandbox_hello(struct controller_sandbox *sb)
{
	return sb->hello;
}

const char *controller_sandbox_name(const struct controller_sandbox *sb)
{
	return backend_sandbox_name(sb->sb);
}

void controller_sandbox_free(struct controller_sandbox *cs)
{
	if (!cs)
		return;
	if (cs->client) {
		struct json_object *req = json_object_new_object();
		if (req) {
			json_object_object_add(req, "op", json_object_new_string("shutdown"));
			agent_client_call(cs->client, req, CONTROLLER_SHUTDOWN_MS, NULL, NULL, 0);
			json_object_put(req);
		}
	}
	agent_client_free(cs->client);
	json_object_put(cs->hello);
	backend_sandbox_free(cs->sb);
	egress_run_stop(cs->egress);
	free(cs);
}

static long controller_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int controller_write_all(int fd, const unsigned char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static struct json_object *controller_exec_request(const struct controller_exec *ex)
{
	struct json_object *req = json_object_new_object(), *argv = json_object_new_array();

	if (!req || !argv) {
		json_object_put(req);
		json_object_put(argv);
		return NULL;
	}
	json_object_object_add(req, "op", json_object_new_string("exec"));
	for (size_t i = 0; ex->argv[i]; i++)
		json_object_array_add(argv, json_object_new_string(ex->argv[i]));
	json_object_object_add(req, "argv", argv);
	if (ex->env && ex->env[0]) {
		struct json_object *env = json_object_new_array();
		for (size_t i = 0; ex->env[i]; i++)
			json_object_array_add(env, json_object_new_string(ex->env[i]));
		json_object_object_add(req, "env", env);
	}
	if (ex->cwd)
		json_object_object_add(req, "cwd", json_object_new_string(ex->cwd));
	if (ex->uid >= 0)
		json_object_object_add(req, "uid", json_object_new_int64(ex->uid));
	if (ex->timeout_ms)
		json_object_object_add(req, "timeout_ms",
				       json_object_new_int64((int64_t)ex->timeout_ms));
	/* A person at a terminal wants all of the output. */
	json_object_object_add(req, "output_cap", json_object_new_int64(1ll << 40));
	if (ex->stdin_fd >= 0)
		json_object_object_add(req, "stdin_stream", json_object_new_boolean(1));
	return req;
}

/* Forward one chunk of our stdin (or its end) to the command. */
static int controller_send_stdin(struct agent_client *c, int64_t target, int fd, int64_t *req_id,
				 int *eof)
{
	unsigned char buf[CONTROLLER_STDIN_CHUNK];
	struct json_object *req;
	ssize_t n;
	int r;

	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = 0; /* an unreadable stdin ends like an empty one */
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("stdin"));
	json_object_object_add(req, "target", json_object_new_int64(target));
	if (n > 0) {
		char *b64;
		size_t blen;
		r = base64_encode(buf, (size_t)n, &b64, &blen);
		if (r < 0) {
			json_object_put(req);
			return r;
		}
		json_object_object_add(req, "data", json_object_new_string_len(b64, (int)blen));
		free(b64);
	} else {
		json_object_object_add(req, "eof", json_object_new_boolean(1));
		*eof = 1;
	}
	r = agent_client_send(c, req, req_id, 10000);
	json_object_put(req);
	return r;
}

/* Ask the agent to send signo to the exec's process group. */
static int controller_send_signal(struct agent_client *c, int64_t target, int signo)
{
	struct json_object *req;
	const char *name = agent_client_signal_name(signo);
	int r;

	if (!name)
		return 0;
	req = json_object_new_object();
	if (!req)
		return -ENOMEM;
	json_object_object_add(req, "op", json_object_new_string("signal"));
	json_object_object_add(req, "target", json_object_new_int64(target));
	json_object_object_add(req, "signal", json_object_new_string(name));
	r = agent_client_send(c, req, NULL, 5000);
	json_object_put(req);
	return r;
}

/* Forward a signal we received. The third SIGINT becomes SIGKILL, so that a
 * command that ignores ^C can still be stopped from the terminal. */
static int controller_forward_signal(struct agent_client *c, int64_t target, int sigfd, int *nint)
{
	struct signalfd_siginfo si;
	int signo;

	if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	signo = (int)si.ssi_signo;
	if (signo == SIGINT && ++*nint >= 3)
		signo = SIGKILL;
	return controller_send_signal(c, target, signo);
}

int controller_exec_event(struct json_object *msg, const struct controller_exec *ex,
			  struct controller_exec_result *res, const char *sbname)
{
	struct json_object *ev, *v;
	const char *event;

	if (!json_object_object_get_ex(msg, "event", &ev)) {
		/* A terminal reply without an exit event: the process did not start. */
		struct json_object *ok;
		if (json_object_object_get_ex(msg, "ok", &ok) && !json_object_get_boolean(ok)) {
			snprintf(res->error_code, sizeof(res->error_code), "%s",
				 agent_client_error_code(msg));
			snprintf(res->error, sizeof(res->error), "%s",
				 agent_client_error_message(msg));
		} else {
			snprintf(res->error_code, sizeof(res->error_code), "EPROTO");
			snprintf(res->error, sizeof(res->error), "unexpected reply to exec");
		}
		return 1;
	}
	event = json_object_get_string(ev);
	if (!event)
		return 0;
	if (strcmp(event, "started") == 0) {
		res->started = 1;
	} else if (strcmp(event, "stdout") == 0 || strcmp(event, "stderr") == 0) {
		unsigned char *data;
		size_t len;
		const char *b64;

		if (!json_object_object_get_ex(msg, "data", &v) ||
		    !(b64 = json_object_get_string(v)) ||
		    base64_decode(b64, (size_t)json_object_get_string_len(v), &data, &len) < 0) {
			log_warn("sandbox %s: an output event with bad data was dropped", sbname);
			return 0;
		}
		/* A closed output of ours must not stop us from draining the agent;
		 * the exec loop tells the command, as a pipe would (SIGPIPE). */
		int *closed = event[3] == 'o' ? &res->out_closed : &res->err_closed;
		if (!*closed && controller_write_all(event[3] == 'o' ? ex->out_fd : ex->err_fd,
						     data, len) == -EPIPE)
			*closed = 1;
		free(data);
	} else if (strcmp(event, "exit") == 0) {
		res->started = 1;
		res->exit_code = -1;
		if (json_object_object_get_ex(msg, "exit_code", &v) &&
		    json_object_is_type(v, json_type_int))
			res->exit_code = json_object_get_int(v);
		if (json_object_object_get_ex(msg, "signal", &v) &&
		    json_object_is_type(v, json_type_string))
			res->signo = agent_client_signal_number(json_object_get_string(v));
		if (res->exit_code < 0 && !res->signo)
			res->signo = 9; /* a signal we do not know by name */
		if (json_object_object_get_ex(msg, "timed_out", &v))
			res->timed_out = json_object_get_boolean(v);
		if (json_object_object_get_ex(msg, "duration_ms", &v))
			res->duration_ms = json_object_get_int64(v);
		return 1;
	}
	return 0; /* events we do not know are ignored */
}

int controller_sandbox_exec(struct controller_sandbox *cs, const struct controller_exec *ex,
			    struct controller_exec_result *res)
{
	const char *name = backend_sandbox_name(cs->sb);
	struct json_object *req;
	int64_t exec_id, stdin_req = 0;
	int stdin_eof = ex->stdin_fd < 0, r;
	long deadline = ex->timeout_ms
				? controller_now_ms() + (long)ex->timeout_ms + CONTROLLER_GRACE_MS
				: -1;
	long stdin_retry = 0;
	int nint = 0, piped = 0;

	memset(res, 0, sizeof(*res));
	res->exit_code = -1;
	if (!ex->argv || !ex->argv[0])
		return -EINVAL;
	req = controller_exec_request(ex);
	if (!req)
		return -ENOMEM;
	r = agent_client_send(cs->client, req, &exec_id, 10000);
	json_object_put(req);
	if (r < 0) {
		log_err("sandbox %s: sending exec: %s", name, strerror(-r));
		return r;
	}
	for (;;) {
		struct pollfd p[4];
		int np = 0, ic, iin = -1, isig = -1, iexit = -1, timeout = -1;
		long now = controller_now_ms();

		p[np++] = (struct pollfd){ .fd = agent_client_fd(cs->client), .events = POLLIN };
		ic = 0;
		if (res->started && !stdin_eof && !stdin_req && now >= stdin_retry) {
			iin = np;
			p[np++] = (struct pollfd){ .fd = ex->stdin_fd, .events = POLLIN };
		}
		if (ex->signal_fd >= 0) {
			isig = np;
			p[np++] = (struct pollfd){ .fd = ex->signal_fd, .events = POLLIN };
		}
		if (backend_sandbox_exit_fd(cs->sb) >= 0) {
			iexit = np;
			p[np++] = (struct pollfd){ .fd = backend_sandbox_exit_fd(cs->sb),
						   .events = POLLIN };
		}
		if (deadline >= 0)
			timeout = deadline > now ? (int)(deadline - now) : 0;
		if (stdin_retry > now && (timeout < 0 || stdin_retry - now < timeout))
			timeout = (int)(stdin_retry - now);
		r = poll(p, (nfds_t)np, timeout);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (deadline >= 0 && controller_now_ms() >= deadline) {
			log_err("sandbox %s: the agent did not end the command %d ms after its "
				"timeout",
				name, CONTROLLER_GRACE_MS);
			res->timed_out = 1;
			return 0;
		}
		if (r <= 0)
			continue;
		if (p[ic].revents) {
			/* Drain every complete message already buffered. */
			for (;;) {
				struct json_object *msg;
				int64_t id;
				int done;

				r = agent_client_recv(cs->client, 0, &msg);
				if (r == 0)
					break;
				if (r < 0) {
					log_err("sandbox %s: connection to the agent: %s", name,
						r == -ECONNRESET ? "closed" : strerror(-r));
					return r == -ECONNRESET ? -ECONNRESET : r;
				}
				agent_client_msg_id(msg, &id);
				if (id == exec_id) {
					done = controller_exec_event(msg, ex, res, name);
					json_object_put(msg);
					if (done)
						return 0;
					continue;
				}
				if (id == stdin_req) {
					struct json_object *ok;
					stdin_req = 0;
					if (json_object_object_get_ex(msg, "ok", &ok) &&
					    !json_object_get_boolean(ok)) {
						if (strcmp(agent_client_error_code(msg), "EBUSY") ==
						    0)
							stdin_retry = controller_now_ms() + 20;
						else
							stdin_eof = 1; /* it stopped reading */
					}
				}
				json_object_put(msg);
			}
		}
		if (res->out_closed && !piped) {
			piped = 1;
			r = controller_send_signal(cs->client, exec_id, SIGPIPE);
			if (r < 0)
				return r;
		}
		if (iin >= 0 && p[iin].revents) {
			r = controller_send_stdin(cs->client, exec_id, ex->stdin_fd, &stdin_req,
						  &stdin_eof);
			if (r < 0)
				return r;
		}
		if (isig >= 0 && p[isig].revents) {
			r = controller_forward_signal(cs->client, exec_id, ex->signal_fd, &nint);
			if (r < 0)
				return r;
		}
		if (iexit >= 0 && p[iexit].revents) {
			/* Take what the agent managed to send before it went. */
			struct json_object *msg;
			while (agent_client_recv(cs->client, 0, &msg) == 1) {
				int64_t id;
				agent_client_msg_id(msg, &id);
				int done =
					id == exec_id && controller_exec_event(msg, ex, res, name);
				json_object_put(msg);
				if (done)
					return 0;
			}
			log_err("sandbox %s: the sandbox stopped while the command ran", name);
			return -ECONNRESET;
		}
	}
}
