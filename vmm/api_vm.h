/* The VMM's control methods over the API socket (vmm/api_server.h):
 *   vm.pause, vm.resume     park / restart every vCPU
 *   vm.snapshot {state, memory}   write a snapshot (vmm/snapshot.h)
 *   vm.reset                back to the last snapshot taken or restored
 *   vm.info                 state, vCPUs, memory, devices, counters
 *   vm.stop                 end the VM (exit status 0) after replying */
#ifndef AGENTVM_VMM_API_VM_H
#define AGENTVM_VMM_API_VM_H

#include "vmm/api_server.h"
#include "vmm/snapshot.h"
#include "vmm/vm.h"

struct api_vm {
	struct vm *vm;
	struct snapshot *snap;
	struct api_server *api;
	const char *name; /* --name, or NULL */
};

/* The method table, for api_server_new() with a struct api_vm as its ctx. */
extern const struct api_server_method api_vm_methods[];

/* Serve the methods for vm on path through vm's loop (see api_server_new). */
int api_vm_start(struct api_vm *ctx, const char *path);

#endif
