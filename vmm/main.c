/* agentvm-vmm: one KVM microVM.
 *
 * Exit status (also in --help):
 *   0        the guest powered off or rebooted (i8042 reset, KVM system event)
 *   1        error: bad input, set-up failure, host error
 *   2        usage error: unknown option, missing --kernel
 *   3        the guest triple-faulted (KVM_EXIT_SHUTDOWN)
 *   4        KVM internal error or failed entry (registers dumped on stderr)
 *   16 + N   the guest wrote byte V to the test exit port 0xf4, N = V & 63
 *   130/143  stopped by SIGINT/SIGTERM (128 + the signal number)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "vmm/api_vm.h"
#include "vmm/boot/boot.h"
#include "vmm/devices/blk.h"
#include "vmm/seccomp.h"
#include "vmm/snapshot.h"
#include "vmm/snapshot_kvm.h"
#include "vmm/snapshot_memory.h"
#include "vmm/vm.h"

#define PROG		     "agentvm-vmm"

#define MAIN_MEM_DEFAULT     (128ull << 20)
#define MAIN_MEM_MAX_MIB     (1024ull * 1024) /* 1 TiB */
#define MAIN_CMDLINE_DEFAULT "console=ttyS0 reboot=k panic=1"
#define MAIN_GUEST_HZ	     250 /* CONFIG_HZ of the guest kernel, for lpj= */

/* The host is the nested paravirtual KVM ("kvm_pvm") when this exists. */
#define MAIN_PVM_SYSFS	 "/sys/module/kvm_pvm"
#define MAIN_PVM_CMDLINE "noxsave clearcpuid=popcnt,smap,smep"

#define MAIN_MAX_DRIVES	 (VM_MAX_VIRTIO - 2)

struct main_drive {
	const char *path;
	const char *id;
	int readonly;
};

struct main_opts {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_size;
	int ncpus;
	const char *serial; /* "stdout", "none" or "file:PATH" */
	const char *name;
	int no_workarounds;
	int seccomp_off;	    /* --seccomp off */
	int test_forbidden_syscall; /* test hook, see vmm/seccomp.h */

	int vsock;
	uint64_t vsock_cid;
	const char *vsock_uds;
	int rng;
	struct main_drive drives[MAIN_MAX_DRIVES];
	int ndrives;
	char *specs[MAIN_MAX_DRIVES + 1]; /* copies of the --vsock/--drive values, split in place */
	int nspecs;

	int mem_given, cpus_given;
	const char *api;
	const char *restore;
	const char *restore_memory;
	int paused;
};

/* A file mapped read-only. */
struct main_file {
	const uint8_t *data;
	size_t size;
};

static void main_usage(FILE *f)
{
	fprintf(f,
		"Usage: " PROG " --kernel PATH [OPTIONS]\n"
		"       " PROG " --restore STATE [--restore-memory FILE] [OPTIONS]\n"
		"Run one KVM microVM: boot a Linux kernel or a synthetic test guest with a\n"
		"serial console on COM1, or restore one from a snapshot.\n"
		"\n"
		"Options:\n"
		"  --kernel PATH          guest kernel (required): an ELF vmlinux with the PVH\n"
		"                         note, a bzImage (64-bit entry), or a plain ELF64 test\n"
		"                         guest whose every vCPU enters at its entry point\n"
		"  --initrd PATH          initial ramdisk to load beside the kernel\n"
		"  --cmdline STR          kernel command line\n"
		"                         (default: \"" MAIN_CMDLINE_DEFAULT "\")\n"
		"  --mem SIZE             guest memory in MiB, or with a suffix M or G\n"
		"                         (default: 128M; at most 1024G)\n"
		"  --cpus N               number of vCPUs, 1 to 64 (default: 1)\n"
		"  --serial SPEC          where COM1 output goes: stdout (default; stdin then\n"
		"                         feeds COM1 input), none, or file:PATH\n"
		"  --name NAME            name of this VM in log lines\n"
		"  --vsock cid=N,uds=PATH virtio-vsock with guest CID N (3 to 4294967294),\n"
		"                         bridged to Unix sockets: host processes connect to\n"
		"                         PATH and send \"CONNECT <port>\\n\"; guest connections\n"
		"                         to CID 2 port P go to PATH_P (Firecracker's hybrid "
		"vsock)\n"
		"  --rng                  virtio-rng, fed from the host's getrandom()\n"
		"  --drive path=FILE[,ro][,id=ID]\n"
		"                         virtio-blk backed by a raw image FILE (read-only with\n"
		"                         ro; ID, up to 20 bytes, answers GET_ID). Repeatable,\n"
		"                         up to 14 drives\n"
		"  --no-host-workarounds  do not adapt a Linux command line to this host's KVM\n"
		"  --seccomp on|off       syscall allowlists per thread, installed before the\n"
		"                         guest's first instruction (default: on; off is for\n"
		"                         debugging, see docs/JAIL.md)\n"
		"  --api PATH             serve the control API on the Unix socket PATH:\n"
		"                         JSON-RPC 2.0, one request per line; methods vm.pause,\n"
		"                         vm.resume, vm.snapshot {state, memory}, vm.reset,\n"
		"                         vm.info, vm.stop\n"
		"  --restore STATE        start from the snapshot whose state file is STATE\n"
		"                         instead of booting a kernel (no --kernel, --initrd or\n"
		"                         --cmdline); vCPU count and memory size come from it\n"
		"  --restore-memory FILE  the snapshot's memory file (default: the path recorded\n"
		"                         in STATE), mapped copy-on-write\n"
		"  --paused               start with the vCPUs paused (vm.resume starts them)\n"
		"  -h, --help             show this help and exit\n"
		"\n"
		"Restore re-creates the snapshot's devices with the backing it recorded (drive\n"
		"images, vsock socket) unless --drive / --vsock are given again: then every\n"
		"drive must be given, in order, with the same size and ro flag, and --vsock\n"
		"with the same CID. vm.reset returns a running VM to the last snapshot it\n"
		"took, or else the one it was restored from.\n"
		"\n"
		"Virtio devices sit on virtio-mmio from 0xd0000000, one page and one GSI\n"
		"(from 5) each, in this order: vsock, rng, then drives as given. For a Linux\n"
		"kernel each is announced with virtio_mmio.device= on its command line.\n"
		"\n"
		"Host workarounds: when the host's KVM is the nested paravirtual kvm_pvm\n"
		"(" MAIN_PVM_SYSFS " exists) and the kernel is Linux, \"" MAIN_PVM_CMDLINE
		" lpj=N\"\n"
		"is appended to the command line, because that KVM cannot run XSAVE,\n"
		"POPCNT, CLAC/STAC in guest kernel code, and calibrating the delay loop is\n"
		"slow there. N is computed from the guest TSC frequency.\n"
		"\n"
		"Exit status:\n"
		"  0        the guest powered off or rebooted (i8042 reset or system event)\n"
		"  1        error (bad input, set-up failure)\n"
		"  2        usage error\n"
		"  3        the guest triple-faulted\n"
		"  4        KVM internal error or failed entry (registers dumped on stderr)\n"
		"  16+N     the guest wrote byte V to the test exit port 0xf4; N = V & 63\n"
		"  130/143  stopped by SIGINT/SIGTERM\n"
		"\n"
		"Environment: AGENTVM_DEBUG=1 logs debug messages (unhandled ports, ...).\n");
}

static int main_parse_mem(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	uint64_t mib;

	if (!*s || *s == '-' || *s == '+')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	if (*end == 'G' || *end == 'g') {
		if (v > MAIN_MEM_MAX_MIB / 1024)
			goto range;
		mib = v * 1024;
		end++;
	} else {
		if (*end == 'M' || *end == 'm')
			end++;
		mib = v;
	}
	if (*end)
		goto bad;
	if (mib == 0 || mib > MAIN_MEM_MAX_MIB)
		goto range;
	*out = mib << 20;
	return 0;
bad:
	log_err("--mem '%s': not a size (try 512, 512M or 2G)", s);
	return -EINVAL;
range:
	log_err("--mem '%s': must be between 1M and %lluG", s,
		(unsigned long long)(MAIN_MEM_MAX_MIB / 1024));
	return -ERANGE;
}

static int main_parse_cpus(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end) {
		log_err("--cpus '%s': not a number", s);
		return -EINVAL;
	}
	if (v < 1 || v > VM_MAX_VCPUS) {
		log_err("--cpus '%s': must be between 1 and %d", s, VM_MAX_VCPUS);
		return -ERANGE;
	}
	*out = (int)v;
	return 0;
}

/* A writable copy of a KEY=VALUE,... option value, freed by main_opts_free(). */
static char *main_spec_copy(struct main_opts *o, const char *arg)
{
	char *s;

	if (o->nspecs == (int)ARRAY_SIZE(o->specs))
		return NULL;
	s = strdup(arg);
	if (s)
		o->specs[o->nspecs++] = s;
	return s;
}

static void main_opts_free(struct main_opts *o)
{
	for (int i = 0; i < o->nspecs; i++)
		free(o->specs[i]);
	o->nspecs = 0;
}

/* Split the next "key[=value]" item off *s (comma-separated). */
static int main_spec_next(char **s, char **key, char **val)
{
	char *item = *s, *comma, *eq;

	if (!item || !*item)
		return 0;
	comma = strchr(item, ',');
	if (comma) {
		*comma = '\0';
		*s = comma + 1;
	} else {
		*s = NULL;
	}
	eq = strchr(item, '=');
	if (eq)
		*eq = '\0';
	*key = item;
	*val = eq ? eq + 1 : NULL;
	return 1;
}

static int main_parse_vsock(struct main_opts *o, const char *arg)
{
	char *s = main_spec_copy(o, arg), *key, *val, *end;
	const char *uds = NULL;
	int have_cid = 0;
	unsigned long long cid = 0;

	if (!s) {
		log_err("--vsock: out of memory");
		return -ENOMEM;
	}
	if (o->vsock) {
		log_err("--vsock given twice: a VM has one vsock device");
		return -EINVAL;
	}
	while (main_spec_next(&s, &key, &val)) {
		if (strcmp(key, "cid") == 0 && val) {
			errno = 0;
			cid = strtoull(val, &end, 10);
			if (errno || end == val || *end || *val == '-' || cid < 3 ||
			    cid > 0xfffffffeull) {
				log_err("--vsock cid '%s': must be a number from 3 to 4294967294",
					val);
				return -EINVAL;
			}
			have_cid = 1;
		} else if (strcmp(key, "uds") == 0 && val) {
			uds = val;
		} else {
			log_err("--vsock '%s': unknown or incomplete item '%s' (expected "
				"cid=N,uds=PATH)",
				arg, key);
			return -EINVAL;
		}
	}
	if (!have_cid || !uds || !*uds) {
		log_err("--vsock '%s': needs both cid=N and uds=PATH", arg);
		return -EINVAL;
	}
	if (strlen(uds) >= 108 - 12) { /* sun_path, with room for "_<port>" */
		log_err("--vsock uds '%s': path too long for a Unix socket", uds);
		return -ENAMETOOLONG;
	}
	o->vsock = 1;
	o->vsock_cid = cid;
	o->vsock_uds = uds;
	return 0;
}

static int main_parse_drive(struct main_opts *o, const char *arg)
{
	char *s = main_spec_copy(o, arg), *key, *val;
	struct main_drive d = { 0 };

	if (!s) {
		log_err(o->nspecs == (int)ARRAY_SIZE(o->specs) ? "--drive: at most %d drives"
							       : "--drive: out of memory",
			MAIN_MAX_DRIVES);
		return -EINVAL;
	}
	if (o->ndrives == MAIN_MAX_DRIVES) {
		log_err("--drive: at most %d drives", MAIN_MAX_DRIVES);
		return -EINVAL;
	}
	while (main_spec_next(&s, &key, &val)) {
		if (strcmp(key, "path") == 0 && val && *val) {
			d.path = val;
		} else if (strcmp(key, "ro") == 0 && !val) {
			d.readonly = 1;
		} else if (strcmp(key, "id") == 0 && val) {
			if (strlen(val) > BLK_ID_BYTES) {
				log_err("--drive id '%s': at most %d bytes", val, BLK_ID_BYTES);
				return -EINVAL;
			}
			d.id = val;
		} else {
			log_err("--drive '%s': unknown or incomplete item '%s' (expected "
				"path=FILE[,ro][,id=ID])",
				arg, key);
			return -EINVAL;
		}
	}
	if (!d.path) {
		log_err("--drive '%s': needs path=FILE", arg);
		return -EINVAL;
	}
	o->drives[o->ndrives++] = d;
	return 0;
}

/* Returns 0, or the exit code to leave with. */
static int main_parse(int argc, char **argv, struct main_opts *o)
{
	enum {
		OPT_KERNEL = 256,
		OPT_INITRD,
		OPT_CMDLINE,
		OPT_MEM,
		OPT_CPUS,
		OPT_SERIAL,
		OPT_NAME,
		OPT_NO_WORKAROUNDS,
		OPT_VSOCK,
		OPT_RNG,
		OPT_DRIVE,
		OPT_API,
		OPT_RESTORE,
		OPT_RESTORE_MEMORY,
		OPT_PAUSED,
		OPT_SECCOMP,
		OPT_TEST_FORBIDDEN_SYSCALL,
	};
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "cmdline", required_argument, NULL, OPT_CMDLINE },
		{ "mem", required_argument, NULL, OPT_MEM },
		{ "cpus", required_argument, NULL, OPT_CPUS },
		{ "serial", required_argument, NULL, OPT_SERIAL },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "no-host-workarounds", no_argument, NULL, OPT_NO_WORKAROUNDS },
		{ "vsock", required_argument, NULL, OPT_VSOCK },
		{ "rng", no_argument, NULL, OPT_RNG },
		{ "drive", required_argument, NULL, OPT_DRIVE },
		{ "api", required_argument, NULL, OPT_API },
		{ "restore", required_argument, NULL, OPT_RESTORE },
		{ "restore-memory", required_argument, NULL, OPT_RESTORE_MEMORY },
		{ "paused", no_argument, NULL, OPT_PAUSED },
		{ "seccomp", required_argument, NULL, OPT_SECCOMP },
		{ "test-forbidden-syscall", no_argument, NULL, OPT_TEST_FORBIDDEN_SYSCALL },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct main_opts){ .mem_size = MAIN_MEM_DEFAULT, .ncpus = 1, .serial = "stdout" };
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_INITRD:
			o->initrd = optarg;
			break;
		case OPT_CMDLINE:
			o->cmdline = optarg;
			break;
		case OPT_MEM:
			if (main_parse_mem(optarg, &o->mem_size) < 0)
				return 1;
			o->mem_given = 1;
			break;
		case OPT_CPUS:
			if (main_parse_cpus(optarg, &o->ncpus) < 0)
				return 1;
			o->cpus_given = 1;
			break;
		case OPT_API:
			o->api = optarg;
			break;
		case OPT_RESTORE:
			o->restore = optarg;
			break;
		case OPT_RESTORE_MEMORY:
			o->restore_memory = optarg;
			break;
		case OPT_PAUSED:
			o->paused = 1;
			break;
		case OPT_SERIAL:
			o->serial = optarg;
			break;
		case OPT_NAME:
			o->name = optarg;
			log_init(PROG, o->name);
			break;
		case OPT_NO_WORKAROUNDS:
			o->no_workarounds = 1;
			break;
		case OPT_VSOCK:
			if (main_parse_vsock(o, optarg) < 0)
				return 1;
			break;
		case OPT_RNG:
			o->rng = 1;
			break;
		case OPT_DRIVE:
			if (main_parse_drive(o, optarg) < 0)
				return 1;
			break;
		case OPT_SECCOMP:
			if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
				log_err("--seccomp '%s': expected on or off", optarg);
				return 2;
			}
			o->seccomp_off = strcmp(optarg, "off") == 0;
			break;
		case OPT_TEST_FORBIDDEN_SYSCALL:
			o->test_forbidden_syscall = 1;
			break;
		case 'h':
			main_usage(stdout);
			exit(0);
		case ':':
			log_err("option '%s' needs a value (see --help)", argv[optind - 1]);
			return 2;
		default:
			log_err("unknown option '%s' (see --help)", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		log_err("unexpected argument '%s' (see --help)", argv[optind]);
		return 2;
	}
	if (o->restore && (o->kernel || o->initrd || o->cmdline)) {
		log_err("--restore takes the guest from the snapshot: --kernel, --initrd and "
			"--cmdline do not apply (see --help)");
		return 2;
	}
	if (o->restore_memory && !o->restore) {
		log_err("--restore-memory needs --restore STATE (see --help)");
		return 2;
	}
	if (!o->kernel && !o->restore) {
		log_err("--kernel PATH is required (see --help)");
		return 2;
	}
	if (strcmp(o->serial, "stdout") != 0 && strcmp(o->serial, "none") != 0 &&
	    (strncmp(o->serial, "file:", 5) != 0 || !o->serial[5])) {
		log_err("--serial '%s': expected stdout, none or file:PATH", o->serial);
		return 1;
	}
	return 0;
}

/* Map path read-only; one clear error on failure. */
static int main_map_file(const char *what, const char *path, struct main_file *out)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	void *p;

	if (fd < 0) {
		log_err("%s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		log_err("%s '%s': %s", what, path, strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		log_err("%s '%s': not a regular file", what, path);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		log_err("%s '%s': file is empty", what, path);
		return -EINVAL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED) {
		log_err("%s '%s': cannot map it: %s", what, path, strerror(errno));
		return -errno;
	}
	out->data = p;
	out->size = (size_t)st.st_size;
	return 0;
}

static void main_unmap_file(struct main_file *f)
{
	if (f->data)
		munmap((void *)f->data, f->size);
}

/* Open the COM1 output; -1 for none, STDOUT_FILENO for stdout. */
static int main_open_serial(const char *spec, int *out_fd)
{
	if (strcmp(spec, "none") == 0) {
		*out_fd = -1;
	} else if (strcmp(spec, "stdout") == 0) {
		*out_fd = STDOUT_FILENO;
	} else {
		const char *path = spec + 5;
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			log_err("--serial file '%s': %s", path, strerror(errno));
			return -errno;
		}
		*out_fd = fd;
	}
	return 0;
}

/* stdin feeds COM1 when the console is stdout and stdin is something to read
 * from: not /dev/null or a regular file (the loop rejects those), and not a
 * terminal we do not own (reading it would stop us with SIGTTIN). */
static int main_serial_input(const char *spec)
{
	if (strcmp(spec, "stdout") != 0)
		return -1;
	if (isatty(STDIN_FILENO) && tcgetpgrp(STDIN_FILENO) != getpgrp())
		return -1;
	return STDIN_FILENO;
}

static int main_is_linux(enum boot_kind kind)
{
	return kind == BOOT_KIND_ELF_PVH || kind == BOOT_KIND_BZIMAGE;
}

/* The command line with the kvm_pvm workarounds appended (free() it), or
 * NULL when none apply. */
static char *main_host_workarounds(struct vm *vm, const char *cmdline)
{
	uint32_t khz = 0;
	char *out = NULL;
	char extra[128];
	int r;

	if (access(MAIN_PVM_SYSFS, F_OK) != 0)
		return NULL;
	r = vm_get_tsc_khz(vm, &khz);
	if (r == 0 && khz > 0)
		snprintf(extra, sizeof(extra), "%s lpj=%llu", MAIN_PVM_CMDLINE,
			 (unsigned long long)khz * 1000 / MAIN_GUEST_HZ);
	else
		snprintf(extra, sizeof(extra), "%s", MAIN_PVM_CMDLINE);
	if (asprintf(&out, "%s%s%s", cmdline, *cmdline ? " " : "", extra) < 0)
		return NULL;
	log_info("host KVM is kvm_pvm (nested, paravirtual): appending \"%s\" to the kernel "
		 "command line, since it cannot run XSAVE, POPCNT or CLAC/STAC in guest kernel "
		 "code and delay calibration is slow there (--no-host-workarounds turns this off)",
		 extra);
	return out;
}

/* The virtio devices, in slot order: vsock, rng, drives. */
static int main_add_devices(struct vm *vm, const struct main_opts *o)
{
	char err[256] = "";
	int r = 0;

	if (o->vsock)
		r = vm_add_vsock(vm, o->vsock_cid, o->vsock_uds, err, sizeof(err));
	if (r == 0 && o->rng)
		r = vm_add_rng(vm, err, sizeof(err));
	for (int i = 0; r == 0 && i < o->ndrives; i++)
		r = vm_add_blk(vm, o->drives[i].path, o->drives[i].readonly, o->drives[i].id, err,
			       sizeof(err));
	if (r < 0 && *err)
		log_err("%s", err);
	return r;
}

static const struct snapshot_device *main_find_kind(const struct snapshot_state *st,
						    enum snapshot_device_kind kind)
{
	for (int i = 0; i < st->ndevices; i++)
		if (st->devices[i].kind == kind)
			return &st->devices[i];
	return NULL;
}

/* The snapshot's virtio devices, in its slot order, backed by what the
 * command line gives again or else by what the snapshot recorded. */
static int main_add_restored_devices(struct vm *vm, const struct main_opts *o,
				     const struct snapshot_state *st)
{
	const struct snapshot_device *vs = main_find_kind(st, SNAPSHOT_DEV_VSOCK);
	char err[256] = "";
	int nblk = 0, k = 0, r = 0;

	for (int i = 0; i < st->ndevices; i++)
		nblk += st->devices[i].kind == SNAPSHOT_DEV_BLK;
	if (o->ndrives && o->ndrives != nblk) {
		log_err("--drive given %d times, the snapshot has %d drive(s): give all or none",
			o->ndrives, nblk);
		return -EINVAL;
	}
	if (o->vsock && (!vs || vs->cid != o->vsock_cid)) {
		log_err(vs ? "--vsock cid=%llu: the snapshot's guest has CID %llu"
			   : "--vsock: the snapshot has no vsock device",
			(unsigned long long)o->vsock_cid, vs ? (unsigned long long)vs->cid : 0ull);
		return -EINVAL;
	}
	if (o->rng && !main_find_kind(st, SNAPSHOT_DEV_RNG)) {
		log_err("--rng: the snapshot has no rng device");
		return -EINVAL;
	}
	for (int i = 0; r == 0 && i < st->ndevices; i++) {
		const struct snapshot_device *d = &st->devices[i];
		switch (d->kind) {
		case SNAPSHOT_DEV_SERIAL:
			break;
		case SNAPSHOT_DEV_VSOCK:
			r = vm_add_vsock(vm, d->cid, o->vsock ? o->vsock_uds : d->path, err,
					 sizeof(err));
			break;
		case SNAPSHOT_DEV_RNG:
			r = vm_add_rng(vm, err, sizeof(err));
			break;
		case SNAPSHOT_DEV_BLK:
			if (o->ndrives && o->drives[k].readonly != d->readonly) {
				log_err("--drive %s: the snapshot's drive %d was %s",
					o->drives[k].path, k,
					d->readonly ? "read-only (add ,ro)" : "writable");
				return -EINVAL;
			}
			r = vm_add_blk(vm, o->ndrives ? o->drives[k].path : d->path, d->readonly,
				       o->ndrives ? o->drives[k].id : (d->id[0] ? d->id : NULL),
				       err, sizeof(err));
			k++;
			break;
		}
	}
	if (r < 0 && *err)
		log_err("%s", err);
	return r;
}

/* Load the snapshot, check it against the options, and open its memory. */
static int main_restore_open(const struct main_opts *o, struct snapshot_state **out, int *mem_fd,
			     const char **mem_path)
{
	struct snapshot_state *st = NULL;
	char err[512];
	int r;

	r = snapshot_load(o->restore, &st, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return r;
	}
	if (o->cpus_given && (uint32_t)o->ncpus != st->ncpus) {
		log_err("--cpus %d: the snapshot '%s' is of a VM with %u vCPUs", o->ncpus,
			o->restore, st->ncpus);
		goto fail;
	}
	if (o->mem_given && o->mem_size != st->mem_size) {
		log_err("--mem %lluM: the snapshot '%s' is of a VM with %lluM",
			(unsigned long long)(o->mem_size >> 20), o->restore,
			(unsigned long long)(st->mem_size >> 20));
		goto fail;
	}
	*mem_path = o->restore_memory ? o->restore_memory : st->memory_file;
	r = snapshot_memory_open(*mem_path, st->mem_size, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		goto fail;
	}
	*mem_fd = r;
	*out = st;
	return 0;
fail:
	snapshot_state_free(st);
	return -EINVAL;
}

static void main_on_signal(void *opaque, int fd, uint32_t events)
{
	struct vm *vm = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	log_info("stopping the VM on %s", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
	vm_end(vm, 128 + (int)si.ssi_signo);
}

/* Load the kernel (twice for Linux on kvm_pvm, to learn its kind first). */
static int main_load(struct vm *vm, const struct main_opts *o, const struct main_file *kernel,
		     const struct main_file *initrd, struct boot_entry *entry)
{
	_cleanup_free_ char *amended = NULL, *with_devices = NULL;
	struct boot_config cfg = {
		.kernel = kernel->data,
		.kernel_size = kernel->size,
		.initrd = initrd->data,
		.initrd_size = initrd->size,
		.cmdline = o->cmdline ? o->cmdline : MAIN_CMDLINE_DEFAULT,
		.ncpus = o->ncpus,
	};
	char err[256] = "";
	int r;

	/* A first load tells what the kernel is. Linux learns of virtio-mmio
	 * devices from its command line only, and may need the host
	 * workarounds there too: then it is loaded again with both. */
	r = boot_load(vm->mem, &cfg, entry, err, sizeof(err));
	if (r == 0 && main_is_linux(entry->kind)) {
		const char *line = cfg.cmdline;
		if (vm->nvirtio > 0) {
			r = vm_virtio_cmdline(vm, line, &with_devices);
			if (r == 0)
				line = with_devices;
		}
		if (r == 0 && !o->no_workarounds) {
			amended = main_host_workarounds(vm, line);
			if (amended)
				line = amended;
		}
		if (r == 0 && line != cfg.cmdline) {
			cfg.cmdline = line;
			r = boot_load(vm->mem, &cfg, entry, err, sizeof(err));
		}
	}
	if (r < 0) {
		log_err("%s", *err ? err : strerror(-r));
		return r;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct main_opts o;
	struct main_file kernel = { 0 }, initrd = { 0 };
	struct vm *vm = NULL;
	struct snapshot *snap = NULL;
	struct snapshot_state *st = NULL;
	struct kvm_cpuid2 **cpuids = NULL;
	uint32_t ncpuids = 0;
	struct api_vm actx = { 0 };
	struct boot_entry entry;
	struct vm_config vcfg;
	struct seccomp_options sc;
	_cleanup_close_ int sfd = -1, mem_fd = -1;
	const char *mem_path = NULL;
	int serial_fd = -1;
	int teardown_fd = -1; /* left open: closed by exit, see vm_defer_teardown() */
	int code = 1, r;
	char err[512] = "";
	uint64_t t0 = snapshot_now_us();
	sigset_t sigs;

	log_init(PROG, NULL);
	r = main_parse(argc, argv, &o);
	if (r) {
		main_opts_free(&o);
		return r;
	}
	signal(SIGPIPE, SIG_IGN);
	/* SIGINT and SIGTERM arrive through a signalfd on the event loop; block
	 * them before any thread exists so every thread inherits the mask. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);

	if (o.restore) {
		if (main_restore_open(&o, &st, &mem_fd, &mem_path) < 0)
			goto out;
		ncpuids = st->ncpus;
		log_debug("restore: state read and checked at +%llu us",
			  (unsigned long long)(snapshot_now_us() - t0));
	} else {
		if (main_map_file("kernel", o.kernel, &kernel) < 0)
			goto out;
		if (o.initrd && main_map_file("initrd", o.initrd, &initrd) < 0)
			goto out;
	}
	if (main_open_serial(o.serial, &serial_fd) < 0)
		goto out;

	if (st) {
		cpuids = snapshot_kvm_cpuids_new(st);
		if (!cpuids) {
			log_err("out of memory");
			goto out;
		}
	}
	vcfg = (struct vm_config){
		.cpuids = (const struct kvm_cpuid2 *const *)cpuids,
		.mem_size = st ? st->mem_size : o.mem_size,
		.ncpus = st ? (int)st->ncpus : o.ncpus,
		.has_mem_file = st != NULL,
		.mem_file_fd = mem_fd,
		.serial_out_fd = serial_fd,
		.serial_in_fd = main_serial_input(o.serial),
	};
	r = vm_new(&vcfg, &vm, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		goto out;
	}
	if (snapshot_new(vm, &snap) < 0) {
		log_err("out of memory");
		goto out;
	}
	if (st) {
		log_debug("restore: VM created at +%llu us",
			  (unsigned long long)(snapshot_now_us() - t0));
		if (main_add_restored_devices(vm, &o, st) < 0)
			goto out;
		r = snapshot_apply(snap, st, err, sizeof(err));
		if (r < 0) {
			log_err("cannot restore '%s': %s", o.restore, err);
			goto out;
		}
		snapshot_set_target(snap, st, take_fd(&mem_fd), o.restore, mem_path);
		st = NULL; /* the reset target now */
		snapshot_note_restored(snap, snapshot_now_us() - t0);
		log_debug("restore: state applied at +%llu us",
			  (unsigned long long)(snapshot_now_us() - t0));
	} else {
		if (main_add_devices(vm, &o) < 0)
			goto out;
		if (main_load(vm, &o, &kernel, &initrd, &entry) < 0)
			goto out;
		if (vm_set_entry(vm, &entry) < 0)
			goto out;
	}
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0 || loop_add(vm->loop, sfd, EPOLLIN, main_on_signal, vm) < 0) {
		log_err("cannot watch for signals");
		goto out;
	}
	if (o.api) {
		actx = (struct api_vm){ .vm = vm, .snap = snap, .name = o.name };
		if (api_vm_start(&actx, o.api) < 0)
			goto out;
	}
	/* seccomp: the loop thread's allowlist, before any vCPU starts (vmm/seccomp.h). */
	sc = (struct seccomp_options){ .enabled = !o.seccomp_off,
				       .test_forbidden_syscall = o.test_forbidden_syscall };
	if (seccomp_prepare(&sc) < 0 || seccomp_install_loop() < 0)
		goto out;
	code = vm_run(vm, o.paused);
	if (vm_defer_teardown(vm, &teardown_fd) < 0)
		log_debug("VM teardown stays in this process");
out:
	api_server_free(actx.api);
	vm_free(vm);
	snapshot_free(snap);
	snapshot_state_free(st);
	snapshot_kvm_cpuids_free(cpuids, ncpuids);
	if (serial_fd > STDERR_FILENO)
		close(serial_fd);
	main_unmap_file(&initrd);
	main_unmap_file(&kernel);
	main_opts_free(&o);
	return code;
}
