/* The microvm backend's side of agentvm-vmm's control socket (--api,
 * JSON-RPC 2.0, one request per line: vm.pause, vm.resume, vm.snapshot,
 * vm.reset, ...), and the golden snapshots it takes through it.
 *
 * A template's golden snapshots live under the directory the controller
 * gives (backend_config.snapshot_dir), one directory per boot they were
 * taken from: <key>/state and <key>/memory, where <key> hashes everything
 * that decides what the guest becomes (the VMM and kernel binaries, the
 * initrd, the command line, memory size and vCPUs). A booting VM writes
 * into a private .<key>.<name> directory bound into its jail at /snapshot;
 * the finished files are handed to root, made read-only and renamed into
 * place in one step, so a directory named <key> is always complete. */
#ifndef AGENTVM_HOST_MICROVM_API_H
#define AGENTVM_HOST_MICROVM_API_H

#include <stddef.h>

/* Where the snapshot files sit inside a jail. */
#define MICROVM_SNAPSHOT_DIR	"/snapshot"
#define MICROVM_SNAPSHOT_STATE	"/snapshot/state"
#define MICROVM_SNAPSHOT_MEMORY "/snapshot/memory"

/* Connect to dir/file, a Unix socket whose path may be longer than
 * sun_path. Returns the fd or -errno. */
int microvm_unix_connect(const char *dir, const char *file);

/* Call method (params: a JSON object text, or NULL) on the VMM whose
 * control socket is dir/file, waiting up to timeout_ms for the socket to
 * appear and for the answer. 0 on a "result"; -EREMOTEIO on an "error"
 * reply (its message in err), else -errno. */
int microvm_api_call(const char *dir, const char *file, const char *method, const char *params,
		     int timeout_ms, char *err, size_t errlen);

/* One reply line of the VMM (hostile: the VMM runs jailed beside a guest):
 * 0 for a "result", -EREMOTEIO for an "error" (its message in err), -EPROTO
 * for anything else. */
int microvm_api_parse_reply(const char *method, const char *line, char *err, size_t errlen);

/* The key of a boot: 16 hex digits. */
int microvm_golden_key(const char *vmm, const char *kernel, const char *initrd, const char *cmdline,
		       unsigned long long mem_mib, unsigned int cpus, char key[17]);

/* Does dir hold a complete golden snapshot (state and memory)? */
int microvm_golden_exists(const char *dir);

/* Make the temporary directory a booting VM writes its snapshot into. */
int microvm_golden_prepare(const char *tmp);

/* The VM has written tmp/state and tmp/memory: hand them to root, make
 * them read-only and rename tmp to dir. 0 also when another VM published
 * dir first (tmp is then left for microvm_golden_discard). */
int microvm_golden_publish(const char *tmp, const char *dir);

/* Remove a temporary snapshot directory (NULL-safe, quiet if gone). */
void microvm_golden_discard(const char *tmp);

#endif
