#!/usr/bin/env bash
# Smoke test of the real binaries: two `edgecam backend` and one `edgecam gateway` on free
# loopback ports from temp configs, frames through the gateway, then SIGTERM -> exit 0.
# usage: gateway_cli.sh EDGECAM_BIN GATEWAY_CLI_TOOL
set -euo pipefail
bin=$1 tool=$2
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.out "$tmp"/*.err; do echo "== $f"; cat "$f"; done >&2; exit 1; }

# Waits for the "listening on http://ADDR:PORT" line of a server's stdout; prints the base URL.
wait_url() {
    for _ in $(seq 1 200); do
        url=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$1" 2>/dev/null | sed 's/listening on //' || true)
        if [ -n "$url" ]; then echo "$url"; return 0; fi
        sleep 0.05
    done
    return 1
}

"$tool" model "$tmp/m.model" || fail "cannot write a model"
for i in 1 2; do
    cat > "$tmp/b$i.yaml" <<YAML
backend:
  listen: {address: 127.0.0.1, port: 0}
  workers: 1
  models:
    - {name: m, path: "$tmp/m.model"}
YAML
    "$bin" backend -c "$tmp/b$i.yaml" > "$tmp/b$i.out" 2> "$tmp/b$i.err" &
    pids+=($!)
done
b1=$(wait_url "$tmp/b1.out") || fail "backend 1 did not start"
b2=$(wait_url "$tmp/b2.out") || fail "backend 2 did not start"

cat > "$tmp/g.yaml" <<YAML
gateway:
  listen: {address: 127.0.0.1, port: 0}
  dispatch: round_robin
  monitor_interval: 0.2
  backends:
    - {name: b1, url: "$b1"}
    - {name: b2, url: "$b2"}
YAML
"$bin" gateway -c "$tmp/g.yaml" > "$tmp/g.out" 2> "$tmp/g.err" &
gpid=$!
pids+=($gpid)
gw=$(wait_url "$tmp/g.out") || fail "gateway did not start"

for i in 1 2 3 4; do "$tool" infer "$gw" m > /dev/null || fail "infer $i through the gateway"; done
"$tool" infer "$gw" nope > "$tmp/nope.txt" && fail "unknown model accepted"
grep -q "404" "$tmp/nope.txt" || fail "unknown model: want 404, got $(cat "$tmp/nope.txt")"
status=$("$tool" get "$gw/v1/status") || fail "status"
echo "$status" | grep -q '"name":"b1".*"requests":2' || fail "b1 did not get 2 requests: $status"
echo "$status" | grep -q '"name":"b2".*"requests":2' || fail "b2 did not get 2 requests: $status"
"$tool" get "$gw/v1/health" | grep -q '"ok":true' || fail "gateway health"
"$tool" get "$b1/v2/health/ready" > /dev/null || fail "backend KServe readiness"

# Bad configuration: exit 2 with a clear message.
printf 'gateway:\n  dispatch: fastest\n' > "$tmp/bad.yaml"
set +e
"$bin" gateway -c "$tmp/bad.yaml" > /dev/null 2> "$tmp/bad.err"; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad config: exit $rc, want 2"
grep -q "dispatch" "$tmp/bad.err" || fail "bad config message does not name the key"

# SIGTERM: every process stops cleanly with 0.
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do wait "$p" || fail "process $p exited with $?"; done
pids=()
echo "ok: backends $b1 $b2, gateway $gw"
