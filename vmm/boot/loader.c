#include "vmm/boot/loader.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

int loader_fail(char *err, size_t errlen, int r, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return r;
}

const char *loader_fmt_size(uint64_t bytes, char *buf, size_t buflen)
{
	if (bytes && !(bytes & ((1ull << 30) - 1)))
		snprintf(buf, buflen, "%" PRIu64 " GiB", bytes >> 30);
	else if (bytes && !(bytes & ((1ull << 20) - 1)))
		snprintf(buf, buflen, "%" PRIu64 " MiB", bytes >> 20);
	else if (bytes && !(bytes & ((1ull << 10) - 1)))
		snprintf(buf, buflen, "%" PRIu64 " KiB", bytes >> 10);
	else
		snprintf(buf, buflen, "%" PRIu64 " bytes", bytes);
	return buf;
}

uint64_t loader_low_end(const struct memory *mem)
{
	if (mem->nslots < 1 || mem->slots[0].gpa != 0)
		return 0;
	return mem->slots[0].size;
}

int loader_check_range(const struct memory *mem, uint64_t gpa, uint64_t len, const char *what,
		       const char *part, char *err, size_t errlen)
{
	uint64_t low = loader_low_end(mem);
	const char *sp = *part ? " " : "";
	char need[32], have[32];

	if (gpa < BOOT_HIMEM_START)
		return loader_fail(err, errlen, -EINVAL,
				   "%s: %s at 0x%" PRIx64
				   " would overlap the boot area below 1 MiB",
				   what, *part ? part : "image", gpa);
	if (len > UINT64_MAX - gpa)
		return loader_fail(err, errlen, -EINVAL,
				   "%s: %s of %" PRIu64 " bytes at 0x%" PRIx64
				   " wraps around the address space",
				   what, *part ? part : "image", len, gpa);
	if (gpa + len > low || !memory_ptr(mem, gpa, len)) {
		loader_fmt_size(len, need, sizeof(need));
		loader_fmt_size(low, have, sizeof(have));
		if (mem->nslots > 1)
			return loader_fail(err, errlen, -ENOMEM,
					   "%s: %s%sneeds %s at 0x%" PRIx64
					   " but guest RAM below 4 GiB ends at 0x%" PRIx64,
					   what, part, sp, need, gpa, low);
		return loader_fail(err, errlen, -ENOMEM,
				   "%s: %s%sneeds %s at 0x%" PRIx64 " but the guest has %s", what,
				   part, sp, need, gpa, have);
	}
	return 0;
}
