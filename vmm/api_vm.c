#include "vmm/api_vm.h"

#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "vmm/api_rpc.h"
#include "vmm/devices/blk.h"

static const char *const api_vm_none[] = { NULL };
static const char *const api_vm_snapshot_params[] = { "state", "memory", NULL };

static int api_vm_pause(void *opaque, struct json_object *params, struct json_object **result,
			char *err, size_t errlen)
{
	struct api_vm *a = opaque;
	int r;

	(void)params;
	r = vm_pause(a->vm);
	if (r < 0) {
		snprintf(err, errlen, "cannot pause the vCPUs: %s", strerror(-r));
		return API_RPC_FAILED;
	}
	*result = json_object_new_object();
	json_object_object_add(*result, "state", json_object_new_string("paused"));
	return 0;
}

static int api_vm_resume(void *opaque, struct json_object *params, struct json_object **result,
			 char *err, size_t errlen)
{
	struct api_vm *a = opaque;

	(void)params;
	(void)err;
	(void)errlen;
	vm_resume(a->vm);
	*result = json_object_new_object();
	json_object_object_add(*result, "state", json_object_new_string("running"));
	return 0;
}

static int api_vm_snapshot(void *opaque, struct json_object *params, struct json_object **result,
			   char *err, size_t errlen)
{
	struct api_vm *a = opaque;
	struct snapshot_counters c;
	const char *state, *memory;

	state = api_rpc_get_path(params, "state", SNAPSHOT_PATH_MAX - 64, err, errlen);
	if (!state)
		return API_RPC_INVALID_PARAMS;
	memory = api_rpc_get_path(params, "memory", SNAPSHOT_PATH_MAX - 64, err, errlen);
	if (!memory)
		return API_RPC_INVALID_PARAMS;
	if (strcmp(state, memory) == 0) {
		snprintf(err, errlen, "invalid params: \"state\" and \"memory\" are the same file");
		return API_RPC_INVALID_PARAMS;
	}
	if (snapshot_take(a->snap, state, memory, err, errlen) < 0)
		return API_RPC_FAILED;
	snapshot_get_counters(a->snap, &c);
	*result = json_object_new_object();
	json_object_object_add(*result, "state", json_object_new_string(state));
	json_object_object_add(*result, "memory", json_object_new_string(memory));
	json_object_object_add(*result, "memory_data_bytes",
			       json_object_new_int64((int64_t)c.last_memory_bytes));
	json_object_object_add(*result, "duration_us",
			       json_object_new_int64((int64_t)c.last_snapshot_us));
	return 0;
}

static int api_vm_reset(void *opaque, struct json_object *params, struct json_object **result,
			char *err, size_t errlen)
{
	struct api_vm *a = opaque;
	struct snapshot_counters c;
	int r;

	(void)params;
	r = snapshot_reset(a->snap, err, errlen);
	if (r == -ENOENT)
		return API_RPC_NO_SNAPSHOT;
	if (r < 0)
		return API_RPC_FAILED;
	snapshot_get_counters(a->snap, &c);
	*result = json_object_new_object();
	json_object_object_add(*result, "resets", json_object_new_int64((int64_t)c.resets));
	json_object_object_add(*result, "duration_us",
			       json_object_new_int64((int64_t)c.last_reset_us));
	return 0;
}

static const char *api_vm_kind(enum vm_virtio_kind k)
{
	switch (k) {
	case VM_VIRTIO_VSOCK:
		return "vsock";
	case VM_VIRTIO_RNG:
		return "rng";
	case VM_VIRTIO_BLK:
		return "blk";
	}
	return "?";
}

static struct json_object *api_vm_device(const struct vm_virtio *d)
{
	struct json_object *o = json_object_new_object(), *qs = json_object_new_array();
	struct virtio_mmio_state st;
	char addr[32];

	virtio_mmio_save_state(d->transport, &st);
	snprintf(addr, sizeof(addr), "0x%" PRIx64, d->base);
	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "type", json_object_new_string(api_vm_kind(d->kind)));
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "gsi", json_object_new_int((int)d->gsi));
	json_object_object_add(o, "device_status", json_object_new_int((int)st.status));
	json_object_object_add(o, "driver_ok",
			       json_object_new_boolean((st.status & VIRTIO_STATUS_DRIVER_OK) != 0));
	for (int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		if (!st.queues[q].ready)
			continue;
		struct json_object *jq = json_object_new_object();
		json_object_object_add(jq, "index", json_object_new_int(q));
		json_object_object_add(jq, "size", json_object_new_int(st.queues[q].num));
		json_object_object_add(jq, "last_avail",
				       json_object_new_int(st.queues[q].last_avail));
		json_object_object_add(jq, "used_idx", json_object_new_int(st.queues[q].used_idx));
		json_object_array_add(qs, jq);
	}
	json_object_object_add(o, "queues", qs);
	if (d->kind == VM_VIRTIO_VSOCK) {
		json_object_object_add(o, "guest_cid", json_object_new_int64((int64_t)d->cid));
		json_object_object_add(o, "uds", json_object_new_string(d->path));
	} else if (d->kind == VM_VIRTIO_BLK) {
		struct blk_state bs;
		blk_get_state(d->dev, &bs);
		json_object_object_add(o, "path", json_object_new_string(d->path));
		json_object_object_add(o, "read_only", json_object_new_boolean(bs.readonly));
		json_object_object_add(o, "sectors", json_object_new_int64((int64_t)bs.capacity));
	}
	return o;
}

static int api_vm_info(void *opaque, struct json_object *params, struct json_object **result,
		       char *err, size_t errlen)
{
	struct api_vm *a = opaque;
	struct json_object *o = json_object_new_object(), *devs = json_object_new_array(),
			   *cnt = json_object_new_object(), *snap = NULL;
	struct snapshot_counters c;
	const char *sp, *mp;

	(void)params;
	(void)err;
	(void)errlen;
	snapshot_get_counters(a->snap, &c);
	if (a->name)
		json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "state",
			       json_object_new_string(a->vm->paused ? "paused" : "running"));
	json_object_object_add(o, "vcpus", json_object_new_int(a->vm->ncpus));
	json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)a->vm->mem->size));
	json_object_object_add(o, "memory_private", json_object_new_boolean(a->vm->mem->private));
	for (int i = 0; i < a->vm->nvirtio; i++)
		json_object_array_add(devs, api_vm_device(&a->vm->virtio[i]));
	json_object_object_add(o, "devices", devs);
	sp = snapshot_target_state_path(a->snap);
	mp = snapshot_target_memory_path(a->snap);
	if (sp || mp) {
		snap = json_object_new_object();
		json_object_object_add(snap, "state", sp ? json_object_new_string(sp) : NULL);
		json_object_object_add(snap, "memory", mp ? json_object_new_string(mp) : NULL);
	}
	json_object_object_add(o, "reset_target", snap);
	json_object_object_add(cnt, "snapshots", json_object_new_int64((int64_t)c.snapshots));
	json_object_object_add(cnt, "resets", json_object_new_int64((int64_t)c.resets));
	json_object_object_add(cnt, "restored", json_object_new_int64((int64_t)c.restored));
	json_object_object_add(cnt, "last_snapshot_us",
			       json_object_new_int64((int64_t)c.last_snapshot_us));
	json_object_object_add(cnt, "last_reset_us",
			       json_object_new_int64((int64_t)c.last_reset_us));
	json_object_object_add(cnt, "last_restore_us",
			       json_object_new_int64((int64_t)c.last_restore_us));
	json_object_object_add(cnt, "api_requests",
			       json_object_new_int64((int64_t)api_server_requests(a->api)));
	json_object_object_add(o, "counters", cnt);
	*result = o;
	return 0;
}

static int api_vm_stop(void *opaque, struct json_object *params, struct json_object **result,
		       char *err, size_t errlen)
{
	struct api_vm *a = opaque;

	(void)params;
	(void)err;
	(void)errlen;
	log_info("stopping the VM on request (vm.stop)");
	/* The loop ends after this iteration: the reply goes out first. */
	vm_end(a->vm, VCPU_EXIT_POWEROFF);
	*result = json_object_new_object();
	json_object_object_add(*result, "state", json_object_new_string("stopping"));
	return 0;
}

const struct api_server_method api_vm_methods[] = {
	{ "vm.pause", api_vm_pause, api_vm_none, NULL },
	{ "vm.resume", api_vm_resume, api_vm_none, NULL },
	{ "vm.snapshot", api_vm_snapshot, api_vm_snapshot_params, api_vm_snapshot_params },
	{ "vm.reset", api_vm_reset, api_vm_none, NULL },
	{ "vm.info", api_vm_info, api_vm_none, NULL },
	{ "vm.stop", api_vm_stop, api_vm_none, NULL },
	{ NULL, NULL, NULL, NULL },
};

int api_vm_start(struct api_vm *ctx, const char *path)
{
	return api_server_new(ctx->vm->loop, path, api_vm_methods, ctx, &ctx->api);
}
