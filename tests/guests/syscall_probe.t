#!/usr/bin/env bash
# syscall_probe: the capability probe behind `agentvm doctor`. It must give a
# definite verdict matching the host: on kvm_pvm SYSCALL from CPL3 is not
# delivered (status 18, or 3 if even the fault could not be handled); on a
# hardware-KVM host it reaches CPL0 (status 16).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

run_guest syscall_probe
has_line "$SERIAL" "syscall_probe: SYSCALL from CPL3" "the probe reached CPL3 and ran SYSCALL"
if [[ -e /sys/module/kvm_pvm ]]; then
	echo "# host KVM is kvm_pvm: expecting 'not delivered'"
	[[ $STATUS == 18 || $STATUS == 3 ]]
	ok $? "status 18 or 3: SYSCALL not delivered to guest CPL0" || show_run
	if [[ $STATUS == 18 ]]; then
		has_line "$SERIAL" "syscall_probe: not delivered (fault at CPL3 on the LSTAR address)" \
			"the fault handler saw RIP = LSTAR at CPL3"
	fi
else
	echo "# host KVM is not kvm_pvm: expecting 'delivered'"
	is "$STATUS" 16 "status 16: SYSCALL reached guest CPL0" || show_run
	has_line "$SERIAL" "syscall_probe: delivered (SYSCALL reached CPL0)" "the CPL0 side printed its line"
fi

done_testing
