#!/usr/bin/env bash
# Observability of the real binaries on loopback: `edgecam cloud`, `backend`, `gateway` and an
# endless `edge` (offloading through the gateway, MQTT events on) each serve Prometheus
# /metrics; the documented series are there with HELP/TYPE and move with traffic, and a real
# mosquitto broker receives the edge's detection events (read with mosquitto_sub).
# usage: metrics_cli.sh EDGECAM SOURCE_DIR
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d /tmp/edgecam-metrics.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; for f in "$tmp"/*.out "$tmp"/*.err; do echo "== $f"; tail -20 "$f"; done >&2; exit 1; }

wait_url() {
    for _ in $(seq 1 200); do
        url=$(grep -o 'listening on [a-z:/]*[0-9.]*:[0-9]*' "$1" 2>/dev/null | head -1 |
              sed 's/listening on //; s#^\([0-9]\)#http://\1#' || true)
        if [ -n "$url" ]; then echo "$url"; return 0; fi
        sleep 0.05
    done
    return 1
}
# value NAME{LABELS} from a scrape file ("" when absent)
value() { awk -v k="$2" '!/^#/ { v = $NF; sub(/ [^ ]*$/, ""); if ($0 == k) { print v; exit } }' "$1"; }
scrape() { curl -sf "$1/metrics" > "$2" || fail "GET $1/metrics"; }
# a series must be present with a HELP and TYPE line for its family
has() {
    grep -q "^# TYPE $2 $3\$" "$1" || fail "$1: no '# TYPE $2 $3'"
    grep -q "^# HELP $2 " "$1" || fail "$1: no HELP for $2"
}
gt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 > b + 0) }'; }

command -v mosquitto_sub > /dev/null || fail "mosquitto-clients not installed"
mosq=$(command -v mosquitto || echo /usr/sbin/mosquitto)
[ -x "$mosq" ] || fail "mosquitto not installed"

# A broker on a free port (retry on the rare port race).
for _ in 1 2 3 4 5; do
    mport=$((20000 + RANDOM % 30000))
    (exec 3<> "/dev/tcp/127.0.0.1/$mport") 2> /dev/null && continue
    printf 'listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mport" > "$tmp/mosq.conf"
    "$mosq" -c "$tmp/mosq.conf" > "$tmp/mosq.out" 2> "$tmp/mosq.err" &
    mpid=$!
    for _ in $(seq 1 100); do
        (exec 3<> "/dev/tcp/127.0.0.1/$mport") 2> /dev/null && break
        sleep 0.05
    done
    if kill -0 "$mpid" 2> /dev/null; then pids+=("$mpid"); break; fi
    mpid=""
done
[ -n "${mpid:-}" ] || fail "mosquitto did not start"

cat > "$tmp/cfg.yaml" <<YAML
models:
  dir: $src/models
store:
  path: $tmp/results.db
cloud:
  listen: {port: 0}
backend:
  listen: {port: 0}
  workers: 1
  models:
    - {name: golden, path: golden.safetensors}
edge:
  edge_id: m-1
  listen: {port: 0}
  source: {realtime: false}
policy:
  name: always_cloud_lowest_delay
mqtt:
  enabled: true
  port: $mport
  topic_prefix: home
  qos: 1
YAML

"$bin" cloud -c "$tmp/cfg.yaml" > "$tmp/cloud.out" 2> "$tmp/cloud.err" &
pids+=($!)
"$bin" backend -c "$tmp/cfg.yaml" > "$tmp/backend.out" 2> "$tmp/backend.err" &
pids+=($!)
cloud=$(wait_url "$tmp/cloud.out") || fail "cloud did not start"
backend=$(wait_url "$tmp/backend.out") || fail "backend did not start"
cat >> "$tmp/cfg.yaml" <<YAML
gateway:
  listen: {port: 0}
  monitor_interval: 0.2
  backends:
    - {name: b1, url: "$backend"}
YAML
"$bin" gateway -c "$tmp/cfg.yaml" > "$tmp/gateway.out" 2> "$tmp/gateway.err" &
pids+=($!)
gateway=$(wait_url "$tmp/gateway.out") || fail "gateway did not start"

# Every process kind answers /metrics before traffic.
scrape "$cloud" "$tmp/cloud0.prom"
scrape "$backend" "$tmp/backend0.prom"
scrape "$gateway" "$tmp/gateway0.prom"
has "$tmp/cloud0.prom" edgecam_model_version gauge
has "$tmp/cloud0.prom" edgecam_infer_queue_length gauge
has "$tmp/backend0.prom" edgecam_infer_requests_total counter
has "$tmp/backend0.prom" edgecam_infer_rejected_total counter
has "$tmp/gateway0.prom" edgecam_gateway_requests_total counter
has "$tmp/gateway0.prom" edgecam_gateway_backend_request_seconds histogram
[ "$(value "$tmp/cloud0.prom" 'edgecam_model_version{role="cloud",model="golden",lineage="golden"}')" = 1 ] ||
    fail "cloud model version"

# Events: subscribe before the edge starts.
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'home/#' -v -C 3 -W 60 > "$tmp/sub.out" 2> "$tmp/sub.err" &
subpid=$!
sleep 0.3

"$bin" edge -c "$tmp/cfg.yaml" --cloud "$gateway" \
    --source "synth://day?frames=0&width=320&height=192" > "$tmp/edge.out" 2> "$tmp/edge.err" &
epid=$!
pids+=($epid)
eport=""
for _ in $(seq 1 200); do
    eport=$(sed -n 's/.*serving peers on port \([0-9]*\).*/\1/p' "$tmp/edge.err" | head -1)
    [ -n "$eport" ] && break
    sleep 0.05
done
[ -n "$eport" ] || fail "edge did not start"
edge="http://127.0.0.1:$eport"

wait "$subpid" || fail "mosquitto_sub got fewer than 3 detection events"
sleep 0.5
scrape "$edge" "$tmp/edge1.prom"
sleep 1
scrape "$edge" "$tmp/edge2.prom"
for fam in edgecam_edge_frames_total edgecam_edge_outcomes_total edgecam_edge_decisions_total \
           edgecam_edge_sent_bytes_total edgecam_edge_queue_dropped_total edgecam_mqtt_published_total \
           edgecam_mqtt_dropped_total edgecam_http_requests_total; do
    has "$tmp/edge2.prom" "$fam" counter
done
has "$tmp/edge2.prom" edgecam_edge_queue_length gauge
has "$tmp/edge2.prom" edgecam_edge_fps gauge
has "$tmp/edge2.prom" edgecam_edge_infer_seconds histogram
has "$tmp/edge2.prom" edgecam_model_version gauge
f1=$(value "$tmp/edge1.prom" 'edgecam_edge_frames_total{edge="m-1"}')
f2=$(value "$tmp/edge2.prom" 'edgecam_edge_frames_total{edge="m-1"}')
gt "$f2" "$f1" || fail "edge frames did not grow between scrapes ($f1 -> $f2)"
gt "$(value "$tmp/edge2.prom" 'edgecam_edge_decisions_total{edge="m-1",dest="cloud"}')" 0 ||
    fail "no cloud decision"
gt "$(value "$tmp/edge2.prom" 'edgecam_edge_sent_bytes_total{edge="m-1"}')" 0 || fail "no bytes sent"
gt "$(value "$tmp/edge2.prom" 'edgecam_edge_fps{edge="m-1"}')" 0 || fail "fps is 0"
gt "$(value "$tmp/edge2.prom" 'edgecam_mqtt_published_total')" 2 || fail "mqtt published"
[ "$(value "$tmp/edge2.prom" 'edgecam_mqtt_connected')" = 1 ] || fail "mqtt not connected"

# The traffic shows on the gateway and the backend behind it.
scrape "$gateway" "$tmp/gateway1.prom"
scrape "$backend" "$tmp/backend1.prom"
gt "$(value "$tmp/gateway1.prom" 'edgecam_gateway_requests_total')" 0 || fail "gateway saw no request"
gt "$(value "$tmp/gateway1.prom" 'edgecam_gateway_backend_request_seconds_count{backend="b1"}')" 0 ||
    fail "gateway latency histogram empty"
gt "$(value "$tmp/backend1.prom" 'edgecam_infer_requests_total{role="backend",model="golden"}')" 0 ||
    fail "backend inferred nothing"
gt "$(value "$tmp/backend1.prom" 'edgecam_http_received_bytes_total{route="POST /v1/infer"}')" 0 ||
    fail "backend received no bytes"

# The cloud's counters move with a request too.
ffmpeg -loglevel error -f lavfi -i testsrc=size=64x48 -frames:v 1 -y "$tmp/f.jpg"
curl -sf -H 'Content-Type: image/jpeg' -H 'X-Edgecam-Edge: t' -H 'X-Edgecam-Frame: 1' \
    --data-binary @"$tmp/f.jpg" "$cloud/v1/infer" > /dev/null || fail "cloud infer"
scrape "$cloud" "$tmp/cloud1.prom"
[ "$(value "$tmp/cloud1.prom" 'edgecam_infer_requests_total{role="cloud",model="golden"}')" = 1 ] ||
    fail "cloud inference not counted"

# Events: topic and payload as documented.
grep -q '^home/m-1/detections {"edge":"m-1","frame":[0-9]*,"t":[0-9.]*,"detections":\[{"class":[0-9]*,"score":[0-9.]*,"box":\[' \
    "$tmp/sub.out" || fail "unexpected event: $(head -1 "$tmp/sub.out")"

kill -TERM "$epid"
wait "$epid" || fail "edge exited $? after SIGTERM"
grep -q "mqtt: [0-9]* events published" "$tmp/edge.err" || fail "no mqtt summary"
echo "ok: metrics on cloud, backend, gateway, edge; $(wc -l < "$tmp/sub.out") events read"
