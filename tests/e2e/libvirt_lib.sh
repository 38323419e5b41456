# Sourced by tests/e2e/libvirt_*.t: start virtlogd and libvirtd unless they
# already run, and record the pids this test started in the array `started`
# (the caller kills them). Needs `skip` and `work` (a private directory) set.
#
# Where /dev/kvm is root's alone (no udev rule giving it to the "kvm" group),
# libvirt finds that its QEMU user (libvirt-qemu) cannot open /dev/kvm, calls
# its cached QEMU capabilities stale and probes QEMU again on every lookup:
# 35-75 s per domain start, save or restore. A libvirtd this test starts then
# runs in a private mount namespace where qemu.conf names root as QEMU's user
# and group; the host's configuration is not touched.

libvirt_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

libvirt_start_daemons() {
	if ! libvirt_alive /run/virtlogd.pid; then
		virtlogd -d || skip "virtlogd cannot start"
		for _ in $(seq 50); do libvirt_alive /run/virtlogd.pid && break; sleep 0.1; done
		libvirt_alive /run/virtlogd.pid && started+=("$(cat /run/virtlogd.pid)")
	fi
	if ! libvirt_alive /run/libvirtd.pid; then
		local conf=/etc/libvirt/qemu.conf
		if [ -e /dev/kvm ] && [ "$(stat -c %a /dev/kvm)" = 600 ] && [ -f "$conf" ] &&
			command -v unshare >/dev/null; then
			sed -E 's/^#? *user *=.*/user = "root"/; s/^#? *group *=.*/group = "root"/' \
				"$conf" >"$work/qemu.conf"
			unshare -m --propagation private sh -c \
				'mount --bind "$1" /etc/libvirt/qemu.conf && exec libvirtd -d' \
				sh "$work/qemu.conf" || libvirtd -d || skip "libvirtd cannot start here"
		else
			libvirtd -d || skip "libvirtd cannot start here"
		fi
		for _ in $(seq 100); do
			[ -S /run/libvirt/libvirt-sock ] && libvirt_alive /run/libvirtd.pid && break
			sleep 0.1
		done
		libvirt_alive /run/libvirtd.pid || skip "libvirtd did not stay up"
		started+=("$(cat /run/libvirtd.pid)")
	fi
	[ -S /run/libvirt/libvirt-sock ] || skip "no libvirtd socket"
}
