#include "vmm/kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"

#define KVM_API_EXPECTED 12

/* Capabilities without which the VMM cannot run a guest. */
static const struct {
	int cap;
	const char *name;
} kvm_required_caps[] = {
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP" },
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2" },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD" },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE" },
};

static int kvm_check(int fd, int cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

int kvm_new(struct kvm **out, char *err, size_t errlen)
{
	_cleanup_close_ int sys_fd = -1;
	struct kvm *kvm;
	int r, vm_fd;

	sys_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (sys_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
		return r;
	}
	r = ioctl(sys_fd, KVM_GET_API_VERSION, 0);
	if (r != KVM_API_EXPECTED) {
		snprintf(err, errlen, "/dev/kvm speaks KVM API %d, need %d", r, KVM_API_EXPECTED);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < ARRAY_SIZE(kvm_required_caps); i++) {
		if (!kvm_check(sys_fd, kvm_required_caps[i].cap)) {
			snprintf(err, errlen, "host KVM lacks %s", kvm_required_caps[i].name);
			return -ENOTSUP;
		}
	}
	r = ioctl(sys_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (r <= 0) {
		snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		return r < 0 ? -errno : -EINVAL;
	}
	kvm = calloc(1, sizeof(*kvm));
	if (!kvm) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	kvm->run_size = (size_t)r;
	kvm->max_vcpus = kvm_check(sys_fd, KVM_CAP_MAX_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = kvm_check(sys_fd, KVM_CAP_NR_VCPUS);
	if (kvm->max_vcpus <= 0)
		kvm->max_vcpus = 4; /* the documented default when neither is reported */
	kvm->has_tsc_deadline = kvm_check(sys_fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	kvm->has_tsc_khz = kvm_check(sys_fd, KVM_CAP_GET_TSC_KHZ) > 0;
	kvm->has_xsave = kvm_check(sys_fd, KVM_CAP_XSAVE) > 0;
	kvm->has_xcrs = kvm_check(sys_fd, KVM_CAP_XCRS) > 0;

	do {
		vm_fd = ioctl(sys_fd, KVM_CREATE_VM, 0);
	} while (vm_fd < 0 && errno == EINTR);
	if (vm_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "KVM_CREATE_VM failed: %s", strerror(errno));
		free(kvm);
		return r;
	}
	kvm->vm_fd = vm_fd;
	kvm->sys_fd = take_fd(&sys_fd);
	r = kvm_check(vm_fd, KVM_CAP_XSAVE2);
	kvm->xsave_size = r > (int)sizeof(struct kvm_xsave) ? (size_t)r : sizeof(struct kvm_xsave);
	*out = kvm;
	return 0;
}

void kvm_free(struct kvm *kvm)
{
	if (!kvm)
		return;
	if (kvm->vm_fd >= 0)
		close(kvm->vm_fd);
	if (kvm->sys_fd >= 0)
		close(kvm->sys_fd);
	free(kvm);
}

int kvm_setup(struct kvm *kvm, const struct memory *mem, char *err, size_t errlen)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t ident = KVM_IDENTITY_MAP_ADDR;

	for (int i = 0; i < mem->nslots; i++) {
		const struct memory_slot *s = &mem->slots[i];
		struct kvm_userspace_memory_region region = {
			.slot = (uint32_t)i,
			.guest_phys_addr = s->gpa,
			.memory_size = s->size,
			.userspace_addr = (uint64_t)(uintptr_t)s->hva,
		};
		if (ioctl(kvm->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			int r = -errno;
			snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION (slot %d, %llu MiB): %s",
				 i, (unsigned long long)(s->size >> 20), strerror(errno));
			return r;
		}
	}
	if (ioctl(kvm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		int r = -errno;
		snprintf(err, errlen, "KVM_SET_TSS_ADDR: %s", strerror(errno));
		return r;
	}
	if (ioctl(kvm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0) {
		int r = -errno;
		snprintf(err, errlen, "KVM_SET_IDENTITY_MAP_ADDR: %s", strerror(errno));
		return r;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int r = -errno;
		snprintf(err, errlen, "KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return r;
	}
	if (ioctl(kvm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int r = -errno;
		snprintf(err, errlen, "KVM_CREATE_PIT2: %s", strerror(errno));
		return r;
	}
	return 0;
}

int kvm_irqfd(struct kvm *kvm, int efd, uint32_t gsi)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)efd, .gsi = gsi };

	return ioctl(kvm->vm_fd, KVM_IRQFD, &irqfd) < 0 ? -errno : 0;
}

static int kvm_ioeventfd_ctl(struct kvm *kvm, int efd, int mmio, uint64_t addr, uint32_t len,
			     int datamatch, uint64_t value, uint32_t extra_flags)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch ? value : 0,
		.addr = addr,
		.len = len,
		.fd = efd,
		.flags = (mmio ? 0 : KVM_IOEVENTFD_FLAG_PIO) |
			 (datamatch ? KVM_IOEVENTFD_FLAG_DATAMATCH : 0) | extra_flags,
	};

	if (len != 0 && len != 1 && len != 2 && len != 4 && len != 8)
		return -EINVAL;
	if (!mmio && (len == 0 || addr > 0xffff))
		return -EINVAL;
	return ioctl(kvm->vm_fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

int kvm_ioeventfd(struct kvm *kvm, int efd, int mmio, uint64_t addr, uint32_t len, int datamatch,
		  uint64_t value)
{
	return kvm_ioeventfd_ctl(kvm, efd, mmio, addr, len, datamatch, value, 0);
}

int kvm_ioeventfd_del(struct kvm *kvm, int efd, int mmio, uint64_t addr, uint32_t len,
		      int datamatch, uint64_t value)
{
	return kvm_ioeventfd_ctl(kvm, efd, mmio, addr, len, datamatch, value,
				 KVM_IOEVENTFD_FLAG_DEASSIGN);
}

int kvm_get_supported_cpuid(struct kvm *kvm, struct kvm_cpuid2 **out)
{
	/* Grow until KVM stops saying E2BIG; 128 entries fit today's CPUs. */
	for (uint32_t n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c =
			calloc(1, sizeof(*c) + (size_t)n * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(kvm->sys_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		int r = -errno;
		free(c);
		if (r != -E2BIG)
			return r;
	}
	return -E2BIG;
}
