/* Fuzz the snapshot state-file reader. Each input is read three ways: as
 * it is; with its checksum recomputed first (so that mutations get past the
 * seal and reach the field checks); and with the checksum check skipped.
 * Whatever reads must survive a write and a second read unchanged, and every
 * refusal must carry one line saying why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/snapshot_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const void *blob, size_t len, int skip)
{
	struct snapshot_state *st = NULL, *again = NULL;
	void *out = NULL;
	size_t out_len = 0;
	char err[256] = "";

	if (snapshot_state_read(blob, len, skip, &st, err, sizeof(err)) < 0) {
		if (!err[0] || strchr(err, '\n') || st)
			abort();
		return;
	}
	if (!st || st->ncpus < 1 || st->ncpus > SNAPSHOT_MAX_VCPUS || st->ndevices < 0 ||
	    st->ndevices > SNAPSHOT_MAX_DEVICES)
		abort();
	for (uint32_t i = 0; i < st->ncpus; i++)
		if (st->vcpus[i].nmsrs > SNAPSHOT_MAX_MSRS)
			abort();
	/* What was read writes and reads back. */
	if (snapshot_state_write(st, &out, &out_len) < 0)
		abort();
	if (snapshot_state_read(out, out_len, 0, &again, err, sizeof(err)) < 0)
		abort();
	if (again->ncpus != st->ncpus || again->ndevices != st->ndevices ||
	    again->mem_size != st->mem_size ||
	    memcmp(again->vcpus, st->vcpus, st->ncpus * sizeof(*st->vcpus)))
		abort();
	snapshot_state_free(again);
	snapshot_state_free(st);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;

	fuzz_check(data, size, 0);
	fuzz_check(data, size, 1);
	if (size > SNAPSHOT_MAX_BLOB)
		return 0;
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (snapshot_state_reseal(copy, size) == 0)
		fuzz_check(copy, size, 0);
	free(copy);
	return 0;
}
