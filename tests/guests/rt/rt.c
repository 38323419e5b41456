/* CPL3 half of the synthetic-guest runtime: exit, park, serial output. */
#include "rt.h"

void rt_exit(int v)
{
	rt_outb(RT_PORT_EXIT, (uint8_t)v);
	rt_park();
}

void rt_park(void)
{
	for (;;)
		__asm__ volatile("ud2; .byte %c0" : : "i"(RT_UD_PARK) : "memory");
}

uint64_t rt_cpl0_call(uint64_t (*fn)(uint64_t), uint64_t arg)
{
	uint64_t ret;

	__asm__ volatile("ud2; .byte %c2"
			 : "=a"(ret)
			 : "a"(fn), "i"(RT_UD_CALL), "D"(arg)
			 : "memory");
	return ret;
}

void rt_putc(char c)
{
	rt_outb(RT_PORT_SERIAL, (uint8_t)c);
}

void rt_puts(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

static void rt_put_u64(uint64_t v, unsigned base)
{
	char buf[24];
	int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (n)
		rt_putc(buf[--n]);
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		int lng = 0;

		if (*fmt != '%') {
			rt_putc(*fmt);
			continue;
		}
		fmt++;
		while (*fmt == 'l') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);

			rt_puts(s ? s : "(null)");
			break;
		}
		case 'c':
			rt_putc((char)va_arg(ap, int));
			break;
		case 'd': {
			int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);

			if (v < 0) {
				rt_putc('-');
				rt_put_u64(-(uint64_t)v, 10);
			} else {
				rt_put_u64((uint64_t)v, 10);
			}
			break;
		}
		case 'u':
			rt_put_u64(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 10);
			break;
		case 'x':
			rt_put_u64(lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned), 16);
			break;
		case 'p':
			rt_puts("0x");
			rt_put_u64((uint64_t)va_arg(ap, void *), 16);
			break;
		case '%':
			rt_putc('%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			rt_putc('%');
			rt_putc(*fmt);
			break;
		}
	}
	va_end(ap);
}

void rt_print_ratio(uint64_t num, uint64_t den)
{
	uint64_t q;

	if (!den) {
		rt_puts("inf");
		return;
	}
	q = (num * 100 + den / 2) / den;
	rt_put_u64(q / 100, 10);
	rt_putc('.');
	rt_putc((char)('0' + q % 100 / 10));
	rt_putc((char)('0' + q % 10));
}

/* rep movsb/stosb: fast strings run natively at CPL3. */
void *memset(void *d, int c, size_t n)
{
	void *p = d;

	__asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	void *p = d;

	__asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) : : "memory");
	return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

/* Whether the first n bytes of a and b are equal (a may be shorter: it
 * then differs at its NUL). */
static int rt_prefix_eq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

int strcmp(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

/* ---- boot information ---------------------------------------------------- */
#define RT_BP_E820_ENTRIES 0x1e8
#define RT_BP_CMD_LINE_PTR 0x228
#define RT_BP_E820_TABLE   0x2d0
#define RT_BP_E820_MAX	   128
#define RT_E820_RAM	   1

uint64_t rt_boot_params;

const char *rt_cmdline(void)
{
	uint32_t ptr;

	if (!rt_boot_params)
		return "";
	memcpy(&ptr, (const void *)(rt_boot_params + RT_BP_CMD_LINE_PTR), 4);
	return ptr ? (const char *)(uintptr_t)ptr : "";
}

int rt_param(const char *key, char *out, size_t size)
{
	const char *p = rt_cmdline();
	size_t klen = strlen(key), n;

	if (size)
		out[0] = '\0';
	while (*p) {
		while (*p == ' ')
			p++;
		if (!rt_prefix_eq(p, key, klen) || p[klen] != '=') {
			while (*p && *p != ' ')
				p++;
			continue;
		}
		p += klen + 1;
		for (n = 0; p[n] && p[n] != ' ' && n + 1 < size; n++)
			out[n] = p[n];
		if (size)
			out[n] = '\0';
		return 1;
	}
	return 0;
}

uint64_t rt_param_u64(const char *key, uint64_t def)
{
	char buf[32], *p = buf;
	uint64_t v = 0, base = 10;
	int digits = 0;

	if (!rt_param(key, buf, sizeof(buf)))
		return def;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++, digits++) {
		unsigned d;

		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			break;
		v = v * base + d;
	}
	if (!digits)
		return def;
	switch (*p) {
	case 'G':
	case 'g':
		v <<= 10;
		/* fall through */
	case 'M':
	case 'm':
		v <<= 10;
		/* fall through */
	case 'K':
	case 'k':
		v <<= 10;
		p++;
		break;
	}
	return *p ? def : v;
}

/* ---- memory above the image ---------------------------------------------- */
extern const char rt_user_end[]; /* guest.lds.S */
#define RT_HEAP_END_DEFAULT 0x4000000ull
static uint64_t rt_heap_next, rt_heap_end;

/* The end of the e820 RAM range holding addr, capped at 4 GiB (the extent
 * of the runtime's page tables); 0 if none does. */
static uint64_t rt_ram_end(uint64_t addr)
{
	const uint8_t *bp = (const uint8_t *)rt_boot_params;
	uint8_t n;

	if (!bp)
		return 0;
	n = bp[RT_BP_E820_ENTRIES];
	for (unsigned i = 0; i < n && i < RT_BP_E820_MAX; i++) {
		uint64_t a, len, end;
		uint32_t type;

		memcpy(&a, bp + RT_BP_E820_TABLE + 20 * i, 8);
		memcpy(&len, bp + RT_BP_E820_TABLE + 20 * i + 8, 8);
		memcpy(&type, bp + RT_BP_E820_TABLE + 20 * i + 16, 4);
		end = a + len;
		if (type != RT_E820_RAM || addr < a || addr >= end || end < a)
			continue;
		return end > 0x100000000ull ? 0x100000000ull : end;
	}
	return 0;
}

void *rt_alloc(size_t size, size_t align)
{
	uint64_t p;

	if (!rt_heap_next) {
		rt_heap_next = ((uint64_t)rt_user_end + 0x1fffff) & ~0x1fffffull;
		/* No boot_params (pvh_shim under QEMU, -m 128): assume 64 MiB. */
		rt_heap_end = rt_boot_params ? rt_ram_end(rt_heap_next) : RT_HEAP_END_DEFAULT;
	}
	if (!align || (align & (align - 1)))
		return NULL;
	p = (rt_heap_next + align - 1) & ~(uint64_t)(align - 1);
	if (p < rt_heap_next || p > rt_heap_end || size > rt_heap_end - p)
		return NULL;
	rt_heap_next = p + size;
	/* Fresh guest RAM reads as zero, but a rebooted guest's may not. */
	memset((void *)p, 0, size);
	return (void *)p;
}

/* ---- interrupts ---------------------------------------------------------- */
#define RT_LAPIC_ID	   0x020
#define RT_LAPIC_VERSION   0x030
#define RT_LAPIC_TPR	   0x080
#define RT_LAPIC_SVR	   0x0f0
#define RT_LAPIC_LVT_TIMER 0x320
#define RT_LAPIC_LVT_LINT0 0x350
#define RT_LAPIC_LVT_LINT1 0x360
#define RT_LAPIC_LVT_ERROR 0x370
#define RT_LAPIC_TIMER_ICR 0x380
#define RT_LAPIC_TIMER_DCR 0x3e0
#define RT_LAPIC_MASKED	   0x10000
#define RT_LAPIC_SW_ENABLE 0x100
#define RT_IOAPIC_VERSION  0x01
#define RT_IOAPIC_REDIR(n) (0x10 + 2 * (n))
/* The LAPIC timer counts the APIC bus clock, which KVM runs at 1 GHz;
 * divided by 16: one tick every 16 ns. */
#define RT_LAPIC_DIV_16	 0x3
#define RT_LAPIC_TICK_NS 16

uint64_t rt_irq_waits;

static uint32_t rt_lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(RT_LAPIC_BASE + reg);
}

static void rt_lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(RT_LAPIC_BASE + reg) = v;
}

static uint32_t rt_ioapic_read(uint32_t reg)
{
	*(volatile uint32_t *)(uintptr_t)RT_IOAPIC_BASE = reg;
	return *(volatile uint32_t *)(uintptr_t)(RT_IOAPIC_BASE + 0x10);
}

static void rt_ioapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)RT_IOAPIC_BASE = reg;
	*(volatile uint32_t *)(uintptr_t)(RT_IOAPIC_BASE + 0x10) = v;
}

int rt_irq_init(void)
{
	uint32_t version = rt_lapic_read(RT_LAPIC_VERSION);

	/* An integrated xAPIC reports 0x1X; nothing there reads all ones. */
	if ((version & 0xf0) != 0x10)
		return -1;
	/* The 8259s share the low GSIs; with LINT0 in ExtINT mode (KVM's
	 * reset state) they would inject their own vectors. */
	rt_outb(0x21, 0xff);
	rt_outb(0xa1, 0xff);
	rt_lapic_write(RT_LAPIC_LVT_LINT0, RT_LAPIC_MASKED);
	rt_lapic_write(RT_LAPIC_LVT_LINT1, RT_LAPIC_MASKED);
	rt_lapic_write(RT_LAPIC_LVT_ERROR, RT_LAPIC_MASKED);
	rt_lapic_write(RT_LAPIC_LVT_TIMER, RT_LAPIC_MASKED);
	rt_lapic_write(RT_LAPIC_TPR, 0);
	rt_lapic_write(RT_LAPIC_SVR, RT_LAPIC_SW_ENABLE | RT_SPURIOUS_VECTOR);
	return 0;
}

int rt_irq_route(uint32_t gsi)
{
	uint32_t version = rt_ioapic_read(RT_IOAPIC_VERSION), apic_id;

	if (version == 0xffffffff || gsi > ((version >> 16) & 0xff))
		return -1;
	apic_id = rt_lapic_read(RT_LAPIC_ID) >> 24;
	rt_ioapic_write(RT_IOAPIC_REDIR(gsi), RT_LAPIC_MASKED);
	rt_ioapic_write(RT_IOAPIC_REDIR(gsi) + 1, apic_id << 24);
	rt_ioapic_write(RT_IOAPIC_REDIR(gsi), RT_IRQ_VECTOR);
	return 0;
}

void rt_irq_timer(uint64_t us)
{
	uint64_t ticks = us * 1000 / RT_LAPIC_TICK_NS;

	if (us > 4000000)
		ticks = 4000000000ull / RT_LAPIC_TICK_NS;
	rt_lapic_write(RT_LAPIC_TIMER_ICR, 0);
	if (!us)
		return;
	rt_lapic_write(RT_LAPIC_TIMER_DCR, RT_LAPIC_DIV_16);
	rt_lapic_write(RT_LAPIC_LVT_TIMER, RT_IRQ_VECTOR);
	rt_lapic_write(RT_LAPIC_TIMER_ICR, ticks ? (uint32_t)ticks : 1);
}

/* ---- time ---------------------------------------------------------------- */
#define RT_PIT_HZ    1193182ull
#define RT_PIT_TICKS 23864ull /* 20 ms */

static uint16_t rt_pit_read(void)
{
	uint16_t lo;

	rt_outb(0x43, 0x80); /* latch channel 2 */
	lo = rt_inb(0x42);
	return (uint16_t)(lo | rt_inb(0x42) << 8);
}

/* Let PIT channel 2 count down from 0xffff (mode 0) and read its counter
 * until RT_PIT_TICKS have passed. 0 if the PIT does not count. */
static uint64_t rt_pit_khz(void)
{
	uint64_t t0, t1;
	uint16_t c0, c;

	rt_outb(0x43, 0xb0); /* channel 2, low then high byte, mode 0 */
	rt_outb(0x42, 0xff);
	rt_outb(0x42, 0xff);
	c0 = rt_pit_read();
	t0 = rt_rdtsc();
	do {
		c = rt_pit_read();
		t1 = rt_rdtsc();
		if (t1 - t0 > 2000000000ull || c > c0)
			return 0;
	} while ((uint64_t)(c0 - c) < RT_PIT_TICKS);
	return (t1 - t0) * RT_PIT_HZ / (uint64_t)(c0 - c) / 1000;
}

static uint64_t rt_tsc_probe(const char **source)
{
	uint32_t r[4], max;
	uint64_t khz;

	rt_cpuid(0, 0, r);
	max = r[0];
	if (max >= 0x15) {
		rt_cpuid(0x15, 0, r);
		if (r[0] && r[1] && r[2]) {
			*source = "cpuid15";
			return (uint64_t)r[2] * r[1] / r[0] / 1000;
		}
	}
	if (max >= 0x16) {
		rt_cpuid(0x16, 0, r);
		if (r[0]) {
			*source = "cpuid16";
			return (uint64_t)r[0] * 1000;
		}
	}
	rt_cpuid(1, 0, r);
	if (r[2] & (1u << 31)) {
		rt_cpuid(0x40000000, 0, r);
		if (r[0] >= 0x40000010 && r[0] < 0x40010000) {
			rt_cpuid(0x40000010, 0, r);
			if (r[0]) {
				*source = "hypervisor";
				return r[0];
			}
		}
	}
	khz = rt_pit_khz();
	/* Trust only plausible rates: 100 MHz to 20 GHz. */
	if (khz >= 100000 && khz <= 20000000) {
		*source = "pit";
		return khz;
	}
	return 0;
}

uint64_t rt_tsc_khz(const char **source)
{
	static uint64_t khz;
	static const char *src = "";
	static int done;

	if (!done) {
		khz = rt_tsc_probe(&src);
		done = 1;
	}
	if (source)
		*source = src;
	return khz;
}

uint64_t rt_ms_to_tsc(uint64_t ms)
{
	uint64_t khz = rt_tsc_khz(NULL);

	return ms * (khz ? khz : 3000000);
}
