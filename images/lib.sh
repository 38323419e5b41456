# Shared helpers for the guest image builds (images/*/build.sh); sourced, never run.
#
# An image is built in two stages, each cached under $AGENTVM_CACHE/images/:
#   <name>-tree-<treekey>/rootfs/   the expensive part: everything but the agent.
#                                   <treekey> hashes the build scripts, this file,
#                                   the package list and the Debian versions used.
#   <name>-<key>/                   the published image: rootfs/ (hard links into
#                                   the tree, plus the agent as /sbin/init),
#                                   rootfs.erofs and manifest.txt. <key> hashes
#                                   <treekey>, the agent binary and the erofs options,
#                                   so a new agent costs a copy of links and one
#                                   mkfs.erofs, never a new tree.
# Both stages are built in a "<dir>.tmp.<pid>" directory and renamed into place,
# so a directory that exists under its final name is complete.
#
# The rootfs/ trees share inodes with the cached tree: treat them as read-only
# (mount them as an overlay's lower layer) or every image of that tree changes.

# img_init NAME: set img_name and img_cache, create the cache folder.
img_init() {
	img_name=$1
	img_cache=${AGENTVM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/agentvm}/images
	if ! mkdir -p "$img_cache" 2>/dev/null || [ ! -w "$img_cache" ]; then
		img_die "cannot write to the cache $img_cache (set AGENTVM_CACHE)"
	fi
	img_cache=$(cd "$img_cache" && pwd)
	img_tmpdirs=()
	img_bg_pid=
	trap img_cleanup EXIT
	trap 'img_log "interrupted; cleaning up"; exit 130' INT
	trap 'img_log "stopped; cleaning up"; exit 143' TERM
}

# img_log MESSAGE...: one progress line on stderr.
img_log() {
	echo "$img_name: $*" >&2
}

# img_die MESSAGE...: one error line on stderr, then exit 1.
img_die() {
	echo "$img_name: error: $*" >&2
	exit 1
}

# img_hash [FILE|-]...: a 16-hex-digit key from the contents of the files (and
# stdin for '-'), each preceded by its base name so that a rename changes it.
img_hash() {
	local f
	for f in "$@"; do
		if [ "$f" = - ]; then
			echo "stdin"
			cat
		else
			echo "file ${f##*/}"
			cat "$f"
		fi
	done | sha256sum | cut -c1-16
}

# img_sha256 FILE: the full SHA-256 of FILE.
img_sha256() {
	sha256sum "$1" | cut -d' ' -f1
}

# img_repo_root: the repository holding this file.
img_repo_root() {
	(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
}

# img_find_agent [PATH]: set img_agent to the agent binary to install as
# /sbin/init: PATH, or $BUILD_DIR/agentvm-agent, or <repo>/build/agentvm-agent.
# Fails with one clear message when it is missing or not a static ELF program.
img_find_agent() {
	local want=${1:-}
	if [ -z "$want" ]; then
		want=${BUILD_DIR:-$(img_repo_root)/build}/agentvm-agent
	fi
	if [ ! -e "$want" ]; then
		img_die "the guest agent binary $want does not exist; build it with 'make build/agentvm-agent' or pass --agent PATH"
	fi
	if [ ! -f "$want" ] || [ ! -x "$want" ]; then
		img_die "the guest agent $want is not an executable file"
	fi
	if [ "$(head -c4 "$want" | od -An -tx1 | tr -d ' \n')" != 7f454c46 ]; then
		img_die "the guest agent $want is not an ELF program"
	fi
	# A PT_INTERP header means a dynamic program, which cannot be PID 1 of an
	# image with no C library (build without SANITIZE for a static agent).
	if LC_ALL=C readelf -lW "$want" 2>/dev/null | grep -q '^ *INTERP '; then
		img_die "the guest agent $want is dynamically linked; the image needs a static one (make build/agentvm-agent without SANITIZE)"
	fi
	img_agent=$(cd "$(dirname "$want")" && pwd)/$(basename "$want")
}

# img_lock: hold an exclusive lock on this image name until the script exits,
# so that two builds of one image never race. Says so when it has to wait.
img_lock() {
	exec {img_lock_fd}>"$img_cache/.$img_name.lock"
	if ! flock -n "$img_lock_fd"; then
		img_log "waiting for another build of this image to finish"
		flock "$img_lock_fd"
	fi
}

# img_tmpdir FINAL: set img_tmp to a fresh "FINAL.tmp.<pid>" directory that is
# removed when the script exits unless it has been published. (Not meant for
# $(...): the clean-up list lives in this shell.)
img_tmpdir() {
	img_tmp=$1.tmp.$$
	img_rmtree "$img_tmp"
	mkdir -p "$img_tmp"
	img_tmpdirs+=("$img_tmp")
}

# img_rmtree DIR: remove DIR, first unmounting anything left mounted below it
# (an interrupted debootstrap leaves /proc and /sys mounted in its target).
img_rmtree() {
	local dir=$1 mnt
	[ -e "$dir" ] || return 0
	# Deepest first; /proc/self/mounts escapes spaces as \040.
	while read -r mnt; do
		umount -l "$mnt" 2>/dev/null || true
	done < <(awk -v d="$dir/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r)
	rm -rf --one-file-system "$dir"
}

# img_publish TMP FINAL: rename the finished TMP to FINAL (replacing a stale
# FINAL) and touch it so that pruning sees it as recently used.
img_publish() {
	local tmp=$1 final=$2
	img_rmtree "$final"
	mv -T "$tmp" "$final"
	touch "$final"
}

# img_cleanup: the EXIT trap; stops the background step ($img_bg_pid) and
# removes unpublished temporary directories.
img_cleanup() {
	local t
	if [ -n "$img_bg_pid" ] && kill -0 "$img_bg_pid" 2>/dev/null; then
		# Its own process group when started with setsid: stop all of it.
		kill -TERM -- "-$img_bg_pid" 2>/dev/null || kill -TERM "$img_bg_pid" 2>/dev/null || true
		wait "$img_bg_pid" 2>/dev/null || true
	fi
	for t in "${img_tmpdirs[@]}"; do
		[ ! -e "$t" ] || img_rmtree "$t"
	done
}

# img_prune PREFIX KEEP [EXCEPT]: keep the KEEP most recently used directories
# $img_cache/PREFIX<16 hex digits> (and EXCEPT), remove the others.
img_prune() {
	local prefix=$1 keep=$2 except=${3:-} d name n=0 found=()
	for d in "$img_cache/$prefix"????????????????; do
		name=${d##*/}
		if [ ! -d "$d" ] || [[ ! $name =~ ^"$prefix"[0-9a-f]{16}$ ]]; then
			continue
		fi
		found+=("$(stat -c %Y "$d") $name")
	done
	[ "${#found[@]}" -gt 0 ] || return 0
	while read -r _ name; do
		n=$((n + 1))
		[ "$n" -gt "$keep" ] || continue
		[ "$img_cache/$name" != "$except" ] || continue
		img_log "pruning the old $name"
		img_rmtree "${img_cache:?}/$name"
	done < <(printf '%s\n' "${found[@]}" | sort -rn)
}

# img_clone_tree SRC DST: make DST a copy of the directory tree SRC that shares
# its file data: hard links, or reflinks where hard links cannot be made.
img_clone_tree() {
	local src=$1 dst=$2
	if ! cp -al "$src" "$dst" 2>/dev/null; then
		rm -rf --one-file-system "$dst"
		cp -a --reflink=auto "$src" "$dst"
	fi
}

# img_install_agent ROOTFS: put $img_agent at ROOTFS/sbin/init as a new file
# (never writing through a hard link into the cached tree).
img_install_agent() {
	local root=$1 dir=$1/sbin link
	# Merged /usr: /sbin is a link to usr/sbin. Resolve it inside ROOTFS, even
	# if it is absolute, never on the host.
	if [ -L "$dir" ]; then
		link=$(readlink "$dir")
		case "$link" in
		/*) dir=$root$link ;;
		*) dir=$root/$link ;;
		esac
	fi
	if [ ! -d "$dir" ] || [ -L "$dir" ]; then
		img_die "$root/sbin is not a directory"
	fi
	rm -f "$dir/init"
	cp "$img_agent" "$dir/init.new"
	chmod 0755 "$dir/init.new"
	mv "$dir/init.new" "$dir/init"
}

# The erofs compressor; the guest kernel reads lz4 (CONFIG_EROFS_FS_ZIP).
# AGENTVM_EROFS_COMPRESS=none makes an uncompressed image.
img_erofs_opts() {
	case "${AGENTVM_EROFS_COMPRESS:-lz4hc}" in
	none | "") ;;
	lz4 | lz4hc) echo "-z${AGENTVM_EROFS_COMPRESS:-lz4hc}" ;;
	*) img_die "AGENTVM_EROFS_COMPRESS must be lz4hc, lz4 or none" ;;
	esac
}

# img_make_erofs ROOTFS FILE KEY [MKFS OPTIONS...]: write the read-only
# filesystem image FILE from ROOTFS; the UUID is derived from KEY so the same
# inputs give the same superblock.
img_make_erofs() {
	local root=$1 file=$2 key=$3 uuid
	shift 3
	command -v mkfs.erofs >/dev/null ||
		img_die "mkfs.erofs is missing (install erofs-utils: make deps)"
	uuid=$(echo "$key" | sha256sum | cut -c1-32 |
		sed -E 's/(.{8})(.{4})(.{4})(.{4})(.{12})/\1-\2-\3-\4-\5/')
	# shellcheck disable=SC2046
	if ! mkfs.erofs --quiet -U"$uuid" $(img_erofs_opts) "$@" "$file" "$root" >"$file.log" 2>&1; then
		cat "$file.log" >&2
		img_die "mkfs.erofs failed"
	fi
	rm -f "$file.log"
}

# img_debian_mirror [APT_ETC]: print the first Debian main archive URI among the
# machine's apt sources (APT_ETC defaults to /etc/apt): one-line entries in
# sources.list and sources.list.d/*.list, deb822 stanzas in
# sources.list.d/*.sources. An entry counts when its type is deb, its
# components include main, and one of its suites is a Debian release without a
# -security suffix. AGENTVM_DEBIAN_MIRROR overrides the search.
img_debian_mirror() {
	local etc=${1:-/etc/apt} f uri
	if [ -n "${AGENTVM_DEBIAN_MIRROR:-}" ]; then
		echo "$AGENTVM_DEBIAN_MIRROR"
		return 0
	fi
	local files=()
	[ ! -f "$etc/sources.list" ] || files+=("$etc/sources.list")
	for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
		[ ! -f "$f" ] || files+=("$f")
	done
	for f in "${files[@]}"; do
		case "$f" in
		*.sources) uri=$(img_mirror_from_deb822 <"$f") ;;
		*) uri=$(img_mirror_from_oneline <"$f") ;;
		esac
		if [ -n "$uri" ]; then
			echo "${uri%/}"
			return 0
		fi
	done
	return 1
}

# The suites a Debian archive serves (security archives aside).
img_debian_suite_re='^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable)(-updates|-backports|-proposed-updates)?$'
img_mirror_uri_re='^(https?|ftp|file)://'

# One-line format: deb [options] URI SUITE COMPONENT...
img_mirror_from_oneline() {
	awk -v sre="$img_debian_suite_re" -v ure="$img_mirror_uri_re" '
	{ sub(/#.*/, "") }
	$1 != "deb" { next }
	{
		line = $0
		sub(/^[ \t]*deb[ \t]+/, "", line)
		if (line ~ /^\[/) { if (!sub(/^\[[^]]*\][ \t]*/, "", line)) next }
		n = split(line, w, /[ \t]+/)
		if (n < 3 || w[1] !~ ure || w[2] !~ sre) next
		for (i = 3; i <= n; i++) if (w[i] == "main") { print w[1]; exit }
	}'
}

# deb822 format: stanzas of "Field: value" lines separated by blank lines.
img_mirror_from_deb822() {
	awk -v sre="$img_debian_suite_re" -v ure="$img_mirror_uri_re" '
	function flush(   n, i, s, u, okt, oks, okc) {
		if (uris != "" && enabled !~ /^[Nn][Oo]$/) {
			n = split(types, s, /[ \t]+/); okt = 0
			for (i = 1; i <= n; i++) if (s[i] == "deb") okt = 1
			n = split(suites, s, /[ \t]+/); oks = 0
			for (i = 1; i <= n; i++) if (s[i] ~ sre) oks = 1
			n = split(comps, s, /[ \t]+/); okc = 0
			for (i = 1; i <= n; i++) if (s[i] == "main") okc = 1
			if (okt && oks && okc) {
				n = split(uris, u, /[ \t]+/)
				for (i = 1; i <= n; i++) if (u[i] ~ ure) { print u[i]; found = 1; return }
			}
		}
		types = uris = suites = comps = enabled = ""
	}
	/^#/ { next }
	/^[ \t]*$/ { flush(); if (found) exit; next }
	{
		field = tolower($0); sub(/:.*/, "", field)
		val = $0; sub(/^[^:]*:[ \t]*/, "", val); sub(/[ \t]+$/, "", val)
		if (field == "types") types = val
		else if (field == "uris") uris = val
		else if (field == "suites") suites = val
		else if (field == "components") comps = val
		else if (field == "enabled") enabled = val
	}
	END { if (!found) flush() }'
}

# img_write_etc ROOTFS: the identity files every image gets: hostname, hosts,
# and an unprivileged user "agent" (uid/gid 1000, home /home/agent) beside root.
# passwd/group/shadow lines are added only when missing.
img_write_etc() {
	local root=$1
	mkdir -p "$root/etc" "$root/home/agent"
	echo agentvm >"$root/etc/hostname"
	cat >"$root/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	agentvm
::1		localhost ip6-localhost ip6-loopback
EOF
	touch "$root/etc/passwd" "$root/etc/group"
	img_add_line "$root/etc/passwd" root 'root:x:0:0:root:/root:/bin/sh'
	img_add_line "$root/etc/passwd" nobody 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin'
	img_add_line "$root/etc/passwd" agent 'agent:x:1000:1000:agent:/home/agent:/bin/sh'
	img_add_line "$root/etc/group" root 'root:x:0:'
	img_add_line "$root/etc/group" nogroup 'nogroup:x:65534:'
	img_add_line "$root/etc/group" agent 'agent:x:1000:'
	if [ -f "$root/etc/shadow" ]; then
		img_add_line "$root/etc/shadow" agent 'agent:*:19000:0:99999:7:::'
	fi
	if [ -f "$root/etc/gshadow" ]; then
		img_add_line "$root/etc/gshadow" agent 'agent:!::'
	fi
	chown 1000:1000 "$root/home/agent" 2>/dev/null || true
	chmod 0755 "$root/home/agent"
}

# img_add_line FILE NAME LINE: append LINE unless FILE has an entry NAME.
img_add_line() {
	grep -q "^$2:" "$1" || echo "$3" >>"$1"
}

# shellcheck disable=SC2154 # img_key_extra and img_key_files come from the caller.
# img_main SCRIPT ARGS...: the whole build of one image, shared by the scripts.
# The calling script sets before the call:
#   img_name          the image name
#   img_key_files     files whose contents go into the tree key (besides SCRIPT
#                     and this file)
#   img_key_extra     text that goes into the tree key (package versions...)
#   img_needs_root    1 when building (not --dir, not a cache hit) needs root
# and defines:
#   img_check_host    verify the host has what the tree build needs (may be empty)
#   img_build_tree D  build the tree into D (an empty directory) as D/rootfs,
#                     leaving notes for the manifest in D/tree.txt
#   img_finish D      optional extra outputs in the image directory D
img_main() {
	local script=$1 agent_arg="" mode=build rebuild=0
	shift
	while [ $# -gt 0 ]; do
		case "$1" in
		-h | --help) img_usage "$script"; exit 0 ;;
		--dir) mode=dir ;;
		--rebuild) rebuild=1 ;;
		--agent)
			[ $# -ge 2 ] || { echo "$img_name: --agent needs a PATH" >&2; exit 2; }
			agent_arg=$2
			shift
			;;
		--agent=*) agent_arg=${1#--agent=} ;;
		*) echo "$img_name: unknown argument '$1' (try --help)" >&2; exit 2 ;;
		esac
		shift
	done

	img_init "$img_name"
	img_find_agent "$agent_arg"
	img_check_host

	local here tree_key key agent_sha erofs_opts tree out tmp start
	here=$(dirname "${BASH_SOURCE[0]}")
	tree_key=$(printf '%s\n' "$img_key_extra" | img_hash "$script" "$here/lib.sh" "${img_key_files[@]}" -)
	agent_sha=$(img_sha256 "$img_agent")
	erofs_opts=$(img_erofs_opts)
	key=$(printf 'tree %s\nagent %s\nerofs %s\n' "$tree_key" "$agent_sha" "$erofs_opts" | img_hash -)
	tree=$img_cache/$img_name-tree-$tree_key
	out=$img_cache/$img_name-$key

	if [ "$mode" = dir ]; then
		echo "$out"
		return 0
	fi
	if [ "$rebuild" = 0 ] && [ -f "$out/manifest.txt" ]; then
		touch "$out" "$tree" 2>/dev/null || true
		img_log "cached ($out)"
		echo "$out"
		return 0
	fi

	if [ "${img_needs_root:-0}" = 1 ] && [ "$(id -u)" -ne 0 ]; then
		img_die "building this image needs root (file ownership, debootstrap)"
	fi
	img_lock
	# Another build may have published it while we waited for the lock.
	if [ "$rebuild" = 0 ] && [ -f "$out/manifest.txt" ]; then
		img_log "cached ($out)"
		echo "$out"
		return 0
	fi
	start=$(date +%s)
	if [ "$rebuild" = 1 ] || [ ! -d "$tree/rootfs" ]; then
		img_log "building the tree $tree_key (everything but the agent)"
		img_tmpdir "$tree"
		tmp=$img_tmp
		img_build_tree "$tmp"
		img_publish "$tmp" "$tree"
		img_log "tree built in $(($(date +%s) - start))s"
	else
		img_log "tree $tree_key cached"
		touch "$tree"
	fi

	img_log "assembling the image with agent $agent_sha"
	img_tmpdir "$out"
	tmp=$img_tmp
	img_clone_tree "$tree/rootfs" "$tmp/rootfs"
	img_install_agent "$tmp/rootfs"
	# The agent may have been rebuilt meanwhile: key the image by what it holds.
	local installed
	installed=$(img_sha256 "$tmp/rootfs/sbin/init")
	if [ "$installed" != "$agent_sha" ]; then
		img_log "$img_agent changed during the build; the image holds the new one ($installed)"
		agent_sha=$installed
		key=$(printf 'tree %s\nagent %s\nerofs %s\n' "$tree_key" "$agent_sha" "$erofs_opts" | img_hash -)
		out=$img_cache/$img_name-$key
		if [ -f "$out/manifest.txt" ]; then
			img_log "cached ($out)"
			echo "$out"
			return 0
		fi
	fi
	img_log "writing rootfs.erofs (${erofs_opts:-uncompressed})"
	# Built without root, the files are ours: the image says root owns them.
	if [ "$(id -u)" -ne 0 ]; then
		img_make_erofs "$tmp/rootfs" "$tmp/rootfs.erofs" "$key" --all-root
	else
		img_make_erofs "$tmp/rootfs" "$tmp/rootfs.erofs" "$key"
	fi
	if declare -F img_finish >/dev/null; then
		img_finish "$tmp"
	fi
	{
		echo "name=$img_name"
		echo "key=$key"
		echo "tree_key=$tree_key"
		echo "created=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "agent_sha256=$agent_sha"
		echo "agent_source=$img_agent"
		echo "erofs_options=${erofs_opts:-none}"
		echo "rootfs_kib=$(du -sk "$tmp/rootfs" | cut -f1)"
		echo "erofs_bytes=$(stat -c %s "$tmp/rootfs.erofs")"
		echo "# rootfs/ shares its files with the cached tree: mount it read-only"
		echo "# or as an overlay's lower layer, never write into it."
		[ ! -f "$tree/tree.txt" ] || cat "$tree/tree.txt"
	} >"$tmp/manifest.txt"
	img_publish "$tmp" "$out"
	img_prune "$img_name-" "${AGENTVM_IMAGES_KEEP:-3}" "$out"
	img_prune "$img_name-tree-" 2 "$tree"
	img_log "built in $(($(date +%s) - start))s ($out)"
	echo "$out"
}

# img_usage SCRIPT: print the comment block at the top of SCRIPT.
img_usage() {
	awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$1"
}
