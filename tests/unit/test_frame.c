/* The frame codec: encode, incremental decode and its errors, the writer. */
#include "common/frame.h"
#include "tests/unit/tap.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A raw frame with payload text (length from strlen unless given). */
static size_t test_make_frame(unsigned char *out, const char *text, size_t len)
{
	frame_put_header(out, (uint32_t)len);
	memcpy(out + FRAME_HDR_LEN, text, len);
	return FRAME_HDR_LEN + len;
}

static void test_roundtrip(void)
{
	struct json_object *o = json_object_new_object(), *got = NULL;
	struct frame_decoder *d = frame_decoder_new(0);
	char *buf = NULL;
	size_t len = 0, i;
	int r, whole = 1;

	json_object_object_add(o, "id", json_object_new_int(7));
	json_object_object_add(o, "op", json_object_new_string("hello/world"));
	r = frame_encode(o, &buf, &len);
	is(r, 0, "encode");
	ok(len > FRAME_HDR_LEN && (size_t)(((unsigned char)buf[2] << 8) | (unsigned char)buf[3]) ==
					  len - FRAME_HDR_LEN,
	   "big-endian length prefix");
	ok(memmem(buf, len, "hello/world", 11) != NULL, "slashes not escaped");

	/* Whole. */
	frame_decoder_feed(d, buf, len);
	r = frame_decoder_next(d, &got);
	is(r, 1, "whole frame decodes");
	ok(got && json_object_equal(o, got), "decoded object equals the original");
	json_object_put(got);
	is(frame_decoder_next(d, &got), 0, "nothing more");
	ok(frame_decoder_idle(d), "idle after a complete frame");

	/* Byte at a time. */
	for (i = 0; i < len; i++) {
		frame_decoder_feed(d, buf + i, 1);
		r = frame_decoder_next(d, &got);
		if (i + 1 < len && r != 0)
			whole = 0;
	}
	ok(whole && r == 1, "byte-at-a-time feed yields one frame at the last byte");
	ok(got && json_object_equal(o, got), "and it is equal");
	json_object_put(got);

	/* Split in two places, three frames in one buffer. */
	{
		char *three = malloc(len * 3);
		int n = 0;

		memcpy(three, buf, len);
		memcpy(three + len, buf, len);
		memcpy(three + 2 * len, buf, len);
		frame_decoder_feed(d, three, 2);
		frame_decoder_feed(d, three + 2, len + 3);
		frame_decoder_feed(d, three + len + 5, 2 * len - 5);
		while ((r = frame_decoder_next(d, &got)) == 1) {
			n++;
			json_object_put(got);
		}
		is(n, 3, "three frames from split feeds");
		free(three);
	}
	free(buf);
	json_object_put(o);
	frame_decoder_free(d);
}

static void test_errors(void)
{
	struct frame_decoder *d = frame_decoder_new(0);
	struct json_object *got = NULL;
	unsigned char f[256];
	size_t n;

	n = test_make_frame(f, "", 0);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_EJSON, "zero length is malformed JSON");
	n = test_make_frame(f, "{\"a\":", 5);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_EJSON, "truncated JSON");
	n = test_make_frame(f, "garbage!", 8);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_EJSON, "garbage");
	n = test_make_frame(f, "{} {}", 5);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_EJSON, "two values in one frame");
	n = test_make_frame(f, "{\"a\":\"\xff\"}", 9);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_EJSON, "invalid UTF-8");
	n = test_make_frame(f, "[1,2,3]", 7);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_ENOTOBJ, "array is not an object");
	n = test_make_frame(f, "42", 2);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), FRAME_ENOTOBJ, "number is not an object");
	n = test_make_frame(f, "{\"ok\":1}\n ", 10);
	frame_decoder_feed(d, f, n);
	is(frame_decoder_next(d, &got), 1,
	   "trailing whitespace allowed; stream continues after errors");
	json_object_put(got);

	/* Oversized: the header alone is enough to reject it. */
	frame_put_header(f, FRAME_MAX + 1);
	frame_decoder_feed(d, f, 4);
	is(frame_decoder_next(d, &got), FRAME_ETOOBIG, "16 MiB + 1 is too big");
	is(frame_decoder_next(d, &got), FRAME_ETOOBIG, "and stays broken");
	frame_decoder_free(d);

	d = frame_decoder_new(100);
	frame_put_header(f, 101);
	frame_decoder_feed(d, f, 4);
	is(frame_decoder_next(d, &got), FRAME_ETOOBIG, "custom limit");
	frame_decoder_free(d);
}

static void test_max(void)
{
	struct frame_decoder *d = frame_decoder_new(0);
	struct json_object *got = NULL, *o;
	size_t len = FRAME_MAX, slen;
	unsigned char *f = malloc(FRAME_HDR_LEN + len);
	char *text;
	int r;

	/* {"s":"xxxx...x"} of exactly FRAME_MAX bytes. */
	text = (char *)f + FRAME_HDR_LEN;
	memcpy(text, "{\"s\":\"", 6);
	memset(text + 6, 'x', len - 8);
	memcpy(text + len - 2, "\"}", 2);
	frame_put_header(f, (uint32_t)len);
	frame_decoder_feed(d, f, FRAME_HDR_LEN + len);
	r = frame_decoder_next(d, &got);
	is(r, 1, "exactly 16 MiB decodes");
	slen = got ? (size_t)json_object_get_string_len(json_object_object_get(got, "s")) : 0;
	is(slen, len - 8, "with its whole string");

	/* Encoding: one byte more than FRAME_MAX is refused. */
	{
		char *buf = NULL;
		size_t blen = 0;

		is(frame_encode(got, &buf, &blen), 0, "encode 16 MiB");
		free(buf);
		memset(text + 6, 'y', len - 8);
		text[len - 2] = 'y';
		memcpy(text + len - 1, "\"", 1);
		o = json_object_new_object();
		json_object_object_add(o, "s",
				       json_object_new_string_len(text + 6, (int)(len - 7)));
		is(frame_encode(o, &buf, &blen), -E2BIG, "encode 16 MiB + 1 refused");
		json_object_put(o);
	}
	json_object_put(got);
	free(f);
	frame_decoder_free(d);
}

static void test_writer_and_read(void)
{
	struct frame_writer *w = frame_writer_new();
	struct frame_decoder *d = frame_decoder_new(0);
	struct json_object *o = json_object_new_object(), *got;
	int sv[2], i, r, n = 0, fl;
	long rd;

	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	fl = fcntl(sv[0], F_GETFL);
	fcntl(sv[0], F_SETFL, fl | O_NONBLOCK);
	fcntl(sv[1], F_SETFL, fl | O_NONBLOCK);
	json_object_object_add(o, "data", json_object_new_string_len("0123456789abcdef", 16));
	for (i = 0; i < 20000; i++)
		frame_writer_push(w, o);
	ok(frame_writer_pending(w) > 0, "writer queued %zu bytes", frame_writer_pending(w));
	/* Interleave flushes and reads until everything crossed. */
	for (i = 0; i < 100000; i++) {
		r = frame_writer_flush(w, sv[1]);
		while ((rd = frame_decoder_read(d, sv[0])) > 0) {
			while (frame_decoder_next(d, &got) == 1) {
				n++;
				json_object_put(got);
			}
		}
		if (r == 0 && rd == -EAGAIN)
			break;
	}
	is(n, 20000, "all frames crossed a non-blocking socketpair");
	is(frame_writer_pending(w), 0, "writer drained");
	close(sv[1]);
	is(frame_decoder_read(d, sv[0]), 0, "read reports end of file");
	close(sv[0]);
	json_object_put(o);
	frame_writer_free(w);
	frame_decoder_free(d);
	frame_writer_free(NULL);
	frame_decoder_free(NULL);
	ok(1, "free(NULL) is safe");
}

int main(void)
{
	test_roundtrip();
	test_errors();
	test_max();
	test_writer_and_read();
	return done_testing();
}
