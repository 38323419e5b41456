#!/usr/bin/env bash
# hello: one line on COM1, then test-exit code 0 (status 16).
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"

run_guest hello --mem 128M
is "$STATUS" 16 "hello exits with status 16 (test-exit v=0)" || show_run
has_line "$SERIAL" "hello from a synthetic guest" "hello prints its line on COM1"
is "$(grep -c . <<<"$SERIAL")" 1 "nothing else on COM1"

run_guest hello --cpus 3 --mem 64M
is "$STATUS" 16 "with 3 vCPUs (APs park at CPL0), status 16" || show_run
is "$(grep -c 'hello from' <<<"$SERIAL")" 1 "the line is printed once"

run_guest hello --serial none
is "$STATUS" 16 "--serial none: status 16" || show_run
is "$SERIAL" "" "--serial none: nothing on stdout"

serial_file=$TEST_TMP/com1.log
run_guest hello --serial "file:$serial_file"
is "$STATUS" 16 "--serial file: status 16" || show_run
like "$(cat "$serial_file" 2>/dev/null)" "hello from a synthetic guest" "--serial file: the line lands in the file"

done_testing
