/* Where the agentvm programs find their siblings. Everything is looked up
 * relative to the running program (/proc/self/exe), so a build tree or an
 * installed tree works without configuration:
 *   AGENTVM_LIBEXEC  directory holding agentvm-agent, agentvm-vmm and guests/
 *                    (default: the directory of the running program)
 *   AGENTVM_IMAGES   directory holding the image scripts <name>/build.sh
 *                    (default: <libexec>/../images) */
#ifndef AGENTVM_HOST_LIBEXEC_H
#define AGENTVM_HOST_LIBEXEC_H

#include <stddef.h>

/* The libexec directory (absolute, no trailing slash). */
int libexec_dir(char *out, size_t len);
/* <libexec>/<rel> in out; returns 0 if it exists, -ENOENT if not (out is set either way). */
int libexec_path(const char *rel, char *out, size_t len);
/* The image scripts directory; -ENOENT if it does not exist (out is set either way). */
int libexec_images_dir(char *out, size_t len);
/* Run <images>/<script> with args (NULL-terminated, after argv[0]), stderr
 * to /dev/null, and put the first line it prints in out, which must be an
 * absolute path: what `kernel/build.sh --dir` and the like say without
 * building anything. -ENOENT if the script fails or prints no path. */
int libexec_images_query(const char *script, const char *const args[], char *out, size_t len);

#endif
