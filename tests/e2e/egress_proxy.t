#!/usr/bin/env bash
# The egress path on the host, end to end: curl -> the agent's proxy listener
# (agentvm-agent --egress, on a free TCP port here instead of the sandbox's
# 127.0.0.1:3128) -> Unix socket -> the host's egress proxy (egress-proxyd,
# the same code the controller runs) -> an origin server on 127.0.0.1.
# What must pass gets through; everything else gets a 403 naming the reason,
# and every connection leaves exactly one audit line.
set -u
top=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
build=${BUILD_DIR:-$top/build}
# shellcheck source=tests/e2e/egress/lib.sh
. "$top/tests/e2e/egress/lib.sh"

[ -x "$proxyd" ] || { echo "Bail out! $proxyd is not built (make all)"; exit 1; }
[ -x "$build/agentvm-agent" ] || { echo "Bail out! $build/agentvm-agent is not built"; exit 1; }
command -v curl >/dev/null || { echo "1..0 # SKIP curl is not installed"; exit 0; }

tmp=$(mktemp -d)
trap egress_cleanup EXIT
hits=$tmp/hits.log
audit=$tmp/audit.log
: >"$hits"

start_server "$hits"
P=$server_port
cat >"$tmp/policy.json" <<EOF
{
  "allow_domains": ["allowed.test", "*.allowed.test", "internal.test", "metadata.test",
                    "loop6.test"],
  "allow_ports": [$P],
  "allow_ranges": ["127.0.0.1/32"],
  "dns": false
}
EOF
cat >"$tmp/hosts" <<EOF
127.0.0.1 allowed.test www.allowed.test evil.test
10.0.0.1 internal.test
169.254.169.254 metadata.test
::1 loop6.test
EOF
start_proxyd "$tmp/proxyd.out" --sandbox box="$tmp/egress.sock" --policy "$tmp/policy.json" \
	--resolve-file "$tmp/hosts" --audit "$audit"

# The agent's side: its proxy listener on a free port, carrying to egress.sock.
AP=$(free_port)
"$build/agentvm-agent" --listen "unix:$tmp/agent.sock" --egress "unix:$tmp/egress.sock" \
	--egress-listen "127.0.0.1:$AP" >"$tmp/agent.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "egress proxy on" "$tmp/agent.log" && break; sleep 0.05; done
grep -q "egress proxy on 127.0.0.1:$AP" "$tmp/agent.log"
ok $? "the agent serves the proxy on 127.0.0.1:$AP"

lines=0
fetch() { # fetch URL [CURL ARGS...]: prints "CODE"; body in $tmp/body
	local url=$1
	shift
	curl -s -o "$tmp/body" -w '%{http_code}' -x "http://127.0.0.1:$AP" "$@" "$url"
}
expect_line() { # the next audit line is there
	lines=$((lines + 1))
	wait_lines "$audit" "$lines" || echo "# audit line $lines did not come"
}
last() { aq "$audit" "L[-1]$1"; }

# --- allowed ---------------------------------------------------------------------------
code=$(fetch "http://allowed.test:$P/ok")
is "$code" 200 "an allowed domain: 200"
is "$(cat "$tmp/body")" hello "and the body"
expect_line
is "$(last '["verdict"]')" allow "audit: verdict allow"
is "$(last '["host"]') $(last '["ip"]') $(last '["port"]')" "allowed.test 127.0.0.1 $P" \
	"audit: name, address and port"
is "$(last '["upstream_status"]')" 200 "audit: the origin's status"
grep -q "^allowed.test:$P /ok\$" "$hits"
ok $? "the origin saw Host allowed.test:$P and path /ok"

code=$(fetch "http://www.allowed.test:$P/ok")
is "$code" 200 "a subdomain matches *.allowed.test"
expect_line

code=$(fetch "http://ALLOWED.test.:$P/ok")
is "$code" 200 "upper case and a trailing dot are the same name"
expect_line

code=$(fetch "http://allowed.test:$P/echo" -H 'Proxy-Authorization: Basic c2VjcmV0' \
	-H 'X-Keep: yes')
is "$code" 200 "echo through the proxy"
grep -qi '^Proxy-' "$tmp/body"
ok $((!$?)) "Proxy-* fields do not reach the origin"
grep -q '^X-Keep: yes' "$tmp/body" && grep -q '^Connection: close' "$tmp/body"
ok $? "other fields do, with Connection: close"
head -n 1 "$tmp/body" | grep -q '^GET /echo HTTP/1.1'
ok $? "the request line is in origin-form"
expect_line

# A 1 MiB download: every byte arrives and is counted.
code=$(fetch "http://allowed.test:$P/big")
is "$code" 200 "a 1 MiB download"
python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); exp=(bytes(range(256))*4096)[:1048576]; sys.exit(d!=exp)' "$tmp/body"
ok $? "its bytes are intact"
expect_line
down=$(last '["bytes_down"]')
ok "$([ "$down" -ge 1048576 ] && [ "$down" -lt 1049600 ] && echo 0 || echo 1)" \
	"audit: bytes_down $down counts the MiB and its header"
up=$(last '["bytes_up"]')
ok "$([ "$up" -gt 0 ] && [ "$up" -lt 1024 ] && echo 0 || echo 1)" "audit: bytes_up $up"
like "$(last '["duration_ms"]')" '^[0-9]+$' "audit: duration_ms"

# CONNECT to an allowed name and port: a tunnel (curl -p tunnels plain http).
code=$(fetch "http://allowed.test:$P/ok" -p)
is "$code" 200 "CONNECT to an allowed name and port"
expect_line
is "$(last '["method"]') $(last '["status"]')" "CONNECT 200" "audit: CONNECT, 200"

# --- denied ----------------------------------------------------------------------------
code=$(fetch "http://evil.test:$P/ok")
is "$code" 403 "a domain not allowed (though it resolves to 127.0.0.1): 403"
grep -q "domain evil.test is not allowed" "$tmp/body"
ok $? "the body names the reason"
expect_line
is "$(last '["verdict"]') $(last '["reason"]')" "deny domain" "audit: deny, domain"
grep -q "^evil.test" "$hits"
ok $((!$?)) "nothing reached the origin for evil.test"

code=$(fetch "http://internal.test:$P/ok")
is "$code" 403 "an allowed name resolving to 10.0.0.1: 403"
expect_line
is "$(last '["reason"]') $(last '["ip"]')" "range 10.0.0.1" "audit: range, 10.0.0.1"
code=$(fetch "http://metadata.test:$P/ok")
is "$code" 403 "an allowed name resolving to 169.254.169.254: 403"
grep -q "metadata" "$tmp/body"
ok $? "named as the metadata range"
expect_line
code=$(fetch "http://loop6.test:$P/ok")
is "$code" 403 "an allowed name resolving to ::1: 403"
expect_line
is "$(last '["ip"]')" "::1" "audit: ::1"

# Redirects: the first hop is allowed, the second is a new request and is checked.
code=$(fetch "http://allowed.test:$P/redirect?to=http://evil.test:$P/ok" -L)
is "$code" 403 "curl -L: a redirect to a disallowed domain ends in 403"
expect_line
expect_line
is "$(aq "$audit" 'L[-2]["upstream_status"]') $(aq "$audit" 'L[-2]["verdict"]')" "302 allow" \
	"audit: the first hop, allowed, answered 302"
is "$(last '["host"]') $(last '["verdict"]')" "evil.test deny" "audit: the second hop denied"

# IP literals, however they are spelt (raw requests: curl would normalise them).
for lit in 127.0.0.1 2130706433 0x7f000001 0177.0.0.1 0x7f.1 127.1 '[::1]' '[::ffff:127.0.0.1]'; do
	st=$(python3 "$egress_dir/raw.py" "127.0.0.1:$AP" "GET http://$lit:$P/ok HTTP/1.1")
	is "$st" "HTTP/1.1 403 Forbidden" "the IP literal $lit: 403"
	expect_line
	is "$(last '["reason"]')" ip_literal "audit: ip_literal for $lit"
done
code=$(fetch "http://2130706433:$P/ok")
is "$code" 403 "curl's own spelling of a decimal address: 403"
expect_line

# CONNECT to a port that is not allowed.
curl -s -o /dev/null -p -x "http://127.0.0.1:$AP" "http://allowed.test:22/" 2>/dev/null
rc=$?
ok "$([ $rc -ne 0 ] && echo 0 || echo 1)" "CONNECT to port 22 fails (curl exit $rc)"
expect_line
is "$(last '["method"]') $(last '["reason"]') $(last '["status"]')" "CONNECT port 403" \
	"audit: CONNECT refused for the port, 403"
code=$(fetch "http://allowed.test:8/ok")
is "$code" 403 "GET to a port not allowed: 403"
expect_line

# Malformed and non-proxy requests.
st=$(python3 "$egress_dir/raw.py" "127.0.0.1:$AP" "GET / HTTP/1.1" "Host: allowed.test")
is "$st" "HTTP/1.1 400 Bad Request" "an origin-form request: 400"
expect_line
st=$(python3 "$egress_dir/raw.py" "127.0.0.1:$AP" "GET http://allowed.test@evil.test:$P/ok HTTP/1.1")
is "$st" "HTTP/1.1 400 Bad Request" "userinfo in the URL: 400"
expect_line
st=$(python3 "$egress_dir/raw.py" "127.0.0.1:$AP" "GET https://allowed.test:$P/ HTTP/1.1")
is "$st" "HTTP/1.1 501 Not Implemented" "https:// without CONNECT: 501"
expect_line
is "$(last '["verdict"]') $(last '["reason"]')" "error bad_request" "audit: error, bad_request"

# --- quotas: a second proxy whose sandbox may download 300000 bytes -----------------------
cat >"$tmp/quota.json" <<EOF
{"allow_domains": ["allowed.test"], "allow_ports": [$P], "allow_ranges": ["127.0.0.1/32"],
 "dns": false, "quota": {"bytes_down": 300000, "connections_total": 3}}
EOF
start_proxyd "$tmp/proxyd2.out" --sandbox small="$tmp/quota.sock" --policy "$tmp/quota.json" \
	--resolve-file "$tmp/hosts" --audit "$tmp/audit2.log"
AP2=$(free_port)
"$build/agentvm-agent" --listen "unix:$tmp/agent2.sock" --egress "unix:$tmp/quota.sock" \
	--egress-listen "127.0.0.1:$AP2" >"$tmp/agent2.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "egress proxy on" "$tmp/agent2.log" && break; sleep 0.05; done
curl -s -o "$tmp/part" -x "http://127.0.0.1:$AP2" "http://allowed.test:$P/big"
rc=$?
is "$rc" 18 "a download past the byte quota is cut short (curl: partial file)"
size=$(stat -c %s "$tmp/part")
ok "$([ "$size" -lt 300000 ] && echo 0 || echo 1)" "only $size bytes of body arrived"
wait_lines "$tmp/audit2.log" 1
is "$(aq "$tmp/audit2.log" 'L[-1]["end"]')" quota_bytes_down "audit: end quota_bytes_down"
is "$(aq "$tmp/audit2.log" 'L[-1]["bytes_down"]')" 300000 "audit: exactly the quota was relayed"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -x "http://127.0.0.1:$AP2" "http://allowed.test:$P/ok")
is "$code" 403 "the next request finds the quota used up"
wait_lines "$tmp/audit2.log" 2
is "$(aq "$tmp/audit2.log" 'L[-1]["reason"]')" quota_bytes "audit: quota_bytes"
curl -s -o /dev/null -x "http://127.0.0.1:$AP2" "http://allowed.test:$P/ok"
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -x "http://127.0.0.1:$AP2" "http://allowed.test:$P/ok")
is "$code" 403 "the fourth connection passes connections_total 3"
wait_lines "$tmp/audit2.log" 4
is "$(aq "$tmp/audit2.log" 'L[-1]["reason"]')" quota_connections "audit: quota_connections"

# --- the host's proxy is not there: the agent says so -------------------------------------
AP3=$(free_port)
"$build/agentvm-agent" --listen "unix:$tmp/agent3.sock" --egress "unix:$tmp/missing.sock" \
	--egress-listen "127.0.0.1:$AP3" >"$tmp/agent3.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "egress proxy on" "$tmp/agent3.log" && break; sleep 0.05; done
code=$(curl -s -o "$tmp/body" -w '%{http_code}' -x "http://127.0.0.1:$AP3" "http://allowed.test:$P/ok")
is "$code" 502 "no egress proxy on the host: the agent answers 502"
grep -q "egress proxy is unreachable" "$tmp/body"
ok $? "saying why"

# --- the audit file as a whole ---------------------------------------------------------------
sleep 0.3
is "$(grep -c '' "$audit")" "$lines" "one audit line per connection ($lines)"
aq "$audit" 'all(set(["type","time_ms","sandbox","conn","verdict","reason","detail","method","host","port","target","ip","status","upstream_status","bytes_up","bytes_down","duration_ms","end"]) <= set(l) for l in L)' | grep -q true
ok $? "every line carries every field"
is "$(aq "$audit" 'sorted(set(l["sandbox"] for l in L))')" '["box"]' "every line names the sandbox"
grep -q "Bail\|ERROR\|runtime error" "$tmp/proxyd.out.err" "$tmp/agent.log"
ok $((!$?)) "no sanitizer or error reports from the proxy or the agent"

done_testing
