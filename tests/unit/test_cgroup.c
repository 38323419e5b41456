/* cgroup path logic: /proc/self/cgroup and /proc/self/mountinfo parsing for
 * v1, v2 and hybrid hosts, and the directory join. */
#include "host/cgroup.h"
#include "tests/unit/tap.h"

#include <errno.h>
#include <string.h>

static const char self_v1[] = "9:name=systemd:/\n"
			      "8:pids:/\n"
			      "4:memory:/process_api/1078\n"
			      "2:cpuacct:/\n"
			      "1:cpu:/a b/c\n"
			      "0::/\n";

static const char self_comounted[] = "5:cpu,cpuacct:/user.slice\n"
				     "3:memory,pids:/user.slice/x\n";

static const char self_v2[] = "0::/user.slice/user-1000.slice/session-2.scope\n";

static const char mi_hybrid[] =
	"25 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
	"30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755\n"
	"31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu\n"
	"32 30 0:28 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
	"33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	"34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
	"35 30 0:31 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
	"36 30 0:32 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

static const char mi_v2[] =
	"22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
	"29 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec shared:4 - cgroup2 cgroup2 "
	"rw,nsdelegate,memory_recursiveprot\n";

static const char mi_escaped[] =
	"40 1 0:40 /outer /my\\040cgroups rw - cgroup cgroup rw,memory,pids\n";

int main(void)
{
	char path[256], mnt[256], root[256], dir[512];

	/* /proc/self/cgroup */
	is(cgroup_parse_self(self_v1, "memory", path, sizeof(path)), 0, "v1 memory found");
	ok(strcmp(path, "/process_api/1078") == 0, "v1 memory path is %s", path);
	is(cgroup_parse_self(self_v1, "cpu", path, sizeof(path)), 0, "v1 cpu found");
	ok(strcmp(path, "/a b/c") == 0, "v1 path keeps spaces: %s", path);
	is(cgroup_parse_self(self_v1, "pids", path, sizeof(path)), 0, "v1 pids found");
	ok(strcmp(path, "/") == 0, "v1 pids at root");
	is(cgroup_parse_self(self_v1, "cpuset", path, sizeof(path)), -ENOENT, "absent controller");
	is(cgroup_parse_self(self_v1, "systemd", path, sizeof(path)), -ENOENT,
	   "name=systemd is not a controller called systemd");
	is(cgroup_parse_self(self_v1, NULL, path, sizeof(path)), 0, "v2 line in a hybrid");
	ok(strcmp(path, "/") == 0, "v2 path in hybrid is /");
	is(cgroup_parse_self(self_comounted, "pids", path, sizeof(path)), 0, "co-mounted pids");
	ok(strcmp(path, "/user.slice/x") == 0, "co-mounted path");
	is(cgroup_parse_self(self_comounted, "cpuacct", path, sizeof(path)), 0,
	   "co-mounted cpuacct");
	is(cgroup_parse_self(self_comounted, NULL, path, sizeof(path)), -ENOENT, "no v2 line");
	is(cgroup_parse_self(self_v2, NULL, path, sizeof(path)), 0, "pure v2");
	ok(strcmp(path, "/user.slice/user-1000.slice/session-2.scope") == 0, "pure v2 path");
	is(cgroup_parse_self(self_v2, "memory", path, sizeof(path)), -ENOENT, "no v1 on pure v2");
	is(cgroup_parse_self("garbage\n", "memory", path, sizeof(path)), -EINVAL, "malformed line");
	is(cgroup_parse_self("1:memory:relative\n", "memory", path, sizeof(path)), -EINVAL,
	   "relative path rejected");
	is(cgroup_parse_self("", "memory", path, sizeof(path)), -ENOENT, "empty file");
	is(cgroup_parse_self(self_v1, "memory", path, 4), -ENAMETOOLONG, "path does not fit");
	is(cgroup_parse_self("4:memory:/x", "memory", path, sizeof(path)), 0, "no final newline");

	/* /proc/self/mountinfo */
	is(cgroup_parse_mountinfo(mi_hybrid, "memory", mnt, sizeof(mnt), root, sizeof(root)), 0,
	   "hybrid memory mount");
	ok(strcmp(mnt, "/sys/fs/cgroup/memory") == 0 && strcmp(root, "/") == 0, "at %s root %s",
	   mnt, root);
	is(cgroup_parse_mountinfo(mi_hybrid, "cpu", mnt, sizeof(mnt), root, sizeof(root)), 0,
	   "hybrid cpu mount (not cpuacct)");
	ok(strcmp(mnt, "/sys/fs/cgroup/cpu") == 0, "cpu at %s", mnt);
	is(cgroup_parse_mountinfo(mi_hybrid, NULL, mnt, sizeof(mnt), root, sizeof(root)), 0,
	   "hybrid v2 mount");
	ok(strcmp(mnt, "/sys/fs/cgroup/unified") == 0, "v2 at %s", mnt);
	is(cgroup_parse_mountinfo(mi_hybrid, "cpuset", mnt, sizeof(mnt), root, sizeof(root)),
	   -ENOENT, "cpuset not mounted");
	is(cgroup_parse_mountinfo(mi_v2, "memory", mnt, sizeof(mnt), root, sizeof(root)), -ENOENT,
	   "no v1 memory on pure v2");
	is(cgroup_parse_mountinfo(mi_v2, NULL, mnt, sizeof(mnt), root, sizeof(root)), 0,
	   "pure v2 mount");
	ok(strcmp(mnt, "/sys/fs/cgroup") == 0, "pure v2 at %s", mnt);
	is(cgroup_parse_mountinfo(mi_escaped, "pids", mnt, sizeof(mnt), root, sizeof(root)), 0,
	   "escaped mount point");
	ok(strcmp(mnt, "/my cgroups") == 0 && strcmp(root, "/outer") == 0, "decoded %s", mnt);
	is(cgroup_parse_mountinfo("1 2 3\n- cgroup\n\n", "pids", mnt, sizeof(mnt), root,
				  sizeof(root)),
	   -ENOENT, "short lines are skipped");

	/* joining */
	is(cgroup_join_dir("/sys/fs/cgroup/memory", "/", "/process_api/1078", dir, sizeof(dir)), 0,
	   "join below /");
	ok(strcmp(dir, "/sys/fs/cgroup/memory/process_api/1078") == 0, "%s", dir);
	is(cgroup_join_dir("/sys/fs/cgroup", "/", "/", dir, sizeof(dir)), 0, "join root");
	ok(strcmp(dir, "/sys/fs/cgroup") == 0, "root is the mount point: %s", dir);
	is(cgroup_join_dir("/m", "/outer", "/outer/in", dir, sizeof(dir)), 0, "join below a root");
	ok(strcmp(dir, "/m/in") == 0, "%s", dir);
	is(cgroup_join_dir("/m", "/outer", "/outer", dir, sizeof(dir)), 0, "self equals root");
	ok(strcmp(dir, "/m") == 0, "%s", dir);
	is(cgroup_join_dir("/m", "/outer", "/outerx/in", dir, sizeof(dir)), -EINVAL,
	   "prefix must end at a slash");
	is(cgroup_join_dir("/m", "/outer", "/other", dir, sizeof(dir)), -EINVAL, "outside root");
	is(cgroup_join_dir("/m", "/", "/a/../../etc", dir, sizeof(dir)), -EINVAL,
	   "dot-dot refused");
	is(cgroup_join_dir("/m", "/", "/a/..b", dir, sizeof(dir)), 0, "..b is a name");
	is(cgroup_join_dir("/m", "/", "/abcdefgh", dir, 6), -ENAMETOOLONG, "too long");

	/* lists */
	ok(cgroup_list_has("rw,cpu,cpuacct", "cpu"), "cpu in list");
	ok(!cgroup_list_has("rw,cpuacct", "cpu"), "cpu is not cpuacct");
	ok(cgroup_list_has("memory", "memory"), "single item");
	ok(!cgroup_list_has("", "memory"), "empty list");
	ok(!cgroup_list_has("a,,b", ""), "empty name");

	is(strcmp(cgroup_ctrl_name(CGROUP_PIDS), "pids"), 0, "controller names");
	return done_testing();
}
