#!/usr/bin/env bash
# Egress from inside a container sandbox, through `agentvm run --policy`:
# programs find the agent's proxy through http_proxy (set for them), an
# allowed name reaches an origin on the host's 127.0.0.1, a disallowed one
# gets 403, and going around the proxy finds no route at all. Every
# connection is in the egress audit file. Without --policy or --allow-domain
# there is no proxy.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
agentvm=$build/agentvm
# shellcheck source=tests/e2e/egress/lib.sh
. "$top/tests/e2e/egress/lib.sh"

[ -x "$agentvm" ] || { echo "Bail out! $agentvm is not built (make all)"; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "1..0 # SKIP the container isolation needs root"; exit 0; }
command -v python3 >/dev/null || { echo "1..0 # SKIP python3 is needed for the origin"; exit 0; }

tmp=$(mktemp -d)
trap egress_cleanup EXIT
: >"$tmp/hits"
start_server "$tmp/hits"
P=$server_port
cat >"$tmp/policy.json" <<EOF
{"allow_domains": ["allowed.test"], "allow_ports": [$P], "allow_ranges": ["127.0.0.1/32"],
 "hosts": {"allowed.test": "127.0.0.1", "evil.test": "127.0.0.1", "other.test": "127.0.0.1"},
 "dns": false}
EOF
audit=$tmp/audit.log
run() { "$agentvm" run --isolation container --image base "$@"; }

# The base image (with curl) is built or found once, outside the checks.
out=$(run --policy "$tmp/policy.json" --egress-audit "$audit" -- \
	curl -sS -m 20 "http://allowed.test:$P/ok" 2>"$tmp/err")
rc=$?
if [ $rc -ne 0 ] && grep -q "image" "$tmp/err" && ! grep -q "egress" "$tmp/err"; then
	echo "Bail out! the base image is not available: $(tail -n 3 "$tmp/err")"
	exit 1
fi
is "$rc $out" "0 hello" "curl in the sandbox reaches an allowed name through the proxy"
[ $rc -eq 0 ] || sed 's/^/# /' "$tmp/err"
grep -q "^allowed.test:$P /ok\$" "$tmp/hits"
ok $? "the origin on the host's loopback served it"
wait_lines "$audit" 1
is "$(aq "$audit" 'L[-1]["verdict"]') $(aq "$audit" 'L[-1]["host"]')" "allow allowed.test" \
	"the egress audit file has the connection"
like "$(aq "$audit" 'L[-1]["sandbox"]')" '^run-[0-9a-f]{8}$' "named by the sandbox"

out=$(run --policy "$tmp/policy.json" --egress-audit "$audit" -- \
	curl -s -m 20 -o /dev/null -w '%{http_code}' "http://evil.test:$P/ok")
is "$out" 403 "a disallowed name gets 403"
wait_lines "$audit" 2
is "$(aq "$audit" 'L[-1]["reason"]')" domain "audited as a domain refusal"
grep -q "^evil.test" "$tmp/hits"
ok $((!$?)) "and never reached the origin"

out=$(run --policy "$tmp/policy.json" --allow-domain other.test -- \
	curl -s -m 20 "http://other.test:$P/ok")
is "$out" hello "--allow-domain adds to the policy"

out=$(run --policy "$tmp/policy.json" -- sh -c 'echo "$http_proxy $https_proxy $HTTPS_PROXY [$no_proxy]"')
is "$out" "http://127.0.0.1:3128 http://127.0.0.1:3128 http://127.0.0.1:3128 []" \
	"execs get http_proxy, https_proxy, HTTPS_PROXY and an empty no_proxy"
out=$(run --policy "$tmp/policy.json" -e http_proxy=http://elsewhere:1 -- sh -c 'echo "$http_proxy"')
is "$out" "http://elsewhere:1" "an exec's own env wins"

# Around the proxy: nothing listens on the sandbox's own loopback, and no
# route leaves its network namespace.
host_ip=$(ip -4 -o addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)
run --policy "$tmp/policy.json" -- curl -s -m 10 --noproxy '*' "http://127.0.0.1:$P/ok" \
	>"$tmp/out" 2>&1
rc=$?
ok "$([ $rc -ne 0 ] && echo 0 || echo 1)" "--noproxy to 127.0.0.1:$P fails inside (curl exit $rc)"
if [ -n "$host_ip" ]; then
	run --policy "$tmp/policy.json" -- curl -sS -m 10 --noproxy '*' "http://$host_ip:$P/ok" \
		>"$tmp/out" 2>&1
	rc=$?
	ok "$([ $rc -ne 0 ] && echo 0 || echo 1)" \
		"--noproxy to the host's address $host_ip fails (curl exit $rc)"
	out=$(run --policy "$tmp/policy.json" -- python3 -c "
import socket
try:
    socket.create_connection(('$host_ip', $P), 5)
    print('connected')
except OSError as e:
    print(e.strerror)" 2>&1)
	is "$out" "Network is unreachable" "for want of a route"
else
	ok 0 "# SKIP the host has no global IPv4 address"
	ok 0 "# SKIP the host has no global IPv4 address"
fi
grep -c "^127.0.0.1" "$tmp/hits" | grep -qx 0
ok $? "nothing reached the origin around the proxy"

# No policy: no proxy, no variables.
out=$(run -- sh -c 'echo "${http_proxy:-none}"; test -e /run/agentvm/egress.sock && echo sock')
is "$out" none "without --policy there is no proxy and no http_proxy"
run --egress-audit "$tmp/x" -- true 2>"$tmp/err"
is $? 2 "--egress-audit alone is a usage error"
run --policy /nonexistent.json -- true 2>"$tmp/err"
is $? 2 "a missing policy file is a usage error"
grep -q "nonexistent.json" "$tmp/err"
ok $? "naming the file"
echo '{"allowed_domains": []}' >"$tmp/typo.json"
run --policy "$tmp/typo.json" -- true 2>"$tmp/err"
is $? 2 "a policy with an unknown member is refused"
grep -q 'unknown member "allowed_domains"' "$tmp/err"
ok $? "saying which member"
ls /run/agentvm/.egress/ 2>/dev/null | grep -q .
ok $((!$?)) "no egress socket is left behind on the host"

done_testing
