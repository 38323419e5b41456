#!/usr/bin/env bash
# Runs every libFuzzer target in $BUILD_DIR/fuzz for FUZZ_SECONDS each (default
# 10), starting from its seed corpus in tests/fuzz/corpus/<target>/ if any.
# A target passes when it ran without a crash, a leak or a timeout.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$top/build}
secs=${FUZZ_SECONDS:-10}
mapfile -t targets < <(find "$build/fuzz" -maxdepth 1 -type f -executable 2>/dev/null | sort)
if [ ${#targets[@]} -eq 0 ]; then
	echo "1..0 # SKIP no fuzz targets built (make test builds them)"
	exit 0
fi
echo "1..${#targets[@]}"
n=0
for t in "${targets[@]}"; do
	n=$((n + 1))
	name=$(basename "$t")
	work=$(mktemp -d /tmp/agentvm-fuzz-$name.XXXXXX)
	mkdir -p "$work/corpus"
	[ -d "$top/tests/fuzz/corpus/$name" ] && cp -r "$top/tests/fuzz/corpus/$name/." "$work/corpus/"
	(cd "$work" && "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 corpus >"$work/log" 2>&1)
	rc=$?
	runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/log" | grep -o '[0-9]*$')
	if [ $rc -eq 0 ]; then
		echo "ok $n - $name: ${runs:-?} inputs in ${secs}s, no crash"
	else
		echo "not ok $n - $name: exit $rc after ${runs:-?} inputs"
		grep -E 'ERROR|SUMMARY|==[0-9]+==|Test unit written' "$work/log" | head -n 20 | sed 's/^/# /'
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* 2>/dev/null | sed 's/^/# artefact: /'
		continue
	fi
	rm -rf "$work"
done
