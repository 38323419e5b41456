/* The controller <-> agent frame codec: a 4-byte big-endian length followed by
 * that many bytes of JSON text holding exactly one object (docs/PROTOCOL.md).
 *
 * Decoding is incremental and never blocks: feed bytes as they arrive (or let
 * frame_decoder_read() pull them from a non-blocking fd), then call
 * frame_decoder_next() until it returns 0. Encoding produces either one
 * malloc'd buffer (frame_encode) or appends to a frame_writer, an output queue
 * meant for non-blocking sockets. */
#ifndef AGENTVM_COMMON_FRAME_H
#define AGENTVM_COMMON_FRAME_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

#define FRAME_HDR_LEN 4u
/* Largest payload (JSON text) of one frame, in bytes. */
#define FRAME_MAX (16u << 20)

/* Decoder errors, returned by frame_decoder_next(). */
/* The length prefix exceeds the decoder's limit. The stream cannot be resynchronised:
 * the caller should send an error (if it can) and close the connection. */
#define FRAME_ETOOBIG (-EMSGSIZE)
/* The payload is not valid JSON (or has trailing garbage, or invalid UTF-8). The
 * frame has been consumed; the stream continues with the next frame. */
#define FRAME_EJSON (-EBADMSG)
/* The payload is valid JSON but not an object. Consumed; the stream continues. */
#define FRAME_ENOTOBJ (-EPROTO)

/* Serialise obj to compact JSON and prepend the length. On success *out is a
 * malloc'd buffer of *out_len bytes. Returns -E2BIG if the JSON text exceeds
 * FRAME_MAX, -EINVAL if obj is NULL, -ENOMEM. */
int frame_encode(struct json_object *obj, char **out, size_t *out_len);

/* Write the 4-byte big-endian header for a payload of len bytes into hdr. */
void frame_put_header(unsigned char hdr[FRAME_HDR_LEN], uint32_t len);

struct frame_decoder;

/* A decoder that accepts payloads up to max bytes (0 or more than FRAME_MAX
 * means FRAME_MAX). Returns NULL on allocation failure. */
struct frame_decoder *frame_decoder_new(size_t max);
/* NULL-safe. */
void frame_decoder_free(struct frame_decoder *d);

/* Append len bytes to the decoder's buffer. Returns 0 or -ENOMEM. To bound
 * memory, drain with frame_decoder_next() between feeds. */
int frame_decoder_feed(struct frame_decoder *d, const void *buf, size_t len);

/* One read(2) of at most 64 KiB from fd into the decoder. Returns the number of bytes read (> 0), 0 on end of file,
 * -EAGAIN when a non-blocking fd has nothing, or another -errno. */
long frame_decoder_read(struct frame_decoder *d, int fd);

/* Take the next complete frame. Returns 1 with a new reference in *out, 0 if
 * more bytes are needed, or FRAME_ETOOBIG / FRAME_EJSON / FRAME_ENOTOBJ (see
 * above); -ENOMEM if json-c runs out of memory. After FRAME_ETOOBIG every later
 * call returns FRAME_ETOOBIG again. */
int frame_decoder_next(struct frame_decoder *d, struct json_object **out);

/* Bytes buffered but not yet returned as frames. */
size_t frame_decoder_pending(const struct frame_decoder *d);
/* True when the buffer holds nothing: a clean place for the stream to end. */
int frame_decoder_idle(const struct frame_decoder *d);

/* An output queue of encoded frames for a non-blocking fd. */
struct frame_writer;

struct frame_writer *frame_writer_new(void);
/* NULL-safe; drops whatever is still queued. */
void frame_writer_free(struct frame_writer *w);

/* Encode obj and queue it. Returns 0, -E2BIG (obj too big for a frame; nothing
 * queued) or -ENOMEM. Does not take obj's reference. */
int frame_writer_push(struct frame_writer *w, struct json_object *obj);
/* Queue already-encoded JSON text (len <= FRAME_MAX) as one frame. */
int frame_writer_push_text(struct frame_writer *w, const char *json, size_t len);

/* Write as much as the fd accepts (sockets get MSG_NOSIGNAL, so a closed peer is
 * -EPIPE, not SIGPIPE; on pipes the caller must ignore SIGPIPE). Returns 0 when the queue is empty, -EAGAIN
 * when bytes remain (wait for EPOLLOUT), or another -errno (e.g. -EPIPE). */
int frame_writer_flush(struct frame_writer *w, int fd);

/* Bytes queued and not yet written. */
size_t frame_writer_pending(const struct frame_writer *w);

#endif
