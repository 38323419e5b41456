/* The test init for the real-kernel boot test: proves guest user space ran,
 * then resets the VM, which agentvm-vmm treats as power-off (exit 0). */
#include <fcntl.h>
#include <string.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void)
{
	static const char msg[] = "agentvm-test-init: user space is running\n";
	int fd = open("/dev/console", O_WRONLY);

	if (fd < 0)
		fd = 1;
	if (write(fd, msg, strlen(msg)) < 0)
		return 1;
	sync();
	reboot(RB_AUTOBOOT);
	return 1;
}
