/* The libvirt domain XML builder: escaping, quotas, channel, no network. */
#include "host/libvirt_xml.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <string.h>

static int has(const char *xml, const char *s)
{
	return xml && strstr(xml, s) != NULL;
}

static void test_escape(void)
{
	char buf[64];
	size_t pos = 0;

	is(libvirt_xml_escape(buf, sizeof(buf), &pos, "a&b<c>d'e\"f"), 0, "escape ok");
	ok(strcmp(buf, "a&amp;b&lt;c&gt;d&apos;e&quot;f") == 0, "every special escaped: %s", buf);
	pos = 0;
	is(libvirt_xml_escape(buf, sizeof(buf), &pos, "bad\nname"), -EINVAL,
	   "a newline is refused");
	pos = 0;
	is(libvirt_xml_escape(buf, sizeof(buf), &pos, "x\x01"), -EINVAL,
	   "a control char is refused");
	pos = 0;
	is(libvirt_xml_escape(buf, 8, &pos, "&&&"), -ENOSPC, "overflow is -ENOSPC, not a cut");
	pos = 0;
	is(libvirt_xml_escape(buf, sizeof(buf), &pos, "tab\there"), 0, "a tab is kept");
	pos = 0;
	is(libvirt_xml_escape(buf, sizeof(buf), &pos, "\xc3\xa9t\xc3\xa9"), 0,
	   "UTF-8 passes through");
}

static void test_domain(void)
{
	struct libvirt_xml_config c = {
		.name = "agentvm-a<b>&'\"",
		.kernel = "/k/vm linux&<x>",
		.cmdline = "console=ttyS0 -- --listen serial:/dev/virtio-ports/org.agentvm.0 a<b",
		.disk = "/img/'root'.erofs",
		.console = "/tmp/c\"on.log",
		.channel = LIBVIRT_XML_SERIAL,
		.channel_path = "/run/a&b.sock",
		.mem_bytes = 512ull << 20,
		.cpu_millis = 1500,
	};
	char *xml = NULL;

	is(libvirt_xml_domain(&c, &xml), 0, "domain XML built");
	ok(has(xml, "<name>agentvm-a&lt;b&gt;&amp;&apos;&quot;</name>"), "name escaped");
	ok(!has(xml, "a<b>"), "no raw name anywhere");
	ok(has(xml, "<kernel>/k/vm linux&amp;&lt;x&gt;</kernel>"), "kernel path escaped");
	ok(has(xml, "a&lt;b</cmdline>"), "cmdline escaped");
	ok(has(xml, "<source file='/img/&apos;root&apos;.erofs'/>"), "disk path escaped");
	ok(has(xml, "<readonly/>"), "disk read-only");
	ok(has(xml, "bus='virtio'"), "virtio disk");
	ok(has(xml, "path='/tmp/c&quot;on.log'"), "console escaped");
	ok(has(xml, "path='/run/a&amp;b.sock'"), "channel path escaped");
	ok(has(xml, "name='org.agentvm.0'"), "channel named org.agentvm.0");
	ok(has(xml, "<memory unit='KiB'>524288</memory>"), "memory in KiB");
	ok(has(xml, "<vcpu placement='static'>2</vcpu>"), "1500 millis -> 2 vCPUs");
	ok(has(xml, "<period>100000</period>"), "cputune period");
	ok(has(xml, "<quota>75000</quota>"), "quota per vCPU: 1.5 CPUs over 2 vCPUs");
	ok(has(xml, "<hard_limit unit='KiB'>786432</hard_limit>"),
	   "memtune hard_limit = RAM + 256 MiB overhead");
	ok(!has(xml, "<interface"), "no network interface");
	ok(has(xml, "<memballoon model='none'/>"), "no balloon");
	ok(has(xml, "machine='pc'"), "pc machine by default");
	ok(!has(xml, "<vsock"), "no vsock with serial");
	ok(has(xml, "<domain type='kvm'>"), "a KVM domain by default");
	ok(has(xml, "<cpu mode='host-passthrough'"), "the host's CPU passed through");
	ok(has(xml, "<controller type='virtio-serial' index='0'>\n"
		    "      <address type='pci' domain='0x0000' bus='0x00' slot='0x03'"),
	   "virtio-serial controller pinned to slot 3 (the guest's virtio0)");
	ok(has(xml,
	       "<readonly/>\n      <address type='pci' domain='0x0000' bus='0x00' slot='0x04'"),
	   "disk pinned to slot 4");
	ok(has(xml, "<address type='virtio-serial' controller='0' bus='0' port='1'/>"),
	   "channel on port 1: " LIBVIRT_XML_PINNED_PORT " in the guest");
	free(xml);

	c.virt_type = "qemu";
	is(libvirt_xml_domain(&c, &xml), 0, "TCG domain built");
	ok(has(xml, "<domain type='qemu'>"), "domain type qemu");
	ok(!has(xml, "<cpu mode"), "no host CPU passthrough under TCG");
	free(xml);
	c.virt_type = "kvm";
	is(libvirt_xml_domain(&c, &xml), 0, "virt_type kvm spelled out");
	ok(has(xml, "<domain type='kvm'>"), "domain type kvm");
	free(xml);
	c.virt_type = "xen'";
	is(libvirt_xml_domain(&c, &xml), -EINVAL, "an unknown virt_type is refused");
	ok(xml == NULL, "nothing returned");
	c.virt_type = NULL;

	c.channel = LIBVIRT_XML_VSOCK;
	c.channel_path = NULL;
	c.console = NULL;
	c.disk = NULL;
	c.cpu_millis = 250;
	is(libvirt_xml_domain(&c, &xml), 0, "vsock domain built");
	ok(has(xml, "<vsock model='virtio'>"), "vsock device");
	ok(!has(xml, "<channel"), "no channel with vsock");
	ok(!has(xml, "<disk"), "no disk when none given");
	ok(!has(xml, "<serial"), "no console when none given");
	ok(has(xml, "<vcpu placement='static'>1</vcpu>") && has(xml, "<quota>25000</quota>"),
	   "a quarter CPU: 1 vCPU at 25%%");
	free(xml);

	c.memtune_live = 1;
	is(libvirt_xml_domain(&c, &xml), 0, "built with the hard limit left for later");
	ok(!has(xml, "<memtune>"), "no memtune");
	ok(!has(xml, "<seclabel"), "libvirt's own QEMU user by default");
	free(xml);
	c.memtune_live = 0;
	c.run_as = "+0:+0<";
	is(libvirt_xml_domain(&c, &xml), 0, "built with a QEMU user");
	ok(has(xml, "<label>+0:+0&lt;</label>"), "DAC label escaped");
	free(xml);
	c.run_as = NULL;
	ok(libvirt_xml_hard_limit_kib(1ull << 30) == (1ull << 20) + (256ull << 10),
	   "hard limit of 1 GiB: 1 GiB + 256 MiB");

	c.channel = LIBVIRT_XML_SERIAL;
	is(libvirt_xml_domain(&c, &xml), 0, "serial channel without a path: libvirt picks it");
	ok(has(xml, "<source mode='bind'/>"), "bind with no path");
	free(xml);
	c.cpu_millis = 1;
	is(libvirt_xml_domain(&c, &xml), 0, "tiny CPU share");
	ok(has(xml, "<quota>1000</quota>"), "quota raised to libvirt's minimum");
	free(xml);

	c.name = "bad\nname";
	is(libvirt_xml_domain(&c, &xml), -EINVAL, "a name with a newline is refused");
	ok(xml == NULL, "nothing returned on error");
	c.name = "";
	is(libvirt_xml_domain(&c, &xml), -EINVAL, "empty name refused");
	c.name = "ok";
	c.kernel = NULL;
	is(libvirt_xml_domain(&c, &xml), -EINVAL, "no kernel refused");
	c.kernel = "/k";
	c.mem_bytes = 0;
	is(libvirt_xml_domain(&c, &xml), -EINVAL, "zero memory refused");
	c.mem_bytes = 1 << 20;
	{
		char big[70000];

		memset(big, '&', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		c.cmdline = big;
		is(libvirt_xml_domain(&c, &xml), -ENOSPC, "a huge cmdline is -ENOSPC");
	}
	is(libvirt_xml_vcpus(0), 1, "0 millis -> 1 vCPU");
	is(libvirt_xml_vcpus(2001), 3, "2001 millis -> 3 vCPUs");
}

int main(void)
{
	test_escape();
	test_domain();
	return done_testing();
}
