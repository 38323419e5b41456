/* SHA-256 (FIPS 180-4), small and dependency-free: the snapshot state file's
 * checksum. Not constant-time; nothing secret is hashed. */
#ifndef AGENTVM_VMM_SNAPSHOT_SHA256_H
#define AGENTVM_VMM_SNAPSHOT_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_SHA256_SIZE 32

struct snapshot_sha256 {
	uint32_t h[8];
	uint64_t bytes; /* total fed so far */
	uint8_t buf[64];
	size_t used; /* bytes waiting in buf */
};

void snapshot_sha256_init(struct snapshot_sha256 *c);
void snapshot_sha256_update(struct snapshot_sha256 *c, const void *data, size_t len);
/* Write the digest to out; c must be initialised again before reuse. */
void snapshot_sha256_final(struct snapshot_sha256 *c, uint8_t out[SNAPSHOT_SHA256_SIZE]);
/* The digest of data[0, len) in one call. */
void snapshot_sha256_digest(const void *data, size_t len, uint8_t out[SNAPSHOT_SHA256_SIZE]);

#endif
