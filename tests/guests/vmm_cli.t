#!/usr/bin/env bash
# agentvm-vmm's command line and its handling of bad input: --help, usage
# errors (status 2), bad values and bad kernels (status 1 with one clear
# line on stderr, never a crash), and a tiny hand-made ELF guest that prints
# on COM1 and ends through the test exit port.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
vmm=$build/agentvm-vmm
[ -x "$vmm" ] || { echo "Bail out! $vmm is not built (make all)"; exit 1; }

tmp=$(mktemp -d /tmp/agentvm-vmm-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
fail=0

ok() { # ok COND-STATUS DESCRIPTION
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		fail=1
	fi
}

# run ARGS...: runs the VMM; sets rc, out (stdout) and err (stderr).
run() {
	"$vmm" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
	rc=$?
	out=$(cat "$tmp/out")
	err=$(cat "$tmp/err")
}

# expect_error STATUS PATTERN DESCRIPTION ARGS...: the VMM exits with STATUS
# and prints exactly one line on stderr, matching PATTERN.
expect_error() {
	local want=$1 pattern=$2 what=$3
	shift 3
	run "$@"
	local lines
	lines=$(printf '%s' "$err" | grep -c '')
	if [ "$rc" = "$want" ] && [ "$lines" = 1 ] && printf '%s' "$err" | grep -qE -- "$pattern"; then
		ok 0 "$what: status $want, one line: $err"
	else
		ok 1 "$what: want status $want and one line matching /$pattern/"
		echo "#   got status $rc, $lines line(s) on stderr:"
		printf '%s\n' "$err" | sed 's/^/#   /'
	fi
}

# Little-endian fields as printf escapes.
le() { # le BYTES VALUE
	local i v=$2 s=""
	for ((i = 0; i < $1; i++)); do
		s+=$(printf '\\x%02x' $((v & 0xff)))
		v=$((v >> 8))
	done
	printf '%s' "$s"
}

# mkelf FILE MEMSZ CODE-ESCAPES: an ELF64 executable with one PT_LOAD that
# maps the whole file at 1 MiB, memsz MEMSZ, entry at the code after the
# headers (offset 120).
mkelf() {
	local file=$1 memsz=$2 code=$3 base=$((0x100000))
	local codelen
	codelen=$(printf "$code" | wc -c)
	{
		printf '\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00'
		printf "$(le 2 2)$(le 2 0x3e)$(le 4 1)"           # ET_EXEC, x86-64, version
		printf "$(le 8 $((base + 120)))$(le 8 64)$(le 8 0)" # entry, phoff, shoff
		printf "$(le 4 0)$(le 2 64)$(le 2 56)$(le 2 1)"     # flags, ehsize, phentsize, phnum
		printf "$(le 2 64)$(le 2 0)$(le 2 0)"               # shentsize, shnum, shstrndx
		printf "$(le 4 1)$(le 4 5)$(le 8 0)"                # PT_LOAD, R+X, offset 0
		printf "$(le 8 $base)$(le 8 $base)"                 # vaddr, paddr
		printf "$(le 8 $((120 + codelen)))$(le 8 "$memsz")$(le 8 0x1000)"
		printf "$code"
	} >"$file"
}

# --- help and usage errors --------------------------------------------------
run --help
ok $([ "$rc" = 0 ] && echo 0 || echo 1) "--help exits 0"
missing=""
for flag in --kernel --initrd --cmdline --mem --cpus --serial --name --no-host-workarounds \
	--help; do
	printf '%s' "$out" | grep -q -- "$flag" || missing+=" $flag"
done
ok $([ -z "$missing" ] && echo 0 || echo 1) "--help documents every flag${missing:+ (missing:$missing)}"
exits=""
for code in '^ *0 ' '^ *1 ' '^ *2 ' '^ *3 ' '^ *4 ' '16\+N' '130/143'; do
	printf '%s' "$out" | grep -qE -- "$code" || exits+=" $code"
done
ok $([ -z "$exits" ] && echo 0 || echo 1) "--help documents the exit statuses${exits:+ (missing:$exits)}"
run -h
ok $([ "$rc" = 0 ] && [ -n "$out" ] && echo 0 || echo 1) "-h is --help"

expect_error 2 "unknown option '--bogus'" "an unknown flag" --bogus
expect_error 2 "unknown option" "an unknown short flag" -x --kernel /dev/null
expect_error 2 "--kernel PATH is required" "no --kernel"
expect_error 2 "'--kernel' needs a value" "--kernel without its value" --kernel
expect_error 2 "unexpected argument 'extra'" "a stray argument" --kernel /dev/null extra

# --- bad values -----------------------------------------------------------------
expect_error 1 "--mem '0'" "--mem 0" --kernel /dev/null --mem 0
expect_error 1 "--mem 'lots'.*not a size" "--mem garbage" --kernel /dev/null --mem lots
expect_error 1 "--mem '12X'" "--mem with a bad suffix" --kernel /dev/null --mem 12X
expect_error 1 "--mem '-5'" "--mem negative" --kernel /dev/null --mem -5
expect_error 1 "--mem '99999999999G'" "--mem too large" --kernel /dev/null --mem 99999999999G
expect_error 1 "--cpus '0'.*between 1 and 64" "--cpus 0" --kernel /dev/null --cpus 0
expect_error 1 "--cpus '9999'.*between 1 and 64" "--cpus 9999" --kernel /dev/null --cpus 9999
expect_error 1 "--cpus 'two'" "--cpus garbage" --kernel /dev/null --cpus two
expect_error 1 "--serial 'tty'" "--serial with an unknown spec" --kernel /dev/null --serial tty
expect_error 1 "--serial 'file:'" "--serial file: without a path" --kernel /dev/null \
	--serial file:

# --- bad kernels ------------------------------------------------------------------
expect_error 1 "kernel '$tmp/nope'.*No such file" "a missing kernel file" --kernel "$tmp/nope"
expect_error 1 "not a regular file" "a directory as the kernel" --kernel "$tmp"
: >"$tmp/empty"
expect_error 1 "empty" "an empty kernel file" --kernel "$tmp/empty"
if [ "$(id -u)" != 0 ]; then
	printf 'x' >"$tmp/unreadable"
	chmod 000 "$tmp/unreadable"
	expect_error 1 "Permission denied" "an unreadable kernel" --kernel "$tmp/unreadable"
fi
mkelf "$tmp/good.elf" 4096 '\x31\xc0\xe6\xf4\xf4'
expect_error 1 "initrd '$tmp/nope'" "a missing initrd" --kernel "$tmp/good.elf" \
	--initrd "$tmp/nope"
head -c 10 "$tmp/good.elf" >"$tmp/trunc-header.elf"
head -c 90 "$tmp/good.elf" >"$tmp/trunc-phdr.elf"
mkelf "$tmp/huge.elf" $((64 << 20)) '\xf4'
{
	head -c $((0x1fe)) /dev/zero
	printf '\x55\xaaXXHdrX'
	head -c 4096 /dev/zero
} >"$tmp/bad-magic.bzimage"
head -c 4096 /dev/urandom | tr -d '\177' >"$tmp/random.bin"

if [ -e /dev/kvm ]; then
	expect_error 1 "kernel: .*(truncated|ELF)" "an ELF cut inside its header" \
		--kernel "$tmp/trunc-header.elf"
	expect_error 1 "kernel: .*truncated" "an ELF cut inside its program headers" \
		--kernel "$tmp/trunc-phdr.elf"
	expect_error 1 "kernel: .*bad magic" "a bzImage with a bad magic" \
		--kernel "$tmp/bad-magic.bzimage"
	expect_error 1 "kernel: .*bad magic" "random bytes as the kernel" --kernel "$tmp/random.bin"
	expect_error 1 "kernel: .*(16 MiB|guest has)" "a kernel bigger than --mem" \
		--kernel "$tmp/huge.elf" --mem 16
else
	for i in 1 2 3 4 5; do
		n=$((n + 1))
		echo "ok $n # SKIP no /dev/kvm: the kernel is checked after KVM is opened"
	done
fi

# --- a hand-made guest ----------------------------------------------------------
# mov al,'A'; mov dx,0x3f8; out dx,al; mov al,'\n'; out dx,al; mov al,5; out 0xf4,al; hlt
mkelf "$tmp/hello.elf" 4096 '\xb0\x41\x66\xba\xf8\x03\xee\xb0\x0a\xee\xb0\x05\xe6\xf4\xf4'
if [ -e /dev/kvm ]; then
	run --kernel "$tmp/hello.elf"
	ok $([ "$rc" = 21 ] && echo 0 || echo 1) "a guest writing 5 to port 0xf4 makes status 21 (got $rc)"
	ok $([ "$out" = A ] && echo 0 || echo 1) "its COM1 output reaches stdout (got '$out')"
	ok $([ -z "$err" ] && echo 0 || echo 1) "and nothing is logged on stderr${err:+ (got: $err)}"
	run --kernel "$tmp/hello.elf" --serial none
	ok $([ "$rc" = 21 ] && [ -z "$out" ] && echo 0 || echo 1) "--serial none discards COM1"
	run --kernel "$tmp/hello.elf" --serial "file:$tmp/com1.log" --name cli-test --cpus 2 \
		--mem 1G
	ok $([ "$rc" = 21 ] && [ -z "$out" ] && [ "$(head -n 1 "$tmp/com1.log")" = A ] && echo 0 ||
		echo 1) "--serial file:PATH writes COM1 to the file (2 vCPUs, 1G)"
	run --kernel "$tmp/hello.elf" --serial "file:$tmp/no/such/dir/log"
	ok $([ "$rc" = 1 ] && printf '%s' "$err" | grep -q "no/such/dir" && echo 0 || echo 1) \
		"an unwritable --serial file is one clear error"
	# hlt with interrupts off forever: only a signal ends it.
	mkelf "$tmp/spin.elf" 4096 '\xfa\xf4\xeb\xfc'
	"$vmm" --kernel "$tmp/spin.elf" --serial none </dev/null 2>"$tmp/err" &
	pid=$!
	sleep 0.3
	kill -TERM $pid
	wait $pid
	rc=$?
	ok $([ "$rc" = 143 ] && echo 0 || echo 1) "SIGTERM stops the VM with status 143 (got $rc)"
else
	for i in 1 2 3 4 5 6 7; do
		n=$((n + 1))
		echo "ok $n # SKIP no /dev/kvm"
	done
fi

echo "1..$n"
exit $fail
