/* CPL0 half of the synthetic-guest runtime: the trap handler. The linker
 * script puts this whole file in the supervisor-only page; it uses nothing
 * from the CPL3 half. CPL0 runs slowly on some hosts: keep it short. */
#include "rt.h"

void rt_trap(struct rt_frame *f);
extern const char rt_user_end[]; /* guest.lds.S */

/* Weak: guests may override the exception policy. */
__attribute__((weak)) int guest_exception(const struct rt_frame *f)
{
	(void)f;
	return -1;
}

static const char *const rt_kernel_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "?",   "#TS",
	"#NP", "#SS", "#GP", "#PF", "?",   "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

static void rt_kernel_outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

void rt_kputs(const char *s)
{
	while (*s)
		rt_kernel_outb(RT_PORT_SERIAL, (uint8_t)*s++);
}

static void rt_kernel_hex(const char *label, uint64_t v)
{
	char buf[20];
	int n = 0;

	rt_kputs(label);
	do {
		buf[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	rt_kputs("0x");
	while (n)
		rt_kernel_outb(RT_PORT_SERIAL, (uint8_t)buf[--n]);
}

__attribute__((noreturn)) static void rt_kernel_park(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void rt_kexit(int v)
{
	rt_kernel_outb(RT_PORT_EXIT, (uint8_t)v);
	rt_kernel_park();
}

void rt_trap(struct rt_frame *f)
{
	uint64_t cr2;
	uint16_t tr;
	const char *name;
	int code;

	if (f->vector == 6 && (f->cs & 3) == 3 && f->rip >= RT_USER_BASE &&
	    f->rip < (uint64_t)rt_user_end - 2 && ((const uint8_t *)f->rip)[0] == 0x0f &&
	    ((const uint8_t *)f->rip)[1] == 0x0b) {
		switch (((const uint8_t *)f->rip)[2]) {
		case RT_UD_PARK:
			rt_kernel_park();
		case RT_UD_CALL:
			f->rax = ((uint64_t(*)(uint64_t))f->rax)(f->rdi);
			f->rip += 3;
			return;
		}
	}
	code = guest_exception(f);
	if (code >= 0)
		rt_kexit(code);
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	__asm__ volatile("str %0" : "=r"(tr));
	name = f->vector < 32 && rt_kernel_names[f->vector] ? rt_kernel_names[f->vector] : "irq";
	rt_kputs("guest: unexpected exception ");
	rt_kputs(name);
	rt_kernel_hex(" vector=", f->vector);
	rt_kernel_hex(" error=", f->error);
	rt_kernel_hex(" rip=", f->rip);
	rt_kernel_hex(" cs=", f->cs);
	rt_kernel_hex(" rsp=", f->rsp);
	rt_kernel_hex(" rflags=", f->rflags);
	rt_kernel_hex(" cr2=", cr2);
	rt_kernel_hex(" cpu=", (uint64_t)(tr - RT_SEL_TSS0) / 16);
	rt_kputs("\n");
	rt_kexit(RT_EXIT_EXCEPTION);
}
