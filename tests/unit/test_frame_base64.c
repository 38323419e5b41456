/* base64 and the JSON helpers that frames rely on. */
#include "common/base64.h"
#include "common/json_util.h"
#include "common/cleanup.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <string.h>

static int test_enc(const char *in, const char *want)
{
	char *out = NULL;
	size_t n = 0;
	int good;

	base64_encode(in, strlen(in), &out, &n);
	good = out && n == strlen(want) && strcmp(out, want) == 0;
	free(out);
	return good;
}

static int test_dec(const char *in, const char *want)
{
	unsigned char *out = NULL;
	size_t n = 0;
	int r, good;

	r = base64_decode(in, strlen(in), &out, &n);
	if (!want)
		good = r == -EINVAL;
	else
		good = r == 0 && n == strlen(want) && memcmp(out, want, n) == 0;
	free(out);
	return good;
}

int main(void)
{
	static const char *vec[][2] = { { "", "" },
					{ "f", "Zg==" },
					{ "fo", "Zm8=" },
					{ "foo", "Zm9v" },
					{ "foob", "Zm9vYg==" },
					{ "fooba", "Zm9vYmE=" },
					{ "foobar", "Zm9vYmFy" } };
	static const char *bad[] = { "Zg=",	 "Zg",	 "Zh==",    "Zm9=",	"Zm9v\n",
				     " Zm9v",	 "Z===", "====",    "Zm9vYg=a", "Zm=v",
				     "Zm9v====", "-_==", "Zg==Zg==" };
	unsigned char all[256], *dec = NULL;
	char *enc = NULL;
	size_t i, n = 0, m = 0;
	struct json_object *o, *s;

	for (i = 0; i < ARRAY_SIZE(vec); i++) {
		ok(test_enc(vec[i][0], vec[i][1]), "encode \"%s\"", vec[i][0]);
		ok(test_dec(vec[i][1], vec[i][0]), "decode \"%s\"", vec[i][1]);
	}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ok(test_dec(bad[i], NULL), "reject non-canonical input #%zu", i);

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	base64_encode(all, 256, &enc, &n);
	is(n, base64_encoded_len(256), "encoded length");
	is(base64_decode(enc, n, &dec, &m), 0, "decode all bytes");
	ok(m == 256 && memcmp(dec, all, 256) == 0, "all 256 byte values round-trip");
	free(dec);

	o = json_object_new_object();
	is(json_util_add_base64(o, "data", all, 256), 0, "add base64 member");
	dec = NULL;
	is(json_util_get_base64(o, "data", &dec, &m), 0, "get it back");
	ok(m == 256 && memcmp(dec, all, 256) == 0, "same bytes");
	free(dec);
	is(json_util_get_base64(o, "nope", &dec, &m), -ENOENT, "absent member");
	json_object_object_add(o, "num", json_object_new_int(3));
	is(json_util_get_base64(o, "num", &dec, &m), -EINVAL, "non-string member");
	json_object_object_add(o, "bad", json_object_new_string("abc"));
	is(json_util_get_base64(o, "bad", &dec, &m), -EINVAL, "non-base64 member");
	json_object_put(o);
	free(enc);

	ok(json_util_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15), "valid UTF-8");
	ok(!json_util_utf8_valid("\xc0\xaf", 2), "overlong rejected");
	ok(!json_util_utf8_valid("\xed\xa0\x80", 3), "surrogate rejected");
	ok(!json_util_utf8_valid("\xf4\x90\x80\x80", 4), "past U+10FFFF rejected");
	ok(!json_util_utf8_valid("\xe2\x82", 2), "truncated rejected");
	s = json_util_new_string_lossy("a\xff"
				       "b",
				       3);
	ok(s && strcmp(json_object_get_string(s), "a\xef\xbf\xbd"
						  "b") == 0,
	   "lossy string replaces the bad byte with U+FFFD");
	json_object_put(s);
	return done_testing();
}
