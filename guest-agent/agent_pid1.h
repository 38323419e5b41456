/* What PID 1 must do that no one else will: mount the API file systems, bring
 * up loopback, name the host, and power the machine off. */
#ifndef AGENTVM_GUEST_AGENT_PID1_H
#define AGENTVM_GUEST_AGENT_PID1_H

/* Mount /proc, /sys, /dev (devtmpfs, else a tmpfs with the basic nodes),
 * /dev/pts, /dev/shm and, unless in a container, /tmp and /run. Anything
 * already mounted is left alone; failures are logged at debug level. */
void agent_pid1_mount_all(int container);

/* Bring the loopback interface up. Returns 0 or -errno. */
int agent_pid1_loopback_up(void);

/* Set the host name. Returns 0 or -errno. */
int agent_pid1_set_hostname(const char *name);

/* Make sure fds 0, 1 and 2 are open (on the console or /dev/null). */
void agent_pid1_stdio(void);

/* Sync and reboot (the VMM treats a reset as power-off). Never returns. */
void agent_pid1_poweroff(void) __attribute__((noreturn));

#endif
