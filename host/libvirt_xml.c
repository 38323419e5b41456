#include "host/libvirt_xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XML_MAX (64u << 10)

struct xml_buf {
	char *p;
	size_t len, pos;
	int err;
};

unsigned libvirt_xml_vcpus(uint32_t cpu_millis)
{
	unsigned n = (cpu_millis + 999) / 1000;

	return n ? n : 1;
}

uint64_t libvirt_xml_hard_limit_kib(uint64_t mem_bytes)
{
	return ((mem_bytes + 1023) >> 10) + (LIBVIRT_XML_MEM_OVERHEAD >> 10);
}

int libvirt_xml_escape(char *buf, size_t len, size_t *pos, const char *s)
{
	size_t p = *pos;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		const char *rep = NULL;
		size_t n;

		if (c < 0x20 && c != '\t')
			return -EINVAL;
		switch (c) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '\'':
			rep = "&apos;";
			break;
		case '"':
			rep = "&quot;";
			break;
		}
		n = rep ? strlen(rep) : 1;
		if (p + n >= len)
			return -ENOSPC;
		if (rep)
			memcpy(buf + p, rep, n);
		else
			buf[p] = (char)c;
		p += n;
	}
	buf[p] = '\0';
	*pos = p;
	return 0;
}

static __attribute__((format(printf, 2, 3))) void xml_put(struct xml_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->err)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->pos, b->len - b->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->len - b->pos)
		b->err = -ENOSPC;
	else
		b->pos += (size_t)n;
}

/* pre, s escaped, post. */
static void xml_text(struct xml_buf *b, const char *pre, const char *s, const char *post)
{
	xml_put(b, "%s", pre);
	if (!b->err)
		b->err = libvirt_xml_escape(b->p, b->len, &b->pos, s);
	xml_put(b, "%s", post);
}

int libvirt_xml_virt_type_valid(const char *t)
{
	return !t || strcmp(t, "kvm") == 0 || strcmp(t, "qemu") == 0;
}

int libvirt_xml_domain(const struct libvirt_xml_config *cfg, char **out)
{
	int tcg;

	struct xml_buf b = { .len = XML_MAX };
	unsigned vcpus;
	uint64_t mem_kib, quota;

	*out = NULL;
	if (!cfg->name || !*cfg->name || !cfg->kernel || !*cfg->kernel || !cfg->mem_bytes)
		return -EINVAL;
	if (cfg->mem_bytes > (1ull << 50) || !libvirt_xml_virt_type_valid(cfg->virt_type))
		return -EINVAL;
	tcg = cfg->virt_type && strcmp(cfg->virt_type, "qemu") == 0;
	vcpus = libvirt_xml_vcpus(cfg->cpu_millis);
	/* libvirt's quota is per vCPU: split the total evenly. */
	quota = cfg->cpu_millis ? (uint64_t)cfg->cpu_millis * LIBVIRT_XML_CPU_PERIOD / 1000 / vcpus
				: LIBVIRT_XML_CPU_PERIOD;
	if (quota < 1000)
		quota = 1000; /* libvirt's minimum */
	mem_kib = (cfg->mem_bytes + 1023) >> 10;
	b.p = malloc(b.len);
	if (!b.p)
		return -ENOMEM;
	b.p[0] = '\0';

	xml_put(&b, "<domain type='%s'>\n", tcg ? "qemu" : "kvm");
	xml_text(&b, "  <name>", cfg->name, "</name>\n");
	xml_put(&b, "  <memory unit='KiB'>%llu</memory>\n", (unsigned long long)mem_kib);
	xml_put(&b, "  <vcpu placement='static'>%u</vcpu>\n", vcpus);
	xml_put(&b, "  <cputune>\n    <period>%u</period>\n    <quota>%llu</quota>\n  </cputune>\n",
		LIBVIRT_XML_CPU_PERIOD, (unsigned long long)quota);
	if (!cfg->memtune_live)
		xml_put(&b,
			"  <memtune>\n    <hard_limit unit='KiB'>%llu</hard_limit>\n  </memtune>\n",
			(unsigned long long)libvirt_xml_hard_limit_kib(cfg->mem_bytes));
	xml_text(&b, "  <os>\n    <type arch='x86_64' machine='",
		 cfg->machine ? cfg->machine : "pc", "'>hvm</type>\n");
	xml_text(&b, "    <kernel>", cfg->kernel, "</kernel>\n");
	if (cfg->initrd && *cfg->initrd)
		xml_text(&b, "    <initrd>", cfg->initrd, "</initrd>\n");
	if (cfg->cmdline && *cfg->cmdline)
		xml_text(&b, "    <cmdline>", cfg->cmdline, "</cmdline>\n");
	xml_put(&b, "  </os>\n");
	/* QEMU needs arch-capabilities off on nested hosts (see KVM-HERE.md).
	 * TCG cannot pass the host's CPU through: it keeps QEMU's default model. */
	if (!tcg)
		xml_put(&b, "  <cpu mode='host-passthrough' check='none'>\n"
			    "    <feature policy='disable' name='arch-capabilities'/>\n  </cpu>\n");
	if (cfg->run_as && *cfg->run_as)
		xml_text(&b, "  <seclabel type='static' model='dac' relabel='no'>\n    <label>",
			 cfg->run_as, "</label>\n  </seclabel>\n");
	xml_put(&b, "  <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n"
		    "  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n");
	xml_put(&b, "  <devices>\n");
	if (cfg->emulator && *cfg->emulator)
		xml_text(&b, "    <emulator>", cfg->emulator, "</emulator>\n");
	if (cfg->disk && *cfg->disk) {
		xml_put(&b, "    <disk type='file' device='disk'>\n"
			    "      <driver name='qemu' type='raw'/>\n");
		xml_text(&b, "      <source file='", cfg->disk, "'/>\n");
		xml_put(&b,
			"      <target dev='vda' bus='virtio'/>\n      <readonly/>\n"
			"      <address type='pci' domain='0x0000' bus='0x00' slot='0x%02x'"
			" function='0x0'/>\n    </disk>\n",
			LIBVIRT_XML_DISK_SLOT);
	}
	if (cfg->channel == LIBVIRT_XML_VSOCK) {
		xml_put(&b, "    <vsock model='virtio'>\n      <cid auto='yes'/>\n    </vsock>\n");
	} else {
		/* Pinned for a stable device order (LIBVIRT_XML_PINNED_PORT); the
		 * agent finds its port by name (LIBVIRT_XML_GUEST_PORT). */
		xml_put(&b,
			"    <controller type='virtio-serial' index='0'>\n"
			"      <address type='pci' domain='0x0000' bus='0x00' slot='0x%02x'"
			" function='0x0'/>\n    </controller>\n",
			LIBVIRT_XML_SERIAL_SLOT);
		xml_put(&b, "    <channel type='unix'>\n");
		if (cfg->channel_path && *cfg->channel_path)
			xml_text(&b, "      <source mode='bind' path='", cfg->channel_path,
				 "'/>\n");
		else
			xml_put(&b, "      <source mode='bind'/>\n");
		xml_put(&b,
			"      <target type='virtio' name='" LIBVIRT_XML_CHANNEL "'/>\n"
			"      <address type='virtio-serial' controller='0' bus='0' port='1'/>\n"
			"    </channel>\n");
	}
	if (cfg->console && *cfg->console) {
		xml_put(&b, "    <serial type='file'>\n");
		xml_text(&b, "      <source path='", cfg->console, "'/>\n");
		xml_put(&b, "      <target port='0'/>\n    </serial>\n");
	}
	/* Nothing else: no NIC, no USB, no balloon, no display. */
	xml_put(&b, "    <controller type='usb' model='none'/>\n"
		    "    <memballoon model='none'/>\n  </devices>\n</domain>\n");
	if (b.err) {
		free(b.p);
		return b.err;
	}
	*out = b.p;
	return 0;
}
