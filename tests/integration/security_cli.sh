#!/usr/bin/env bash
# TLS and the bearer token across the real processes on loopback: one config (security.token,
# tls_cert, tls_key, tls_ca with a self-signed certificate made now by openssl) shared by
# `edgecam backend`, `edgecam gateway`, `edgecam cloud` and `edgecam edge`.
#   - every server answers 401 without the token and with a wrong one, 200 with the right one;
#     /v1/health is public (no token needed), everything else is not;
#   - plain HTTP and clients that do not trust the certificate get no answer;
#   - the gateway reaches its backend over TLS with the token, the edge reaches the cloud, and
#     an edge reaches a peer edge (queue exchange and offloaded frames);
#   - servers bind 127.0.0.1 unless configured;
#   - `edgecam config show` redacts the token and the database password.
# usage: security_cli.sh EDGECAM SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d /tmp/edgecam-sec.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.out "$tmp"/*.err; do echo "== $f"; cat "$f"; done >&2; exit 1; }

# Waits for a server's "listening on ..." line; prints its port.
wait_port() {
    for _ in $(seq 1 300); do
        port=$(sed -n 's/.*listening on [a-z:/]*\([0-9.]*\):\([0-9]*\).*/\1 \2/p' "$1" 2>/dev/null | head -1)
        if [ -n "$port" ]; then echo "$port"; return 0; fi
        sleep 0.05
    done
    return 1
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# HTTP status of a request (000 when no HTTP answer came back).
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }
# Retries a request for up to 10 s until its status is $1; prints the last status.
wait_code() {
    local want=$1 c=""
    shift
    for _ in $(seq 1 100); do
        c=$(code "$@")
        [ "$c" = "$want" ] && break
        sleep 0.1
    done
    echo "$c"
    [ "$c" = "$want" ]
}

token="tok-$RANDOM$RANDOM"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>"$tmp/openssl.err" || fail "openssl"
ffmpeg -loglevel error -f lavfi -i "testsrc=size=320x192:rate=1" -frames:v 1 "$tmp/frame.jpg" ||
    fail "ffmpeg"

security="security:
  token: \"$token\"
  tls_cert: \"$tmp/cert.pem\"
  tls_key: \"$tmp/key.pem\"
  tls_ca: \"$tmp/cert.pem\""
cat >"$tmp/backend.yaml" <<YAML
backend:
  listen: {port: 0}
  workers: 1
  models:
    - {name: m, path: "$src/models/edge.safetensors"}
$security
YAML
"$bin" backend -c "$tmp/backend.yaml" >"$tmp/backend.out" 2>"$tmp/backend.err" &
pids+=($!)
read -r baddr bport < <(wait_port "$tmp/backend.out") || fail "backend did not start"
[ "$baddr" = 127.0.0.1 ] || fail "backend bound $baddr by default, want 127.0.0.1"
grep -q "listening on https://" "$tmp/backend.out" || fail "backend is not serving HTTPS"
b="https://127.0.0.1:$bport"
tls=(--cacert "$tmp/cert.pem")

# The token on the backend.
[ "$(code "${tls[@]}" "$b/v1/status")" = 401 ] || fail "backend: no token should be 401"
[ "$(code "${tls[@]}" -H "Authorization: Bearer wrong" "$b/v1/status")" = 401 ] ||
    fail "backend: wrong token should be 401"
[ "$(code "${tls[@]}" -H "Authorization: Bearer ${token}x" "$b/v1/status")" = 401 ] ||
    fail "backend: token with a suffix should be 401"
[ "$(code "${tls[@]}" -H "Authorization: Bearer $token" "$b/v1/status")" = 200 ] ||
    fail "backend: right token should be 200"
[ "$(code "${tls[@]}" "$b/v1/health")" = 200 ] || fail "backend: /v1/health should be public"
[ "$(code "${tls[@]}" -X POST --data-binary @"$tmp/frame.jpg" -H "X-Edgecam-Edge: e" \
    -H "X-Edgecam-Frame: 1" "$b/v1/infer")" = 401 ] || fail "backend: infer without token should be 401"
# TLS itself: plain HTTP and an untrusted certificate get no HTTP answer.
[ "$(code "http://127.0.0.1:$bport/v1/health")" = 000 ] || fail "backend answered plain HTTP"
[ "$(code "$b/v1/health")" = 000 ] || fail "curl trusted a self-signed cert without --cacert"

# The gateway in front of it: TLS + token both ways.
cat >"$tmp/gateway.yaml" <<YAML
gateway:
  listen: {port: 0}
  monitor_interval: 0.2
  backends:
    - {name: b1, url: "$b"}
$security
YAML
"$bin" gateway -c "$tmp/gateway.yaml" >"$tmp/gateway.out" 2>"$tmp/gateway.err" &
pids+=($!)
read -r gaddr gport < <(wait_port "$tmp/gateway.out") || fail "gateway did not start"
[ "$gaddr" = 127.0.0.1 ] || fail "gateway bound $gaddr by default"
g="https://127.0.0.1:$gport"
infer=(-X POST --data-binary @"$tmp/frame.jpg" -H "Content-Type: image/jpeg"
       -H "X-Edgecam-Edge: sec" -H "X-Edgecam-Frame: 1" -H "X-Edgecam-Model: m")
[ "$(code "${tls[@]}" "${infer[@]}" "$g/v1/infer")" = 401 ] || fail "gateway: no token should be 401"
[ "$(code "${tls[@]}" "${infer[@]}" -H "Authorization: Bearer nope" "$g/v1/infer")" = 401 ] ||
    fail "gateway: wrong token should be 401"
[ "$(code "${tls[@]}" "$g/v1/health")" = 200 ] || fail "gateway: /v1/health should be public"
# The gateway's monitor needs a moment to see the backend up.
c=$(wait_code 200 "${tls[@]}" "${infer[@]}" -H "Authorization: Bearer $token" "$g/v1/infer") ||
    fail "gateway -> backend over TLS with the token: last status $c"

# The cloud, and an edge that offloads every key frame to it over TLS with the token; the
# edge's own server (peers call it) is HTTPS with the token too.
eport=$(free_port)
cat >"$tmp/cloud.yaml" <<YAML
models:
  dir: $src/models
store:
  path: $tmp/results.db
cloud:
  listen: {port: 0}
edge:
  listen: {port: $eport}
  source: {realtime: false}
$security
YAML
"$bin" cloud -c "$tmp/cloud.yaml" >"$tmp/cloud.out" 2>"$tmp/cloud.err" &
pids+=($!)
read -r caddr cport < <(wait_port "$tmp/cloud.out") || fail "cloud did not start"
[ "$caddr" = 127.0.0.1 ] || fail "cloud bound $caddr by default"
c="https://127.0.0.1:$cport"
[ "$(code "${tls[@]}" "$c/v1/status")" = 401 ] || fail "cloud: no token should be 401"
[ "$(code "${tls[@]}" -H "Authorization: Bearer $token" "$c/v1/status")" = 200 ] ||
    fail "cloud: right token should be 200"
"$bin" edge -c "$tmp/cloud.yaml" --edge-id sec-edge --policy always_cloud_lowest_delay \
    --cloud "$c" --source "synth://day?frames=0&width=320&height=192" \
    >"$tmp/edge.out" 2>"$tmp/edge.err" &
epid=$!
pids+=($epid)
e="https://127.0.0.1:$eport"
c=$(wait_code 401 "${tls[@]}" "$e/v1/queue") ||
    fail "edge server: no token should be 401 (HTTPS on $eport), last status $c"
[ "$(code "${tls[@]}" -H "Authorization: Bearer $token" "$e/v1/queue")" = 200 ] ||
    fail "edge server: right token should be 200"
[ "$(code "http://127.0.0.1:$eport/v1/queue")" = 000 ] || fail "edge server answered plain HTTP"
sleep 1
kill -TERM "$epid"
wait "$epid" || fail "edge exited $? after SIGTERM"
cloud_rows=$(sqlite3 "$tmp/results.db" \
    "select count(*) from frames where edge_id='sec-edge' and processed_at='cloud'")
[ "$cloud_rows" -gt 0 ] || fail "no frame reached the cloud over TLS with the token"

# Edge to peer edge over TLS with the token: peer-b serves /v1/queue and /v1/infer over HTTPS;
# edge-a reads an endless source unpaced, so its own queue fills, and edge_shortest sends key
# frames to the idle peer (queue lengths exchanged over the same TLS link). edge-a runs until
# a frame it offloaded is stored as run on peer-b (or 60 s pass), then stops on SIGTERM.
bport2=$(free_port)
cat >"$tmp/peer.yaml" <<YAML
models:
  dir: $src/models
store:
  path: $tmp/peer.db
edge:
  listen: {port: $bport2}
  peer_exchange_interval_ms: 100
retrain: {enabled: false}
$security
YAML
"$bin" edge -c "$tmp/peer.yaml" --edge-id peer-b --policy edge_local \
    --source "synth://day?frames=0&width=160&height=96" >"$tmp/peer.out" 2>"$tmp/peer.err" &
pids+=($!)
c=$(wait_code 200 "${tls[@]}" -H "Authorization: Bearer $token" "https://127.0.0.1:$bport2/v1/queue") ||
    fail "peer edge not serving HTTPS with the token on $bport2, last status $c"
aport=$(free_port)
cat >"$tmp/edge-a.yaml" <<YAML
models:
  dir: $src/models
store:
  path: $tmp/edge-a.db
edge:
  listen: {port: $aport}
  source: {realtime: false}
  peer_exchange_interval_ms: 100
  peers:
    - {id: peer-b, url: "https://127.0.0.1:$bport2"}
retrain: {enabled: false}
$security
YAML
"$bin" edge -c "$tmp/edge-a.yaml" --edge-id edge-a --policy edge_shortest \
    --source "synth://day?frames=0&width=320&height=192" >"$tmp/edge-a.out" 2>"$tmp/edge-a.err" &
apid=$!
pids+=($apid)
peer_rows=0
for _ in $(seq 1 600); do
    peer_rows=$(sqlite3 "$tmp/edge-a.db" "select count(*) from frames where edge_id='edge-a'
        and processed_at='peer:peer-b'" 2>/dev/null || echo 0)
    [ "${peer_rows:-0}" -gt 0 ] && break
    kill -0 "$apid" 2>/dev/null || fail "edge-a exited early"
    sleep 0.1
done
kill -TERM "$apid"
wait "$apid" || fail "edge-a exited $? after SIGTERM"
[ "${peer_rows:-0}" -gt 0 ] || fail "no frame of edge-a ran on peer-b over TLS with the token"
echo "edge-a: a key frame ran on peer-b over TLS"

# Secrets never printed by `config show` unless asked for.
cat >"$tmp/secrets.yaml" <<YAML
store:
  password: "db-pass-1"
edge:
  source:
    uri: "rtsp://cam:cam-pass-2@10.0.0.5/live"
$security
YAML
shown=$("$bin" config show "$tmp/secrets.yaml") || fail "config show"
for secret in "$token" db-pass-1 cam-pass-2; do
    ! grep -q -- "$secret" <<<"$shown" || fail "config show printed the secret $secret"
done
[ "$(grep -c '"<redacted>"' <<<"$shown")" = 2 ] || fail "want token and password <redacted>"
grep -q 'rtsp://cam:<redacted>@10.0.0.5/live' <<<"$shown" || fail "URL password not redacted"
full=$("$bin" config show --show-secrets "$tmp/secrets.yaml") || fail "config show --show-secrets"
for secret in "$token" db-pass-1 cam-pass-2; do
    grep -q -- "$secret" <<<"$full" || fail "--show-secrets did not print $secret"
done
echo "security_cli: ok"
