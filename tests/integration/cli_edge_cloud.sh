#!/usr/bin/env bash
# The real binaries on loopback: `edgecam cloud` on a free port, then `edgecam edge` over a
# synthetic video offloading to it, then SIGTERM to an endless edge. Checks exit codes and that
# the store holds exactly one row per frame read. Usage: cli_edge_cloud.sh EDGECAM SOURCE_DIR
set -euo pipefail
EDGECAM=$1
SRC=$2
work=$(mktemp -d /tmp/edgecam-cli.XXXXXX)
cloud_pid=""
cleanup() {
    [ -n "$cloud_pid" ] && kill "$cloud_pid" 2>/dev/null && wait "$cloud_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

cat >"$work/cfg.yaml" <<YAML
models:
  dir: $SRC/models
store:
  path: $work/results.db
cloud:
  listen: {port: 0}
retrain:
  cache_dir: $work/cloud-cache
edge:
  listen: {port: 0}
  source: {realtime: false}
YAML

"$EDGECAM" cloud -c "$work/cfg.yaml" >"$work/cloud.out" 2>"$work/cloud.err" &
cloud_pid=$!
for _ in $(seq 100); do
    grep -q "listening on" "$work/cloud.out" 2>/dev/null && break
    sleep 0.1
done
port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$work/cloud.out")
[ -n "$port" ] || { echo "cloud did not start"; cat "$work/cloud.err"; exit 1; }

# 1. A finite video, every key frame offloaded to the cloud.
"$EDGECAM" edge -c "$work/cfg.yaml" --edge-id cli-a --policy always_cloud_lowest_delay \
    --cloud "http://127.0.0.1:$port" --source "synth://day?frames=40&width=320&height=192" \
    >"$work/edge.out" 2>"$work/edge.err" || { cat "$work/edge.err"; exit 1; }
rows=$(sqlite3 "$work/results.db" "select count(*) from frames where edge_id='cli-a'")
cloud=$(sqlite3 "$work/results.db" "select count(*) from frames where edge_id='cli-a' and processed_at='cloud'")
[ "$rows" = 40 ] || { echo "expected 40 rows, got $rows"; exit 1; }
[ "$cloud" -gt 0 ] || { echo "no frame was processed in the cloud"; cat "$work/edge.err"; exit 1; }
grep -q "40 frames" "$work/edge.out" || { echo "summary missing"; cat "$work/edge.out"; exit 1; }

# 2. An endless camera stopped by SIGTERM: exit 0 and every frame read has its row.
"$EDGECAM" edge -c "$work/cfg.yaml" --edge-id cli-b --policy edge_local \
    --source "synth://day?frames=0&width=320&height=192" >"$work/edge2.out" 2>"$work/edge2.err" &
edge_pid=$!
sleep 2
kill -TERM "$edge_pid"
wait "$edge_pid" || { echo "edge exited $? after SIGTERM"; cat "$work/edge2.err"; exit 1; }
read_frames=$(sed -n 's/^edge cli-b: \([0-9]*\) frames.*/\1/p' "$work/edge2.out")
rows=$(sqlite3 "$work/results.db" "select count(*) from frames where edge_id='cli-b'")
[ -n "$read_frames" ] && [ "$read_frames" -gt 0 ] && [ "$rows" = "$read_frames" ] ||
    { echo "read $read_frames frames, stored $rows"; cat "$work/edge2.out"; exit 1; }

# 3. A bad config is a usage error (exit 2) naming the key.
printf 'edge:\n  source:\n    interval: zero\n' >"$work/bad.yaml"
set +e
"$EDGECAM" edge -c "$work/bad.yaml" 2>"$work/bad.err"
rc=$?
set -e
[ "$rc" = 2 ] && grep -q "edge.source.interval" "$work/bad.err" || { echo "bad config: rc $rc"; cat "$work/bad.err"; exit 1; }
# 4. Continuous learning end to end: the edge's drift collector sends its least confident
# frames every 2 s of video to the cloud, which labels them with the golden model, fine-tunes
# that edge's model and records the round; the edge installs any better model.
cat >"$work/cl.yaml" <<YAML
models:
  dir: $SRC/models
store:
  path: $work/results.db
edge:
  listen: {port: 0}
  source: {realtime: false}
retrain:
  window: 2
  collect_num: 6
  select_num: 4
  num_epoch: 1
  cache_dir: $work/cache
YAML
"$EDGECAM" edge -c "$work/cl.yaml" --edge-id cli-c --policy edge_local \
    --cloud "http://127.0.0.1:$port" --source "synth://day-to-night?frames=100&fps=10&width=320&height=192" \
    >"$work/edge3.out" 2>"$work/edge3.err" || { cat "$work/edge3.err"; exit 1; }
done_rounds=$(sed -n 's/^edge cli-c: retraining: \([0-9]*\) rounds done.*/\1/p' "$work/edge3.out")
stored=$(sqlite3 "$work/results.db" "select count(*) from retrain_rounds where edge_id='cli-c'")
versions=$(sqlite3 "$work/results.db" "select count(*) from model_versions")
[ -n "$done_rounds" ] && [ "$done_rounds" -ge 2 ] && [ "$stored" = "$done_rounds" ] && [ "$versions" -ge 1 ] ||
    { echo "retraining: $done_rounds rounds done, $stored stored, $versions versions"; cat "$work/edge3.out" "$work/edge3.err"; exit 1; }
echo "cli edge/cloud: ok ($read_frames frames recorded after SIGTERM, $done_rounds retraining rounds)"
