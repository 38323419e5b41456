/* host/jail.c: paths allowed inside the jail, the static-binary check, and
 * the refusals that need no root. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/jail.h"
#include "tap.h"

/* A minimal ELF64 file with one program header of type ptype. */
static int elf_file(const char *path, uint32_t ptype, int bad_magic)
{
	struct {
		Elf64_Ehdr eh;
		Elf64_Phdr ph;
	} f = { 0 };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return -1;
	memcpy(f.eh.e_ident, ELFMAG, SELFMAG);
	if (bad_magic)
		f.eh.e_ident[1] = 'X';
	f.eh.e_ident[EI_CLASS] = ELFCLASS64;
	f.eh.e_phoff = sizeof(f.eh);
	f.eh.e_phentsize = sizeof(Elf64_Phdr);
	f.eh.e_phnum = 1;
	f.ph.p_type = ptype;
	if (write(fd, &f, sizeof(f)) != (ssize_t)sizeof(f)) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(void)
{
	char path[] = "/tmp/test_jail_XXXXXX";
	int fd;

	ok(jail_path_ok("/kernel"), "/kernel is a jail path");
	ok(jail_path_ok("/disk/rootfs.img"), "/disk/rootfs.img too");
	ok(jail_path_ok("/a+b_c-d.e"), "plain characters");
	ok(!jail_path_ok(NULL), "NULL is not");
	ok(!jail_path_ok("/"), "/ is not");
	ok(!jail_path_ok("kernel"), "relative paths are not");
	ok(!jail_path_ok("/disk/"), "a trailing slash is not");
	ok(!jail_path_ok("//kernel"), "an empty component is not");
	ok(!jail_path_ok("/disk/../dev/kvm"), ".. is not");
	ok(!jail_path_ok("/./kernel"), ". is not");
	ok(!jail_path_ok("/dev/kvm"), "nothing under /dev");
	ok(!jail_path_ok("/dev"), "nor /dev itself");
	ok(!jail_path_ok("/run/x"), "nothing under /run (the VMM's own directory)");
	ok(!jail_path_ok("/sys/module/kvm_pvm"), "nothing under /sys");
	ok(!jail_path_ok("/proc"), "nor /proc");
	ok(jail_path_ok("/device"), "but /device is fine (a prefix is not a component)");
	ok(!jail_path_ok("/with space"), "no spaces");
	ok(!jail_path_ok("/new\nline"), "no control characters");

	fd = mkstemp(path);
	if (fd < 0)
		return done_testing();
	close(fd);
	fd = elf_file(path, PT_LOAD, 0);
	is(jail_elf_is_static(fd), 1, "an ELF without PT_INTERP is static");
	close(fd);
	fd = elf_file(path, PT_INTERP, 0);
	is(jail_elf_is_static(fd), 0, "an ELF with PT_INTERP is not");
	close(fd);
	fd = elf_file(path, PT_LOAD, 1);
	is(jail_elf_is_static(fd), -ENOEXEC, "a file without the ELF magic is refused");
	close(fd);
	fd = open(path, O_RDWR | O_TRUNC | O_CLOEXEC);
	is(jail_elf_is_static(fd), -ENOEXEC, "an empty file is refused");
	close(fd);
	fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ok(jail_elf_is_static(fd) >= 0, "this test program parses");
	close(fd);
	unlink(path);

	{
		struct jail_config cfg = { .name = "bad name", .stdin_fd = -1 };
		struct jail *j = (struct jail *)1;
		is(jail_spawn_vmm(&cfg, &j), -EINVAL, "a bad name is refused");
		ok(j == NULL, "and *out is NULL");
		cfg.name = "ok";
		cfg.vmm_path = "relative";
		cfg.dir = "/tmp/x";
		is(jail_spawn_vmm(&cfg, &j), -EINVAL, "a relative VMM path is refused");
	}
	{
		struct jail *j = (struct jail *)1;
		pid_t child = fork();

		if (child == 0)
			_exit(0);
		waitpid(child, NULL, 0);
		is(jail_adopt("/tmp/x", "bad name", getpid(), 1, getuid(), &j), -EINVAL,
		   "jail_adopt: a bad name is refused");
		ok(j == NULL, "and *out is NULL");
		is(jail_adopt("relative", "ok", getpid(), 1, getuid(), &j), -EINVAL,
		   "a relative directory is refused");
		is(jail_adopt("/tmp/x", "ok", child, 1, getuid(), &j), -ESRCH,
		   "a VMM that is gone cannot be adopted");
		is(jail_adopt("/tmp/x", "ok", getpid(), 1, getuid(), &j), -ESRCH,
		   "nor a process that started at another time (a reused pid)");
		jail_release(NULL);
		ok(1, "jail_release(NULL) is a no-op");
	}
	jail_free(NULL);
	ok(1, "jail_free(NULL) is a no-op");
	return done_testing();
}
