# shellcheck shell=bash
# TAP for shell tests (sourced): ok, is, like, diag and done_testing, which
# prints the plan and exits non-zero if a check failed.

tap_n=0
tap_failed=0

ok() { # ok STATUS DESCRIPTION: STATUS 0 passes
	tap_n=$((tap_n + 1))
	if [[ $1 == 0 ]]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

is() { # is GOT WANT DESCRIPTION
	[[ $1 == "$2" ]]
	ok $? "$3"
	[[ $1 == "$2" ]] || echo "#   got '$1', want '$2'"
}

like() { # like TEXT REGEX DESCRIPTION
	[[ $1 =~ $2 ]]
	ok $? "$3"
	[[ $1 =~ $2 ]] || echo "#   '$1' does not match /$2/"
}

diag() {
	local line
	while IFS= read -r line; do
		echo "#   $line"
	done <<<"$1"
}

done_testing() {
	echo "1..$tap_n"
	[[ $tap_failed == 0 ]]
	exit $?
}
