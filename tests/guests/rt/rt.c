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

void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;

	while (n--)
		*p++ = (unsigned char)c;
	return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;

	while (n--)
		*p++ = *q++;
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
