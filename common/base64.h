/* Standard base64 (RFC 4648, "+/" alphabet, "=" padding), strict on decode:
 * no whitespace, no missing padding, no bits set past the data. */
#ifndef AGENTVM_COMMON_BASE64_H
#define AGENTVM_COMMON_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes (without a terminating NUL). */
size_t base64_encoded_len(size_t n);
/* Encode n bytes of src into dst, which has room for base64_encoded_len(n) + 1
 * bytes; dst is NUL-terminated. Returns the encoded length. */
size_t base64_encode_to(const void *src, size_t n, char *dst);
/* Encode into a new NUL-terminated buffer. Returns 0 or -ENOMEM (or -E2BIG
 * if n is absurd). */
int base64_encode(const void *src, size_t n, char **out, size_t *out_len);

/* Upper bound of the decoded length of n encoded characters. */
size_t base64_decoded_max(size_t n);
/* Decode n characters of src into dst (room for base64_decoded_max(n) bytes).
 * Returns the decoded length, or -EINVAL if src is not canonical base64. */
long base64_decode_to(const char *src, size_t n, void *dst);
/* Decode into a new buffer (NUL-terminated for convenience, not counted in
 * *out_len). Returns 0, -EINVAL or -ENOMEM. */
int base64_decode(const char *src, size_t n, unsigned char **out, size_t *out_len);

#endif
