/* egress-proxyd: the host's egress proxy on its own, for tests and
 * benchmarks. One sandbox per --sandbox NAME=SOCKET, all with the same
 * policy. Prints "ready" on stdout once listening; SIGTERM or SIGINT stop it
 * (every open connection is audited on the way out). */
#include "common/log.h"
#include "host/egress/egress.h"

#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_SANDBOXES 8

static void usage(FILE *f)
{
	fprintf(f, "Usage: egress-proxyd --sandbox NAME=SOCKET... [OPTION]...\n"
		   "  --sandbox NAME=SOCKET  listen for sandbox NAME on the Unix socket SOCKET\n"
		   "  --policy FILE          the policy (JSON; docs/EGRESS.md); default: nothing\n"
		   "                         allowed\n"
		   "  --allow-domain D       also allow domain pattern D (repeatable)\n"
		   "  --resolve-file FILE    names the proxy resolves itself (hosts(5) format)\n"
		   "  --audit FILE           append the audit lines (JSON) to FILE\n"
		   "  --audit-stdout         print them on stdout as well\n"
		   "  --debug                log every decision\n");
}

static void print_line(void *ctx, struct json_object *line)
{
	(void)ctx;
	printf("%s\n", json_object_to_json_string_ext(
			       line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "sandbox", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "allow-domain", required_argument, NULL, 'd' },
		{ "resolve-file", required_argument, NULL, 'r' },
		{ "audit", required_argument, NULL, 'a' },
		{ "audit-stdout", no_argument, NULL, 'o' },
		{ "debug", no_argument, NULL, 'D' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *sandboxes[MAX_SANDBOXES], *policy_path = NULL, *resolve = NULL;
	const char *domains[64];
	struct egress_options eo = { 0 };
	struct egress_sandbox *sb[MAX_SANDBOXES] = { 0 };
	struct egress *e = NULL;
	int nsb = 0, nd = 0, to_stdout = 0, c, r, rc = 1;
	sigset_t set;
	char err[512];

	log_init("egress-proxyd", NULL);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (nsb == MAX_SANDBOXES || !strchr(optarg, '=')) {
				fprintf(stderr, "egress-proxyd: bad --sandbox %s\n", optarg);
				return 2;
			}
			sandboxes[nsb++] = optarg;
			break;
		case 'p':
			policy_path = optarg;
			break;
		case 'd':
			if (nd == 64)
				return 2;
			domains[nd++] = optarg;
			break;
		case 'r':
			resolve = optarg;
			break;
		case 'a':
			eo.audit_path = optarg;
			break;
		case 'o':
			to_stdout = 1;
			break;
		case 'D':
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (nsb == 0 || optind < argc) {
		usage(stderr);
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	r = egress_new(&eo, &e);
	if (r < 0) {
		fprintf(stderr, "egress-proxyd: %s\n", strerror(-r));
		return 1;
	}
	if (to_stdout)
		egress_set_audit_sink(e, print_line, NULL);
	for (int i = 0; i < nsb; i++) {
		struct egress_policy *p = NULL;
		char name[64];
		const char *eq = strchr(sandboxes[i], '=');

		snprintf(name, sizeof(name), "%.*s", (int)(eq - sandboxes[i]), sandboxes[i]);
		r = policy_path ? egress_policy_load(policy_path, &p, err, sizeof(err))
				: egress_policy_new(&p);
		if (r < 0) {
			fprintf(stderr, "egress-proxyd: policy: %s\n",
				policy_path ? err : strerror(-r));
			goto out;
		}
		for (int k = 0; k < nd; k++)
			if (egress_policy_add_domain(p, domains[k]) < 0) {
				fprintf(stderr, "egress-proxyd: bad domain %s\n", domains[k]);
				egress_policy_free(p);
				goto out;
			}
		if (resolve && egress_policy_load_hosts(p, resolve, err, sizeof(err)) < 0) {
			fprintf(stderr, "egress-proxyd: %s\n", err);
			egress_policy_free(p);
			goto out;
		}
		r = egress_sandbox_add(e, name, eq + 1, p, &sb[i]);
		if (r < 0)
			goto out;
	}
	printf("ready\n");
	fflush(stdout);
	sigwaitinfo(&set, NULL);
	rc = 0;
out:
	for (int i = 0; i < nsb; i++)
		egress_sandbox_remove(e, sb[i]);
	egress_free(e);
	return rc;
}
