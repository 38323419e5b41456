# shellcheck shell=bash
# Sourced by tests/e2e/libvirt_*.t and daemon_libvirt.t: start virtlogd and
# libvirtd unless they already run, and record the pids this test started in
# the array `started`; libvirt_stop_daemons (in the caller's clean-up) stops
# them. Needs `skip` and `work` (a private directory) set.
#
# libvirt_test_require and libvirt_test_begin do what every such test does
# first; libvirt_test_end, run on exit, destroys the test's domains (those
# libvirt_test_domains prints: by default the running ones whose name starts
# with the prefix given to libvirt_test_begin), stops the daemons and removes
# `work`.
#
# Tests running at once (two people's `make test-e2e`) take turns: each
# holds an exclusive lock on LIBVIRT_TEST_LOCK from the start of the daemons
# to their stop, so none stops them under another's feet. (Two tests that
# shared them once saw libvirt kill a TCG domain's QEMU in mid-restore.)
#
LIBVIRT_TEST_LOCK=${LIBVIRT_TEST_LOCK:-/run/agentvm-libvirt-tests.lock}
libvirt_lock_fd=

libvirt_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Skip unless root, libvirtd and QEMU are there.
libvirt_test_require() {
	[ "$(id -u)" -eq 0 ] || skip "needs root (libvirtd qemu:///system)"
	command -v libvirtd >/dev/null || skip "libvirtd not installed (libvirt-daemon-system)"
	command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
}

# libvirt_test_begin PREFIX TAG: `work` (/var/tmp/agentvm-TAG.*), the
# clean-up on exit for domains named PREFIX*, and the daemons.
libvirt_test_begin() {
	libvirt_test_prefix=$1
	work=$(mktemp -d "/var/tmp/agentvm-$2.XXXXXX")
	chmod 755 "$work"
	started=()
	trap libvirt_test_end EXIT
	libvirt_start_daemons
}

libvirt_test_domains() {
	virsh -c qemu:///system list --name 2>/dev/null | grep "^$libvirt_test_prefix"
}

libvirt_test_end() {
	if command -v virsh >/dev/null; then
		for d in $(libvirt_test_domains); do
			virsh -c qemu:///system destroy "$d" >/dev/null 2>&1
		done
	fi
	libvirt_stop_daemons
	rm -rf "$work"
}

# Run a command without the lock's fd: a daemon that kept it would hold the
# lock for as long as it runs.
libvirt_nolock() {
	if [ -n "$libvirt_lock_fd" ]; then
		"$@" {libvirt_lock_fd}>&-
	else
		"$@"
	fi
}

libvirt_start_daemons() {
	if command -v flock >/dev/null && exec {libvirt_lock_fd}>>"$LIBVIRT_TEST_LOCK"; then
		flock -x -w 900 "$libvirt_lock_fd" ||
			skip "another libvirt test held $LIBVIRT_TEST_LOCK for 15 min"
	fi
	libvirt_start_locked
}

# Stop the daemons this test started and let the next test have its turn.
libvirt_stop_daemons() {
	for p in "${started[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${started[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	done
	started=()
	if [ -n "$libvirt_lock_fd" ]; then
		flock -u "$libvirt_lock_fd"
		exec {libvirt_lock_fd}>&-
		libvirt_lock_fd=
	fi
}

libvirt_start_locked() {
	if ! libvirt_alive /run/virtlogd.pid; then
		libvirt_nolock virtlogd -d || skip "virtlogd cannot start"
		for _ in $(seq 50); do libvirt_alive /run/virtlogd.pid && break; sleep 0.1; done
		libvirt_alive /run/virtlogd.pid && started+=("$(cat /run/virtlogd.pid)")
	fi
	if ! libvirt_alive /run/libvirtd.pid; then
		local conf=/etc/libvirt/qemu.conf
		if [ -e /dev/kvm ] && [ "$(stat -c %a /dev/kvm)" = 600 ] && [ -f "$conf" ] &&
			command -v unshare >/dev/null; then
			sed -E 's/^#? *user *=.*/user = "root"/; s/^#? *group *=.*/group = "root"/' \
				"$conf" >"$work/qemu.conf"
			libvirt_nolock unshare -m --propagation private sh -c \
				'mount --bind "$1" /etc/libvirt/qemu.conf && exec libvirtd -d' \
				sh "$work/qemu.conf" || libvirt_nolock libvirtd -d ||
				skip "libvirtd cannot start here"
		else
			libvirt_nolock libvirtd -d || skip "libvirtd cannot start here"
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
