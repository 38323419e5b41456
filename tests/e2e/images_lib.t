#!/usr/bin/env bash
# images/lib.sh, the helpers behind the image builds: finding the Debian
# mirror in apt sources (one-line and deb822), content keys, agent checks,
# atomic publishing with clean-up of unfinished builds, and pruning. Fast.
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
lib=$top/images/lib.sh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unset AGENTVM_DEBIAN_MIRROR

n=0
failed=0
is() { # is GOT WANT DESCRIPTION
	n=$((n + 1))
	if [ "$1" = "$2" ]; then
		echo "ok $n - $3"
	else
		echo "not ok $n - $3"
		echo "#   got:  '$1'"
		echo "#   want: '$2'"
		failed=$((failed + 1))
	fi
}
# in_lib CODE: run CODE in a fresh shell that sourced lib.sh, as image "t".
in_lib() {
	AGENTVM_CACHE=$work/cache bash -c "set -euo pipefail; . '$lib'; img_init t; $1" 2>"$work/stderr"
}
mirror() { in_lib "img_debian_mirror '$1'"; }

echo "1..26"

# --- the mirror --------------------------------------------------------------
a=$work/apt-a
mkdir -p "$a/sources.list.d"
cat >"$a/sources.list.d/debian.sources" <<'S'
Types: deb
# a comment inside a stanza
URIs: file:///srv/mirror/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: file:///srv/mirror/sources
Suites: bookworm
Components: main

Types: deb
URIs: file:///srv/mirror/disabled
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: file:///srv/mirror/debian/
Suites: bookworm bookworm-updates
Components: main contrib
S
is "$(mirror "$a")" file:///srv/mirror/debian \
	"deb822: skips security, deb-src and disabled stanzas; trims the slash"

b=$work/apt-b
mkdir -p "$b/sources.list.d"
cat >"$b/sources.list" <<'S'
# deb file:///srv/commented bookworm main
deb-src file:///srv/src bookworm main
deb file:///srv/security bookworm-security main
deb file:///srv/contrib-only bookworm contrib
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file:///srv/one-line bookworm main non-free-firmware
S
is "$(mirror "$b")" file:///srv/one-line "one-line: skips comments, deb-src, security and main-less lines; reads [options]"

c=$work/apt-c
mkdir -p "$c/sources.list.d"
echo 'deb file:///srv/third-party nodistro main' >"$c/sources.list.d/other.list"
printf 'Types: deb\nURIs: file:///srv/in-list-d\nSuites: stable\nComponents: main\n' \
	>"$c/sources.list.d/z.sources"
is "$(mirror "$c")" file:///srv/in-list-d "sources.list.d: a non-Debian suite is skipped, *.sources read"

d=$work/apt-d
mkdir -p "$d/sources.list.d"
echo 'deb file:///srv/third-party nodistro main' >"$d/sources.list.d/other.list"
mirror "$d" >/dev/null
is "$?" 1 "no Debian main archive: fails"
is "$(AGENTVM_DEBIAN_MIRROR=file:///srv/override mirror "$d")" file:///srv/override \
	"AGENTVM_DEBIAN_MIRROR overrides the sources"
got=$(in_lib img_debian_mirror)
case "$got" in
http://* | https://* | ftp://* | file://*) is ok ok "this machine's apt sources name a Debian archive" ;;
*) is "$got" "a URI" "this machine's apt sources name a Debian archive" ;;
esac

# --- keys ----------------------------------------------------------------------
echo one >"$work/f1"
echo two >"$work/f2"
k1=$(in_lib "img_hash '$work/f1' '$work/f2'")
is "${#k1}" 16 "img_hash gives 16 hex digits"
is "$(in_lib "img_hash '$work/f1' '$work/f2'")" "$k1" "img_hash is stable"
echo three >"$work/f2"
k2=$(in_lib "img_hash '$work/f1' '$work/f2'")
is "$([ "$k1" != "$k2" ] && echo differs)" differs "img_hash follows the contents"
is "$(echo extra | in_lib "img_hash '$work/f1' -")" "$(echo extra | in_lib "img_hash '$work/f1' -")" \
	"img_hash reads stdin for -"

# --- the agent -----------------------------------------------------------------
in_lib "img_find_agent '$work/nope'"
is "$?:$(grep -c 'does not exist' "$work/stderr")" 1:1 "a missing agent: one clear error"
echo '#!/bin/sh' >"$work/script"
chmod +x "$work/script"
in_lib "img_find_agent '$work/script'"
is "$?:$(grep -c 'not an ELF' "$work/stderr")" 1:1 "a script is refused as the agent"
in_lib "img_find_agent /bin/true"
is "$?:$(grep -c 'dynamically linked' "$work/stderr")" 1:1 "a dynamic program is refused as the agent"
static=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1)
is "$(in_lib "img_find_agent '$static'; echo \"\$img_agent\"")" "$(cd "$(dirname "$static")" && pwd)/busybox" \
	"a static program is accepted, by absolute path"

# --- publishing and clean-up ---------------------------------------------------
in_lib "img_tmpdir \"\$img_cache/t-0000000000000000\"; touch \"\$img_tmp/half\"; false"
left=$(find "$work/cache/images" -name '*.tmp.*' | wc -l)
is "$left" 0 "a failed build leaves no temporary directory"
is "$(find "$work/cache/images" -maxdepth 1 -name 't-*' | wc -l)" 0 "a failed build publishes nothing"
in_lib "img_tmpdir \"\$img_cache/t-0000000000000001\"; echo done >\"\$img_tmp/x\";
	img_publish \"\$img_tmp\" \"\$img_cache/t-0000000000000001\""
is "$(cat "$work/cache/images/t-0000000000000001/x" 2>/dev/null)" "done" "img_publish renames into place"
is "$(find "$work/cache/images" -name '*.tmp.*' | wc -l)" 0 "nothing temporary left after publishing"

for i in 2 3 4 5; do
	mkdir -p "$work/cache/images/t-000000000000000$i"
	touch -d "@$((1700000000 + i))" "$work/cache/images/t-000000000000000$i"
done
mkdir -p "$work/cache/images/t-tree-0000000000000000"
in_lib "img_prune t- 2 \"\$img_cache/t-0000000000000002\""
is "$(cd "$work/cache/images" && printf '%s ' t-*)" \
	"t-0000000000000001 t-0000000000000002 t-0000000000000005 t-tree-0000000000000000 " \
	"img_prune keeps the most recent, the exception and other prefixes"

# A file reached through a hard link into the tree is replaced, not written through.
mkdir -p "$work/tree/rootfs/sbin" "$work/img"
echo old >"$work/tree/rootfs/sbin/init"
in_lib "img_agent='$static'; img_clone_tree '$work/tree/rootfs' '$work/img/rootfs'; img_install_agent '$work/img/rootfs'"
is "$(cat "$work/tree/rootfs/sbin/init"):$(cmp -s "$static" "$work/img/rootfs/sbin/init" && echo agent)" \
	old:agent "installing the agent never writes through a hard link into the tree"

# --- img_main with a stand-in image ------------------------------------------------
cat >"$work/fake.sh" <<FAKE
#!/usr/bin/env bash
# A stand-in image for the test.
set -euo pipefail
. '$lib'
img_name=fake
img_key_files=()
img_key_extra=one
img_check_host() { :; }
img_build_tree() {
	mkdir -p "\$1/rootfs/sbin"
	echo tree >"\$1/rootfs/file"
	echo note=from-tree >"\$1/tree.txt"
}
if [ -n "\${SWAP:-}" ]; then
	# The agent is rebuilt between hashing and copying.
	eval "\$(declare -f img_install_agent | sed '1s/img_install_agent/img_install_agent_first/')"
	img_install_agent() { img_install_agent_first "\$@"; cp "\$SWAP" "\$1/sbin/init"; }
fi
img_main "\$0" "\$@"
FAKE
chmod +x "$work/fake.sh"
export AGENTVM_CACHE=$work/cache
fout=$("$work/fake.sh" --agent "$static" 2>"$work/stderr" | tail -n1)
is "$(cat "$fout/rootfs/file" 2>/dev/null):$(cmp -s "$static" "$fout/rootfs/sbin/init" && echo agent)" \
	tree:agent "img_main builds the tree, then the image with the agent"
is "$(grep -c '^note=from-tree$' "$fout/manifest.txt" 2>/dev/null)" 1 "the tree's notes reach manifest.txt"
is "$("$work/fake.sh" --dir --agent "$static" 2>/dev/null)" "$fout" "--dir names the image of that agent"
cp "$static" "$work/agent-b"
printf 'b' >>"$work/agent-b"
fout2=$(SWAP=$work/agent-b "$work/fake.sh" --agent "$static" --rebuild 2>"$work/stderr" | tail -n1)
is "$(grep -c 'changed during the build' "$work/stderr")" 1 "an agent rebuilt during the build is noticed"
is "$([ "$fout2" != "$fout" ] && cmp -s "$work/agent-b" "$fout2/rootfs/sbin/init" && echo new)" new \
	"the image is keyed by the agent it holds"
is "$(grep -c "^agent_sha256=$(sha256sum "$work/agent-b" | cut -d' ' -f1)\$" "$fout2/manifest.txt" 2>/dev/null)" 1 \
	"its manifest records that agent"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
