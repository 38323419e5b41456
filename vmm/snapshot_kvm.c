#include "vmm/snapshot_kvm.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC	      0x00000010
#define MSR_IA32_TSC_DEADLINE 0x000006e0

/* The MSRs this host's KVM lets us read back, TSC_DEADLINE last: found once
 * per process from KVM_GET_MSR_INDEX_LIST by reading each on a vCPU. */
static struct {
	pthread_mutex_t lock;
	int done;
	uint32_t n;
	uint32_t index[SNAPSHOT_MAX_MSRS];
} snapshot_kvm_msrs = { .lock = PTHREAD_MUTEX_INITIALIZER };

static int snapshot_kvm_msr_readable(struct vcpu *vcpu, uint32_t index)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} one = { .hdr.nmsrs = 1, .e.index = index };

	return ioctl(vcpu->fd, KVM_GET_MSRS, &one) == 1;
}

static int snapshot_kvm_msr_list(struct kvm *kvm, struct vcpu *vcpu)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *list;
	int deadline = 0, r = 0;

	pthread_mutex_lock(&snapshot_kvm_msrs.lock);
	if (snapshot_kvm_msrs.done)
		goto out;
	if (ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		r = -errno;
		goto out;
	}
	list = calloc(1, sizeof(*list) + (size_t)probe.nmsrs * sizeof(uint32_t));
	if (!list) {
		r = -ENOMEM;
		goto out;
	}
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		r = -errno;
		free(list);
		goto out;
	}
	snapshot_kvm_msrs.n = 0;
	for (uint32_t i = 0; i < list->nmsrs && snapshot_kvm_msrs.n < SNAPSHOT_MAX_MSRS - 1; i++) {
		uint32_t idx = list->indices[i];
		if (!snapshot_kvm_msr_readable(vcpu, idx))
			continue;
		if (idx == MSR_IA32_TSC_DEADLINE) {
			deadline = 1;
			continue;
		}
		snapshot_kvm_msrs.index[snapshot_kvm_msrs.n++] = idx;
	}
	if (deadline) /* restored after TSC, or the deadline means another time */
		snapshot_kvm_msrs.index[snapshot_kvm_msrs.n++] = MSR_IA32_TSC_DEADLINE;
	free(list);
	snapshot_kvm_msrs.done = 1;
out:
	pthread_mutex_unlock(&snapshot_kvm_msrs.lock);
	return r;
}

#define SNAPSHOT_IOCTL(fd, req, arg, what)                                     \
	do {                                                                   \
		if (ioctl((fd), (req), (arg)) < 0) {                           \
			int e_ = errno;                                        \
			snprintf(err, errlen, "%s: %s", (what), strerror(e_)); \
			return -e_;                                            \
		}                                                              \
	} while (0)

int snapshot_kvm_save_vcpu(struct kvm *kvm, struct vcpu *vcpu, struct snapshot_vcpu *out, char *err,
			   size_t errlen)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[SNAPSHOT_MAX_MSRS];
	} msrs;
	int r;

	memset(out, 0, sizeof(*out));
	{
		struct {
			struct kvm_cpuid2 hdr;
			struct kvm_cpuid_entry2 e[SNAPSHOT_MAX_CPUID];
		} *cpuid = calloc(1, sizeof(*cpuid));
		if (!cpuid) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		cpuid->hdr.nent = SNAPSHOT_MAX_CPUID;
		r = ioctl(vcpu->fd, KVM_GET_CPUID2, cpuid) < 0 ? -errno : 0;
		if (r == 0) {
			out->ncpuid = cpuid->hdr.nent;
			memcpy(out->cpuid, cpuid->e, (size_t)out->ncpuid * sizeof(cpuid->e[0]));
		}
		free(cpuid);
		if (r < 0) {
			snprintf(err, errlen, "KVM_GET_CPUID2: %s", strerror(-r));
			return r;
		}
	}
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_REGS, &out->regs, "KVM_GET_REGS");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_SREGS, &out->sregs, "KVM_GET_SREGS");
	if (kvm->has_xsave) {
		/* KVM may move more than the 4 KiB of the legacy layout (AMX
		 * state); only the legacy part is kept. */
		struct kvm_xsave *x = calloc(1, kvm->xsave_size);
		if (!x) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		r = ioctl(vcpu->fd, kvm->xsave_size > sizeof(*x) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE,
			  x) < 0
			    ? -errno
			    : 0;
		memcpy(out->xsave, x->region, sizeof(out->xsave));
		free(x);
		if (r < 0) {
			snprintf(err, errlen, "KVM_GET_XSAVE: %s", strerror(-r));
			return r;
		}
		out->has_xsave = 1;
	} else {
		SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_FPU, &out->fpu, "KVM_GET_FPU");
	}
	if (kvm->has_xcrs) {
		out->has_xcrs = 1;
		SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_XCRS, &out->xcrs, "KVM_GET_XCRS");
	}
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_LAPIC, &out->lapic, "KVM_GET_LAPIC");
	r = snapshot_kvm_msr_list(kvm, vcpu);
	if (r < 0) {
		snprintf(err, errlen, "KVM_GET_MSR_INDEX_LIST: %s", strerror(-r));
		return r;
	}
	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = snapshot_kvm_msrs.n;
	for (uint32_t i = 0; i < snapshot_kvm_msrs.n; i++)
		msrs.e[i].index = snapshot_kvm_msrs.index[i];
	r = ioctl(vcpu->fd, KVM_GET_MSRS, &msrs);
	if (r < 0 || (uint32_t)r != snapshot_kvm_msrs.n) {
		snprintf(err, errlen, "KVM_GET_MSRS: %s",
			 r < 0 ? strerror(errno) : "KVM stopped before the end of the list");
		return r < 0 ? -errno : -EIO;
	}
	out->nmsrs = snapshot_kvm_msrs.n;
	memcpy(out->msrs, msrs.e, (size_t)out->nmsrs * sizeof(msrs.e[0]));
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_MP_STATE, &out->mp_state, "KVM_GET_MP_STATE");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_VCPU_EVENTS, &out->events, "KVM_GET_VCPU_EVENTS");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_GET_DEBUGREGS, &out->debugregs, "KVM_GET_DEBUGREGS");
	return 0;
}

int snapshot_kvm_restore_vcpu(struct kvm *kvm, struct vcpu *vcpu, const struct snapshot_vcpu *in,
			      char *err, size_t errlen)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[SNAPSHOT_MAX_MSRS];
	} msrs;
	struct kvm_mp_state mp = in->mp_state;
	struct kvm_regs regs = in->regs;
	struct kvm_sregs sregs = in->sregs;
	struct kvm_lapic_state lapic = in->lapic;
	struct kvm_vcpu_events events = in->events;
	struct kvm_debugregs dregs = in->debugregs;
	int r;

	if (in->nmsrs > SNAPSHOT_MAX_MSRS) {
		snprintf(err, errlen, "too many MSRs");
		return -EINVAL;
	}
	if (in->has_xsave && !kvm->has_xsave) {
		snprintf(err, errlen,
			 "the snapshot has XSAVE state, this host's KVM has no "
			 "KVM_CAP_XSAVE");
		return -ENOTSUP;
	}
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_MP_STATE, &mp, "KVM_SET_MP_STATE");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_REGS, &regs, "KVM_SET_REGS");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	if (in->has_xsave) {
		struct kvm_xsave *x = calloc(1, kvm->xsave_size);
		if (!x) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		memcpy(x->region, in->xsave, sizeof(in->xsave));
		r = ioctl(vcpu->fd, KVM_SET_XSAVE, x) < 0 ? -errno : 0;
		free(x);
		if (r < 0) {
			snprintf(err, errlen, "KVM_SET_XSAVE: %s", strerror(-r));
			return r;
		}
	} else {
		struct kvm_fpu fpu = in->fpu;
		SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_FPU, &fpu, "KVM_SET_FPU");
	}
	if (in->has_xcrs && kvm->has_xcrs) {
		struct kvm_xcrs xcrs = in->xcrs;
		SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_XCRS, &xcrs, "KVM_SET_XCRS");
	}
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_DEBUGREGS, &dregs, "KVM_SET_DEBUGREGS");
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_LAPIC, &lapic, "KVM_SET_LAPIC");
	memset(&msrs.hdr, 0, sizeof(msrs.hdr));
	msrs.hdr.nmsrs = in->nmsrs;
	memcpy(msrs.e, in->msrs, (size_t)in->nmsrs * sizeof(msrs.e[0]));
	r = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (r < 0 || (uint32_t)r != in->nmsrs) {
		if (r < 0)
			snprintf(err, errlen, "KVM_SET_MSRS: %s", strerror(errno));
		else
			snprintf(err, errlen, "KVM_SET_MSRS: KVM refused MSR 0x%x",
				 in->msrs[r].index);
		return r < 0 ? -errno : -EINVAL;
	}
	SNAPSHOT_IOCTL(vcpu->fd, KVM_SET_VCPU_EVENTS, &events, "KVM_SET_VCPU_EVENTS");
	return 0;
}

int snapshot_kvm_save_vm(struct kvm *kvm, struct snapshot_state *st, char *err, size_t errlen)
{
	st->pic_master = (struct kvm_irqchip){ .chip_id = KVM_IRQCHIP_PIC_MASTER };
	st->pic_slave = (struct kvm_irqchip){ .chip_id = KVM_IRQCHIP_PIC_SLAVE };
	st->ioapic = (struct kvm_irqchip){ .chip_id = KVM_IRQCHIP_IOAPIC };
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_GET_IRQCHIP, &st->pic_master,
		       "KVM_GET_IRQCHIP (PIC master)");
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_GET_IRQCHIP, &st->pic_slave, "KVM_GET_IRQCHIP (PIC slave)");
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_GET_IRQCHIP, &st->ioapic, "KVM_GET_IRQCHIP (IOAPIC)");
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_GET_PIT2, &st->pit, "KVM_GET_PIT2");
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_GET_CLOCK, &st->clock, "KVM_GET_CLOCK");
	return 0;
}

int snapshot_kvm_restore_vm(struct kvm *kvm, const struct snapshot_state *st, char *err,
			    size_t errlen)
{
	struct kvm_pit_state2 pit = st->pit;
	struct kvm_clock_data clock = { .clock = st->clock.clock };
	struct kvm_irqchip chip;

	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_SET_PIT2, &pit, "KVM_SET_PIT2");
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
	chip = st->pic_master;
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (PIC master)");
	chip = st->pic_slave;
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (PIC slave)");
	chip = st->ioapic;
	SNAPSHOT_IOCTL(kvm->vm_fd, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP (IOAPIC)");
	return 0;
}

struct kvm_cpuid2 **snapshot_kvm_cpuids_new(const struct snapshot_state *st)
{
	struct kvm_cpuid2 **c = calloc(st->ncpus, sizeof(*c));

	if (!c)
		return NULL;
	for (uint32_t i = 0; i < st->ncpus; i++) {
		uint32_t n = st->vcpus[i].ncpuid;
		c[i] = calloc(1, sizeof(*c[i]) + (size_t)n * sizeof(c[i]->entries[0]));
		if (!c[i]) {
			snapshot_kvm_cpuids_free(c, st->ncpus);
			return NULL;
		}
		c[i]->nent = n;
		memcpy(c[i]->entries, st->vcpus[i].cpuid, (size_t)n * sizeof(c[i]->entries[0]));
	}
	return c;
}

void snapshot_kvm_cpuids_free(struct kvm_cpuid2 **cpuids, uint32_t n)
{
	if (!cpuids)
		return;
	for (uint32_t i = 0; i < n; i++)
		free(cpuids[i]);
	free(cpuids);
}
