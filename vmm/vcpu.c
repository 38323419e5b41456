#include "vmm/vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "vmm/cpuid.h"
#include "vmm/seccomp.h"

/* The signal that knocks a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL (SIGRTMIN)

#if defined(__SANITIZE_ADDRESS__)
#define VCPU_STACK_SIZE (1024 * 1024)
#else
#define VCPU_STACK_SIZE (256 * 1024)
#endif

#define MSR_IA32_TSC		0x00000010
#define MSR_IA32_SYSENTER_CS	0x00000174
#define MSR_IA32_SYSENTER_ESP	0x00000175
#define MSR_IA32_SYSENTER_EIP	0x00000176
#define MSR_IA32_MISC_ENABLE	0x000001a0
#define MSR_MTRR_DEF_TYPE	0x000002ff
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SYSCALL_MASK	0xc0000084
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1ull
#define MTRR_ENABLE_WB		0x806ull /* MTRRs enabled, default type write-back */

#define CR0_PE			0x00000001ull
#define CR0_ET			0x00000010ull
#define CR0_NE			0x00000020ull
#define CR0_PG			0x80000000ull
#define CR4_PAE			0x00000020ull
#define EFER_LME		0x00000100ull
#define EFER_LMA		0x00000400ull

int vcpu_new(struct kvm *kvm, int index, const struct vcpu_env *env, struct vcpu **out)
{
	_cleanup_close_ int fd = -1;
	struct vcpu *vcpu;
	void *run;

	fd = ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (unsigned long)index);
	if (fd < 0)
		return -errno;
	run = mmap(NULL, kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (run == MAP_FAILED)
		return -errno;
	vcpu = calloc(1, sizeof(*vcpu));
	if (!vcpu) {
		munmap(run, kvm->run_size);
		return -ENOMEM;
	}
	vcpu->index = index;
	vcpu->fd = take_fd(&fd);
	vcpu->run = run;
	vcpu->run_size = kvm->run_size;
	vcpu->env = env;
	pthread_mutex_init(&vcpu->lock, NULL);
	pthread_cond_init(&vcpu->cond, NULL);
	*out = vcpu;
	return 0;
}

void vcpu_free(struct vcpu *vcpu)
{
	if (!vcpu)
		return;
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	pthread_cond_destroy(&vcpu->cond);
	pthread_mutex_destroy(&vcpu->lock);
	free(vcpu);
}

int vcpu_set_cpuid(struct vcpu *vcpu, struct kvm *kvm, const struct kvm_cpuid2 *supported,
		   int ncpus)
{
	struct cpuid_opts opts = {
		.index = vcpu->index,
		.ncpus = ncpus,
		.tsc_deadline = kvm->has_tsc_deadline,
	};
	_cleanup_free_ struct kvm_cpuid2 *c = NULL;
	int r = cpuid_for_vcpu(supported, &opts, &c);

	if (r < 0)
		return r;
	return ioctl(vcpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
}

int vcpu_set_cpuid_as(struct vcpu *vcpu, const struct kvm_cpuid2 *cpuid)
{
	return ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid) < 0 ? -errno : 0;
}

int vcpu_set_msrs(struct vcpu *vcpu)
{
	static const struct kvm_msr_entry boot_msrs[] = {
		{ .index = MSR_IA32_SYSENTER_CS },
		{ .index = MSR_IA32_SYSENTER_ESP },
		{ .index = MSR_IA32_SYSENTER_EIP },
		{ .index = MSR_STAR },
		{ .index = MSR_LSTAR },
		{ .index = MSR_CSTAR },
		{ .index = MSR_SYSCALL_MASK },
		{ .index = MSR_KERNEL_GS_BASE },
		{ .index = MSR_IA32_TSC },
		{ .index = MSR_IA32_MISC_ENABLE, .data = MISC_ENABLE_FAST_STRING },
		{ .index = MSR_MTRR_DEF_TYPE, .data = MTRR_ENABLE_WB },
	};
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry entries[ARRAY_SIZE(boot_msrs)];
	} msrs = { .hdr.nmsrs = ARRAY_SIZE(boot_msrs) };
	int r;

	memcpy(msrs.entries, boot_msrs, sizeof(boot_msrs));
	r = ioctl(vcpu->fd, KVM_SET_MSRS, &msrs);
	if (r < 0)
		return -errno;
	if ((size_t)r < ARRAY_SIZE(boot_msrs)) {
		log_err("vcpu%d: KVM refused MSR 0x%x", vcpu->index, boot_msrs[r].index);
		return -EINVAL;
	}
	return 0;
}

static struct kvm_segment vcpu_segment(uint16_t selector, uint8_t type, int l, int db)
{
	return (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = (uint8_t)db,
		.s = 1,
		.l = (uint8_t)l,
		.g = 1,
	};
}

int vcpu_set_entry(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rflags = 0x2, .rip = entry->rip };
	struct kvm_segment data = vcpu_segment(BOOT_SEL_DATA, 0x3, 0, 1);

	if (!entry->all_cpus_enter && vcpu->index != 0)
		return 0; /* an AP: waits for INIT/SIPI from the guest */
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	switch (entry->mode) {
	case BOOT_MODE_LONG64:
		sregs.cs = vcpu_segment(BOOT_SEL_CODE64, 0xb, 1, 0);
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
		sregs.cr3 = entry->cr3;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
		regs.rsi = entry->rsi;
		break;
	case BOOT_MODE_PVH32:
		sregs.cs = vcpu_segment(BOOT_SEL_CODE32, 0xb, 0, 1);
		sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
		sregs.cr3 = 0;
		sregs.cr4 = 0;
		sregs.efer = 0;
		regs.rbx = entry->rbx;
		break;
	default:
		return -EINVAL;
	}
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.gdt.base = entry->gdt_base;
	sregs.gdt.limit = entry->gdt_limit;
	sregs.idt.base = 0;
	sregs.idt.limit = 0;
	if (entry->all_cpus_enter)
		regs.rdi = (uint64_t)vcpu->index;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	if (vcpu->index != 0) {
		struct kvm_mp_state mp = { .mp_state = KVM_MP_STATE_RUNNABLE };
		if (ioctl(vcpu->fd, KVM_SET_MP_STATE, &mp) < 0)
			return -errno;
	}
	return 0;
}

int vcpu_get_tsc_khz(struct vcpu *vcpu, uint32_t *khz)
{
	int r = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);

	if (r <= 0)
		return r < 0 ? -errno : -ENODATA;
	*khz = (uint32_t)r;
	return 0;
}

void vcpu_dump(struct vcpu *vcpu, FILE *f)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	char buf[1536];
	int n = 0;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(f, "vcpu%d: cannot read registers: %s\n", vcpu->index, strerror(errno));
		return;
	}
#define DUMP(...)                                                                     \
	do {                                                                          \
		if ((size_t)n < sizeof(buf))                                          \
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, __VA_ARGS__); \
	} while (0)
	DUMP("vcpu%d registers:\n", vcpu->index);
	DUMP("  rip %016llx  rsp %016llx  rflags %08llx\n", r.rip, r.rsp, r.rflags);
	DUMP("  rax %016llx  rbx %016llx  rcx %016llx  rdx %016llx\n", r.rax, r.rbx, r.rcx, r.rdx);
	DUMP("  rsi %016llx  rdi %016llx  rbp %016llx  r8  %016llx\n", r.rsi, r.rdi, r.rbp, r.r8);
	DUMP("  r9  %016llx  r10 %016llx  r11 %016llx  r12 %016llx\n", r.r9, r.r10, r.r11, r.r12);
	DUMP("  r13 %016llx  r14 %016llx  r15 %016llx\n", r.r13, r.r14, r.r15);
	DUMP("  cr0 %016llx  cr2 %016llx  cr3 %016llx  cr4 %016llx\n", s.cr0, s.cr2, s.cr3, s.cr4);
	DUMP("  efer %016llx  cs %04x (dpl %u, %s)  ss %04x (dpl %u)\n", s.efer, s.cs.selector,
	     s.cs.dpl, s.cs.l ? "64-bit" : (s.cs.db ? "32-bit" : "16-bit"), s.ss.selector,
	     s.ss.dpl);
#undef DUMP
	fputs(buf, f);
	fflush(f);
}

static const char *vcpu_suberror_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "event delivery failed";
	case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
		return "unexpected exit reason";
	default:
		return "unknown";
	}
}

static void vcpu_report_internal(struct vcpu *vcpu)
{
	const struct kvm_run *run = vcpu->run;
	uint32_t ndata = run->internal.ndata;
	char words[16 * 20 + 64] = "";
	int n = 0;

	if (ndata > ARRAY_SIZE(run->internal.data))
		ndata = ARRAY_SIZE(run->internal.data);
	for (uint32_t i = 0; i < ndata && (size_t)n < sizeof(words); i++)
		n += snprintf(words + n, sizeof(words) - (size_t)n, " 0x%llx",
			      (unsigned long long)run->internal.data[i]);
	log_err("vcpu%d: KVM internal error: suberror %u (%s), %u data words:%s", vcpu->index,
		run->internal.suberror, vcpu_suberror_name(run->internal.suberror), ndata,
		ndata ? words : " none");
	if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && ndata >= 3 &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		uint8_t len = run->emulation_failure.insn_size;
		n = 0;
		if (len > sizeof(run->emulation_failure.insn_bytes))
			len = sizeof(run->emulation_failure.insn_bytes);
		for (uint8_t i = 0; i < len; i++)
			n += snprintf(words + n, sizeof(words) - (size_t)n, " %02x",
				      run->emulation_failure.insn_bytes[i]);
		log_err("vcpu%d: instruction bytes:%s", vcpu->index, len ? words : " none");
	}
	vcpu_dump(vcpu, stderr);
}

static void vcpu_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset;
	uint8_t *p = (uint8_t *)run + off;

	if (size == 0 || size > 8 || off > vcpu->run_size ||
	    (uint64_t)size * count > vcpu->run_size - off) {
		log_err("vcpu%d: malformed I/O exit (port 0x%x, size %u, count %u)", vcpu->index,
			run->io.port, size, count);
		vcpu->env->end(vcpu->env->opaque, VCPU_EXIT_INTERNAL);
		return;
	}
	for (uint32_t i = 0; i < count; i++, p += size) {
		int r;
		if (run->io.direction == KVM_EXIT_IO_OUT)
			r = bus_write(vcpu->env->pio, run->io.port, p, size);
		else
			r = bus_read(vcpu->env->pio, run->io.port, p, size);
		if (r == -ENOENT && i == 0)
			log_debug("vcpu%d: %s of unhandled port 0x%x (%u bytes)", vcpu->index,
				  run->io.direction == KVM_EXIT_IO_OUT ? "write" : "read",
				  run->io.port, size);
	}
}

static void vcpu_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;
	int r;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		log_err("vcpu%d: malformed MMIO exit (address 0x%llx, %u bytes)", vcpu->index,
			(unsigned long long)run->mmio.phys_addr, len);
		vcpu->env->end(vcpu->env->opaque, VCPU_EXIT_INTERNAL);
		return;
	}
	if (run->mmio.is_write)
		r = bus_write(vcpu->env->mmio, run->mmio.phys_addr, run->mmio.data, len);
	else
		r = bus_read(vcpu->env->mmio, run->mmio.phys_addr, run->mmio.data, len);
	if (r == -ENOENT)
		log_debug("vcpu%d: %s of unhandled MMIO address 0x%llx (%u bytes)", vcpu->index,
			  run->mmio.is_write ? "write" : "read",
			  (unsigned long long)run->mmio.phys_addr, len);
}

/* Handle one exit; returns 0 to keep running, or 1 when the VM has ended. */
static int vcpu_handle_exit(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	const struct vcpu_env *env = vcpu->env;

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(vcpu);
		return 0;
	case KVM_EXIT_MMIO:
		vcpu_mmio(vcpu);
		return 0;
	case KVM_EXIT_HLT:
	case KVM_EXIT_INTR:
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return 0;
	case KVM_EXIT_SHUTDOWN:
		log_err("vcpu%d: triple fault (KVM_EXIT_SHUTDOWN)", vcpu->index);
		vcpu_dump(vcpu, stderr);
		env->end(env->opaque, VCPU_EXIT_TRIPLE_FAULT);
		return 1;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
		case KVM_SYSTEM_EVENT_RESET:
			log_debug("vcpu%d: guest %s", vcpu->index,
				  run->system_event.type == KVM_SYSTEM_EVENT_RESET ? "reset"
										   : "shut down");
			env->end(env->opaque, VCPU_EXIT_POWEROFF);
			return 1;
		default:
			log_err("vcpu%d: guest system event %u (crash)", vcpu->index,
				run->system_event.type);
			env->end(env->opaque, VCPU_EXIT_INTERNAL);
			return 1;
		}
	case KVM_EXIT_FAIL_ENTRY:
		log_err("vcpu%d: KVM_RUN failed to enter the guest: hardware reason 0x%llx on cpu "
			"%u",
			vcpu->index,
			(unsigned long long)run->fail_entry.hardware_entry_failure_reason,
			run->fail_entry.cpu);
		vcpu_dump(vcpu, stderr);
		env->end(env->opaque, VCPU_EXIT_INTERNAL);
		return 1;
	case KVM_EXIT_INTERNAL_ERROR:
		vcpu_report_internal(vcpu);
		env->end(env->opaque, VCPU_EXIT_INTERNAL);
		return 1;
	default:
		log_err("vcpu%d: unexpected KVM exit reason %u", vcpu->index, run->exit_reason);
		vcpu_dump(vcpu, stderr);
		env->end(env->opaque, VCPU_EXIT_INTERNAL);
		return 1;
	}
}

/* Park until resumed or stopped. First re-enter KVM_RUN with immediate_exit
 * set: KVM finishes an I/O or MMIO exit it is still owed (the data a read
 * returned goes into the guest's register) and returns without running
 * guest code, so the registers saved while parked are consistent.
 * Returns 1 if the VM ended meanwhile. */
static int vcpu_park(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	for (;;) {
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				break;
			log_err("vcpu%d: KVM_RUN: %s", vcpu->index, strerror(errno));
			vcpu->env->end(vcpu->env->opaque, VCPU_EXIT_INTERNAL);
			return 1;
		}
		/* An exit completing the last one (the next piece of a rep ins/outs). */
		if (vcpu_handle_exit(vcpu))
			return 1;
	}
	pthread_mutex_lock(&vcpu->lock);
	vcpu->parked = 1;
	pthread_cond_broadcast(&vcpu->cond);
	while (atomic_load(&vcpu->pause_req) && !atomic_load(&vcpu->stop))
		pthread_cond_wait(&vcpu->cond, &vcpu->lock);
	vcpu->parked = 0;
	/* A new pause request re-arms it; the loop checks pause_req after this. */
	__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&vcpu->lock);
	return 0;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	char name[16];
	sigset_t set;

	sigfillset(&set);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	snprintf(name, sizeof(name), "vcpu%d", vcpu->index);
	pthread_setname_np(pthread_self(), name);
	/* seccomp: this thread's allowlist before its first KVM_RUN (vmm/seccomp.h).
	 * Should it fail, the VM ends: vm_end() stops every vCPU. */
	if (seccomp_install_vcpu() < 0)
		vcpu->env->end(vcpu->env->opaque, VCPU_EXIT_ERROR);

	while (!atomic_load(&vcpu->stop)) {
		if (atomic_load(&vcpu->pause_req)) {
			if (vcpu_park(vcpu))
				break;
			continue;
		}
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_err("vcpu%d: KVM_RUN: %s", vcpu->index, strerror(errno));
			vcpu->env->end(vcpu->env->opaque, VCPU_EXIT_INTERNAL);
			break;
		}
		if (vcpu_handle_exit(vcpu))
			break;
	}
	pthread_mutex_lock(&vcpu->lock);
	vcpu->exited = 1;
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
	return NULL;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig; /* only interrupts KVM_RUN */
}

static pthread_once_t vcpu_signal_once = PTHREAD_ONCE_INIT;

static void vcpu_install_handler(void)
{
	struct sigaction sa = { .sa_handler = vcpu_kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

int vcpu_start(struct vcpu *vcpu)
{
	pthread_attr_t attr;
	sigset_t all, old;
	int r;

	pthread_once(&vcpu_signal_once, vcpu_install_handler);
	/* The thread starts with every signal blocked and unblocks only the kick. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK_SIZE);
	vcpu->exited = 0;
	r = -pthread_create(&vcpu->thread, &attr, vcpu_thread, vcpu);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		vcpu->started = 1;
	return r;
}

void vcpu_request_pause(struct vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->lock);
	atomic_store(&vcpu->pause_req, 1);
	pthread_mutex_unlock(&vcpu->lock);
	if (!vcpu->started)
		return;
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

int vcpu_wait_parked(struct vcpu *vcpu, int timeout_ms)
{
	struct timespec deadline;
	int r = 0;

	if (!vcpu->started)
		return 0;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vcpu->lock);
	while (!vcpu->parked && !vcpu->exited && r == 0)
		r = pthread_cond_timedwait(&vcpu->cond, &vcpu->lock, &deadline);
	if (vcpu->parked || vcpu->exited)
		r = 0;
	pthread_mutex_unlock(&vcpu->lock);
	return r ? -ETIMEDOUT : 0;
}

void vcpu_resume(struct vcpu *vcpu)
{
	pthread_mutex_lock(&vcpu->lock);
	atomic_store(&vcpu->pause_req, 0);
	pthread_cond_broadcast(&vcpu->cond);
	pthread_mutex_unlock(&vcpu->lock);
}

void vcpu_kick(struct vcpu *vcpu)
{
	atomic_store(&vcpu->stop, 1);
	if (!vcpu->started)
		return;
	pthread_mutex_lock(&vcpu->lock);
	pthread_cond_broadcast(&vcpu->cond); /* a parked thread ends too */
	pthread_mutex_unlock(&vcpu->lock);
	/* immediate_exit covers a kick that lands just before KVM_RUN. */
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	pthread_kill(vcpu->thread, VCPU_KICK_SIGNAL);
}

void vcpu_join(struct vcpu *vcpu)
{
	if (!vcpu->started)
		return;
	pthread_join(vcpu->thread, NULL);
	vcpu->started = 0;
}
