/* The agentvm command line: one file per subcommand, shared helpers here. */
#ifndef AGENTVM_HOST_CLI_CLI_H
#define AGENTVM_HOST_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct controller_exec_result;

/* Exit statuses of agentvm itself (a command's own status passes through). */
#define CLI_EXIT_USAGE	   2   /* bad flags or arguments */
#define CLI_EXIT_TIMEOUT   124 /* the command ran out of time, like timeout(1) */
#define CLI_EXIT_INTERNAL  125 /* agentvm could not do its job */
#define CLI_EXIT_NOEXEC	   126 /* the command exists but cannot be executed */
#define CLI_EXIT_NOTFOUND  127 /* no such command */
#define CLI_EXIT_SIGNALLED 128 /* plus the signal number */

/* Subcommands: argv[0] is the subcommand's name. Each returns the exit status. */
int cli_run_main(int argc, char **argv);
int cli_doctor_main(int argc, char **argv);

/* Subcommands that talk to agentvmd (host/client.h). */
int cli_create_main(int argc, char **argv);
int cli_exec_main(int argc, char **argv);
int cli_cp_main(int argc, char **argv);
int cli_reset_main(int argc, char **argv);
int cli_ls_main(int argc, char **argv);
int cli_rm_main(int argc, char **argv);
int cli_logs_main(int argc, char **argv);
int cli_audit_main(int argc, char **argv);
int cli_top_main(int argc, char **argv);
int cli_snapshot_main(int argc, char **argv);
int cli_daemon_main(int argc, char **argv);
int cli_batch_main(int argc, char **argv);
int cli_test_main(int argc, char **argv);
int cli_template_main(int argc, char **argv);

struct client_conn;
struct client_error;
struct json_object;

/* Connect to agentvmd for subcommand cmd; when none answers, say so (and how
 * to start one) and return -1. 0 with *c. */
int cli_client_connect(const char *cmd, struct client_conn **c);
/* Report a failed call of cmd (r from client_call) on stderr; returns the
 * exit status (125). */
int cli_client_fail(const char *cmd, int r, const struct client_error *e);
/* Call method; on failure report it and return -1. */
int cli_client_call(const char *cmd, struct client_conn *c, const char *method,
		    struct json_object *params, struct json_object **result);
/* Print a JSON value on stdout, pretty, with a newline. */
void cli_print_json(struct json_object *o);
/* "1.5G", "512M", "12K", "100B" */
void cli_format_size(int64_t bytes, char *out, size_t len);
/* "3s", "5m", "2h", "4d" */
void cli_format_age(double seconds, char *out, size_t len);
/* Run sandbox.exec with params (consumed), output to our stdout/stderr, and
 * set *status to the exit status for it (errors reported on stderr). 0, or
 * -EINTR when interrupted (see client_set_interrupt), or -errno. */
int cli_exec_call(struct client_conn *c, struct json_object *params, const char *cmd0, bool json,
		  int *status);
/* The exit status for an exec result from agentvmd (see `agentvm run`). */
int cli_exec_status(struct json_object *result);

/* "512M", "2G", "1.5GiB", "1048576" (bytes) -> bytes. -EINVAL, -ERANGE. */
int cli_parse_size(const char *s, uint64_t *out);
/* "2", "0.5" CPUs -> thousandths of a CPU (at least 1). -EINVAL, -ERANGE. */
int cli_parse_cpus(const char *s, uint32_t *millis);
/* "30", "1.5" seconds -> milliseconds (at least 1). -EINVAL, -ERANGE. */
int cli_parse_seconds(const char *s, uint64_t *ms);

/* The exit status `agentvm run` reports for a finished command. */
int cli_exit_status(const struct controller_exec_result *res);

/* A usage error: "agentvm <cmd>: <message> (try 'agentvm <cmd> --help')" on
 * stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Where the image `spec` (a name such as "minimal", or a directory) has its
 * root tree; builds a named image that is not built yet (progress on stderr).
 * agent is the agent the image should carry (NULL: the scripts' default).
 * Logs why on failure. */
int cli_image_resolve(const char *spec, const char *agent, char *rootfs, size_t len);
/* Where the named image would be, and whether it is built (1) or not (0);
 * -ENOENT for an unknown name. */
int cli_image_locate(const char *name, const char *agent, char *dir, size_t len);
/* The names of the images the scripts can build, space-separated. */
void cli_image_names(char *out, size_t len);
/* The agent to run as PID 1: the libexec agentvm-agent when it is a static
 * program (it runs in images without a C library); else NULL (the image's own). */
const char *cli_image_agent(char *buf, size_t len);

#endif
