/* Errors for clients: a stable code (an errno name or a protocol code such
 * as EBADREQ), a human message, and the path or field they concern. */
#ifndef AGENTVM_GUEST_AGENT_ERROR_H
#define AGENTVM_GUEST_AGENT_ERROR_H

#define AGENT_ERROR_PATH_MAX 4095

/* An error for the client: a stable code, a message, and what it concerns. */
struct agent_error {
	const char *code;  /* "ENOENT", "EBADREQ", ... (static string) */
	const char *field; /* EBADREQ: the offending member (static or borrowed), or NULL */
	char path[AGENT_ERROR_PATH_MAX + 1];
	char message[512];
};

/* Fill err with a protocol code. field may be NULL. */
void agent_error_set(struct agent_error *err, const char *code, const char *field, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));
/* Fill err from an errno value (positive or negative): code = its name,
 * message = "<what>: <strerror>". path may be NULL. */
void agent_error_errno(struct agent_error *err, int errnum, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The errno's symbolic name ("ENOENT"), or "EIO" if it has none. */
const char *agent_error_errno_name(int errnum);

#endif
