/* Task specs (docs/TASKS.md): one JSON object describing a unit of work for a
 * fresh sandbox — template, limits, metadata, setup (files and commands),
 * commands, validation commands, artefacts, a timeout and a retry policy.
 * Parsing is strict: unknown members, wrong types and out-of-range values are
 * refused with one message naming the member. Pure, so the fuzzer drives it. */
#ifndef AGENTVM_HOST_TASK_H
#define AGENTVM_HOST_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define TASK_SPEC_MAX	    (128u * 1024) /* bytes of spec text */
#define TASK_FILES_MAX	    256		  /* setup files */
#define TASK_FILE_BYTES_MAX (96u * 1024)  /* decoded bytes of all files together */
#define TASK_CMDS_MAX	    64		  /* commands per list */
#define TASK_ARTEFACTS_MAX  32
#define TASK_ARTEFACT_CAP   (1u << 20)	 /* default bytes per artefact */
#define TASK_ARTEFACT_MAX   (8u << 20)	 /* largest artefact_cap */
#define TASK_OUTPUT_CAP	    (64u * 1024) /* default bytes of output per stream */
#define TASK_OUTPUT_MAX	    (8u << 20)	 /* largest output_cap */
#define TASK_TIMEOUT_DEF    600.0	 /* seconds */
#define TASK_TIMEOUT_MAX    (7 * 86400.0)
#define TASK_RETRIES_DEF    2
#define TASK_RETRIES_MAX    10

/* Parse and check one spec (len bytes of JSON text, no NUL needed). 0 with
 * *out a canonical object: every member present with its default filled in,
 * commands as argv arrays ("sh -c STRING" for a string), file contents as
 * "data" (base64). Otherwise -EINVAL with a message in err. */
int task_spec_parse(const char *text, size_t len, struct json_object **out, char *err,
		    size_t errlen);

/* Is the result status (one of "passed", "failed", "error", "cancelled") final? */
bool task_status_valid(const char *status);

#endif
