#!/usr/bin/env bash
# The VMM's exit statuses for the ways a guest can end, and the runtime's
# protection of its CPL0 page.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

run_guest reboot
is "$STATUS" 0 "i8042 reset (0xfe to port 0x64): status 0" || show_run
has_line "$SERIAL" "reboot: pulsing the i8042 reset line" "reboot ran up to the reset"
! grep -q "still running" <<<"$SERIAL"; ok $? "nothing ran after the reset"

run_guest fault
is "$STATUS" 78 "CPL3 write to the CPL0 page: #PF reported, test-exit 62 (status 78)" || show_run
like "$SERIAL" "guest: unexpected exception #PF vector=0xe error=0x7 .* cs=0x23 .* cr2=0x200000 cpu=0x0" \
	"the report names #PF, a user write (error 7) at 0x200000, from CPL3"

run_guest triple_fault
is "$STATUS" 3 "no IDT and #UD at CPL0: triple fault, status 3" || show_run


done_testing
