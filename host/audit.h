/* The tamper-evident audit log: an append-only file of JSON lines, each line
 * chained to the one before it by SHA-256.
 *
 * Every line is one JSON object whose members come in this order:
 *   "ts"   RFC 3339 UTC time with milliseconds ("2026-11-30T00:01:02.345Z"),
 *   "seq"  1 for the first line, then +1 per line,
 *   "prev" hex SHA-256 of the previous line's bytes (without its '\n'); 64 zeros
 *          on the first line,
 *   ...    the event's own members ("type", "sandbox", "caller" {uid,pid}, ...),
 *   "hash" hex SHA-256 of the line's bytes up to (not including) ",\"hash\"",
 *          followed by "}" -- so an edited line is named by itself.
 * A side file "<path>.head" holds the seq and SHA-256 of the last line written,
 * so removing lines at the end of the log is detected too.
 *
 * Durability: each line goes out with a single write() on an O_APPEND fd, so
 * a crash of the process never loses or tears a line that audit_append
 * returned for. AUDIT_SYNC_EVERY (the default) also fdatasync()s after every
 * line before returning; AUDIT_SYNC_BATCH leaves that to a thread that
 * fdatasync()s every 50 ms while there is something to sync (and to
 * audit_sync() and audit_close()), so a power loss may lose the last 50 ms of
 * lines, and appends do not wait for the disk.
 * All functions on one struct audit_log are thread-safe, and several
 * processes may append to one log: each append takes an flock on it and
 * first picks up the lines the others added, so the chain stays one. */
#ifndef AGENTVM_HOST_AUDIT_H
#define AGENTVM_HOST_AUDIT_H

#include <stddef.h>
#include <stdint.h>

struct json_object;
struct audit_log;

enum audit_sync { AUDIT_SYNC_EVERY, AUDIT_SYNC_BATCH };

/* A line longer than this is replaced by a short record of the event's type
 * with "truncated": true. */
#define AUDIT_LINE_MAX (256 * 1024)

/* Open (creating with mode 0600 if absent) the log at path for appending; the
 * chain continues from its last line. A torn last line (no '\n', left by a
 * crash mid-write) is cut off and recorded as an "audit.torn" event. */
int audit_open(const char *path, struct audit_log **out);
void audit_close(struct audit_log *log);

void audit_set_sync(struct audit_log *log, enum audit_sync mode);

/* Append event (a JSON object; not consumed, never modified) with ts, seq,
 * prev and hash added. Members named ts, seq, prev or hash in event are
 * dropped. Returns 0, -EINVAL if event is not an object, or -errno of the
 * write. */
int audit_append(struct audit_log *log, struct json_object *event);

/* Convenience: append {"type": type, "sandbox": sandbox (if non-NULL),
 * "caller": {"uid","pid"} (if uid >= 0)} plus the members of extra (may be
 * NULL; not consumed). */
int audit_event(struct audit_log *log, const char *type, const char *sandbox, long uid, long pid,
		struct json_object *extra);

/* fdatasync now (for AUDIT_SYNC_BATCH). */
int audit_sync(struct audit_log *log);

/* The seq of the last line written (0 for an empty log). */
uint64_t audit_last_seq(struct audit_log *log);

/* The path the log was opened with. */
const char *audit_path(struct audit_log *log);

/* Check the whole chain of the log at path. Returns 0 if every line is intact
 * (*first_bad_line = 0), -EBADMSG if not, with *first_bad_line the 1-based
 * line number of the first bad line and err a one-line reason, or -errno if
 * the file cannot be read. *lines_out (may be NULL) gets the number of lines. */
int audit_verify(const char *path, long *first_bad_line, long *lines_out, char *err, size_t errlen);

/* The last n (<= 10000) lines of the log at path, parsed, oldest first, in a
 * new JSON array in *out. Lines that do not parse are returned as
 * {"unparsable": "<line>"}. Returns 0 or -errno. */
int audit_tail(const char *path, int n, struct json_object **out);

/* SHA-256 of data[0..n) as 64 lowercase hex digits plus NUL in hex[65].
 * Returns 0 or -EIO. */
int audit_sha256_hex(const void *data, size_t n, char hex[65]);

#endif
