#!/usr/bin/env bash
# Fault tests with the real processes on loopback: one component is killed with SIGKILL in
# the middle of a run, then restarted. Whatever dies, nothing already recorded is lost, every
# frame the edge read ends in exactly one stored outcome, and the work resumes.
#
# usage: faults.sh EDGECAM SOURCE_DIR CASE
#   cloud     the cloud dies while the edge offloads: the edge falls back to local (recorded),
#             then offloads again once the cloud is back
#   gateway   the same with the edge offloading through a gateway to two backends
#   backend   one of three backends behind the gateway dies: no request is lost, the others
#             take the traffic; restarted, it is readmitted and serves again
#   database  the edge records into a real mariadbd that dies: outcomes wait in the edge and
#             are written once the server is back on the same port and datadir
#   rtsp      the edge reads a real RTSP server (GStreamer) that dies: the edge reconnects and
#             keeps reading; SIGTERM then drains it and it exits 0
# Exit 77 (skipped) only when a tool the case needs is not installed.
set -euo pipefail
EDGECAM=${1:?usage: faults.sh EDGECAM SOURCE_DIR CASE}
SRC=${2:?}
CASE=${3:?}
PY=/usr/bin/python3
PATH=$PATH:/usr/sbin:/usr/local/sbin
EDGE_ID=fault-edge
# Generous bounds for a loaded 2-core machine under ASan: every wait polls its condition.
WAIT_S=${FAULTS_WAIT_S:-60}

work=$(mktemp -d "/tmp/edgecam-faults-$CASE.XXXXXX")
declare -A pid=()
[ -e "$EDGECAM" ] && EDGECAM=$(realpath "$EDGECAM")
SRC=$(realpath "$SRC")
cd "$work" # whatever a process writes next to itself (retraining caches...) stays in here

cleanup() {
    for name in "${!pid[@]}"; do
        kill -9 "${pid[$name]}" 2>/dev/null || true
    done
    for name in "${!pid[@]}"; do
        wait "${pid[$name]}" 2>/dev/null || true
    done
    [ -n "${FAULTS_KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' TERM INT

fail() {
    echo "FAIL ($CASE): $*" >&2
    for f in "$work"/*.out "$work"/*.err "$work"/*.log; do
        [ -s "$f" ] || continue
        echo "--- $f (last 25 lines)" >&2
        tail -25 "$f" >&2
    done
    exit 1
}

skip() {
    echo "SKIP ($CASE): $*"
    exit 77
}

need() {
    for tool in "$@"; do
        command -v "$tool" >/dev/null 2>&1 || skip "$tool not installed"
    done
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# wait_until SECONDS DESCRIPTION CMD...: polls CMD every 0.1 s.
wait_until() {
    local limit=$1 what=$2
    shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for: $what"
        sleep 0.1
    done
}

alive() { kill -0 "${pid[$1]}" 2>/dev/null; }

# Process NAME must still run (it is the one that must survive the fault).
must_run() { alive "$1" || fail "$1 exited during the fault"; }

kill9() {
    kill -9 "${pid[$1]}"
    wait "${pid[$1]}" 2>/dev/null || true
    unset "pid[$1]"
}

# SIGTERM to every server still running: edgecam ones must stop cleanly with 0 (under ASan
# that also checks them for leaks and memory errors).
stop_servers() {
    local name rc
    for name in "${!pid[@]}"; do
        kill -TERM "${pid[$name]}" 2>/dev/null || true
    done
    for name in "${!pid[@]}"; do
        rc=0
        wait "${pid[$name]}" || rc=$?
        unset "pid[$name]"
        case "$name" in
        rtsp | mariadbd) ;;
        *) [ "$rc" = 0 ] || fail "$name exited $rc after SIGTERM" ;;
        esac
    done
}

# Counts rows of the edge's frames matching an SQL condition.
rows() { sql "SELECT COUNT(*) FROM frames WHERE edge_id = '$EDGE_ID' AND ($1)"; }
rows_at_least() { # false, not an error, while the store is still being created
    local count
    count=$(rows "$1" 2>/dev/null) || return 1
    [ -n "$count" ] && [ "$count" -ge "$2" ]
}

# ---- processes ----

# True once NAME printed "listening on" to FILE; fails at once if NAME died instead.
listening() {
    grep -qs "listening on" "$2" && return 0
    alive "$1" || fail "$1 exited during start-up"
    return 1
}

# start_server NAME LOGBASE CMD...: runs CMD in the background and waits until it listens.
start_server() {
    local name=$1 log=$2
    shift 2
    "$@" >"$work/$log.out" 2>"$work/$log.err" &
    pid[$name]=$!
    wait_until "$WAIT_S" "$name to listen" listening "$name" "$work/$log.out"
}

edge_config() { # CLOUD_URL POLICY SOURCE_URI [STORE_YAML]
    local store_yaml="{kind: sqlite, path: \"$work/results.db\"}"
    [ $# -lt 4 ] || store_yaml=$4
    cat >"$work/edge.yaml" <<YAML
log: {level: info}
models: {dir: "$SRC/models"}
store: $store_yaml
retrain: {enabled: false}
filter: {diff_flag: false}
policy: {name: $2}
edge:
  edge_id: $EDGE_ID
  listen: {port: 0}
  cloud_url: "$1"
  peer_exchange_interval_ms: 100
  wait_thresh: 100
  source:
    uri: "$3"
    interval: 1
    realtime: true
    io_timeout_ms: 2000
    reconnect_max: 50
    backoff_initial_ms: 100
    backoff_max_ms: 500
YAML
}

start_edge() {
    "$EDGECAM" edge -c "$work/edge.yaml" >"$work/edge.out" 2>"$work/edge.err" &
    pid[edge]=$!
}

SYNTH="synth://street?frames=0&width=256&height=160&fps=10"

# SIGTERM to the edge: it must drain and exit 0. Sets edge_frames to the frames it read.
stop_edge() {
    kill -TERM "${pid[edge]}"
    local rc=0
    wait "${pid[edge]}" || rc=$?
    unset "pid[edge]"
    [ "$rc" = 0 ] || fail "edge exited $rc after SIGTERM"
    edge_frames=$(sed -n "s/^edge $EDGE_ID: \([0-9]*\) frames.*/\1/p" "$work/edge.out")
    [ -n "$edge_frames" ] && [ "$edge_frames" -gt 0 ] || fail "no edge summary"
}

summary_field() { # "N fallbacks" -> N
    sed -n "s/.* \([0-9]*\) $1.*/\1/p" "$work/edge.out" | head -1
}

# Every frame read (0..N-1) has exactly one row with an outcome.
check_one_outcome_per_frame() {
    local n=$1
    local got
    got=$(sql "SELECT COUNT(*), COUNT(DISTINCT frame_index), MIN(frame_index), MAX(frame_index),
               SUM(outcome IN ('finished', 'ref', 'timeout', 'dropped'))
               FROM frames WHERE edge_id = '$EDGE_ID'" | tr '\t|' '  ')
    [ "$got" = "$n $n 0 $((n - 1)) $n" ] ||
        fail "edge read $n frames; store has (rows distinct min max with-outcome) $got"
}

# Rows seen before the fault must be there, unchanged, at the end.
snapshot() {
    sql "SELECT frame_index, outcome, processed_at, start_ms, end_ms FROM frames
         WHERE edge_id = '$EDGE_ID' ORDER BY frame_index" >"$work/$1.rows"
    [ -s "$work/$1.rows" ] || fail "snapshot $1 is empty"
}
check_snapshot_kept() {
    local last
    last=$(tail -1 "$work/$1.rows" | cut -f1 | cut -d'|' -f1)
    sql "SELECT frame_index, outcome, processed_at, start_ms, end_ms FROM frames
         WHERE edge_id = '$EDGE_ID' AND frame_index <= $last ORDER BY frame_index" >"$work/$1.after"
    # Every row of the snapshot is still there (rows may have been added in between).
    local missing
    missing=$(comm -23 <(sort "$work/$1.rows") <(sort "$work/$1.after") | wc -l)
    [ "$missing" = 0 ] || fail "$missing rows recorded before the fault are gone or changed"
}

# ---- SQLite store (cloud, gateway, backend, rtsp) ----

sql_sqlite() { sqlite3 -cmd ".timeout 10000" "$work/results.db" "$1"; }

# ---- cases ----

# Kills the server the edge offloads to (cloud or gateway) and restarts it on its port.
offload_target_dies() {
    local name=$1 url=$2
    shift 2 # the restart command follows
    edge_config "$url" always_cloud_lowest_delay "$SYNTH"
    start_edge
    wait_until "$WAIT_S" "frames processed in the $name" rows_at_least "processed_at = 'cloud'" 5
    snapshot before
    kill9 "$name"
    # The edge falls back to its local model, and records those frames.
    wait_until "$WAIT_S" "local fallbacks after the $name died" \
        rows_at_least "processed_at = 'local'" 5
    must_run edge
    local in_cloud
    in_cloud=$(rows "processed_at = 'cloud'")
    start_server "$name" "$name.2" "$@"
    wait_until "$WAIT_S" "offloading to the restarted $name" \
        rows_at_least "processed_at = 'cloud'" $((in_cloud + 5))
    local n fallbacks local_rows
    stop_edge
    n=$edge_frames
    check_one_outcome_per_frame "$n"
    check_snapshot_kept before
    fallbacks=$(summary_field fallbacks)
    local_rows=$(rows "processed_at = 'local'")
    [ "$fallbacks" = "$local_rows" ] ||
        fail "summary says $fallbacks fallbacks, store has $local_rows local rows"
    result="$name killed and restarted: $n frames, $fallbacks local fallbacks,"
    result+=" $(rows "processed_at = 'cloud'") processed in the $name"
}

case_cloud() {
    sql() { sql_sqlite "$@"; }
    cat >"$work/cloud.yaml" <<YAML
models: {dir: "$SRC/models"}
cloud: {workers: 2}
YAML
    local port
    port=$(free_port)
    start_server cloud cloud.1 "$EDGECAM" cloud -c "$work/cloud.yaml" --port "$port"
    offload_target_dies cloud "http://127.0.0.1:$port" \
        "$EDGECAM" cloud -c "$work/cloud.yaml" --port "$port"
}

# N backends serving the golden model, and a gateway config in front of them.
start_backends() {
    local n=$1
    for i in $(seq "$n"); do
        local port
        port=$(free_port)
        cat >"$work/b$i.yaml" <<YAML
models: {dir: "$SRC/models"}
backend:
  listen: {address: 127.0.0.1, port: $port}
  workers: 1
  models:
    - {name: golden, path: "$SRC/models/golden.safetensors"}
YAML
        start_server "b$i" "b$i.1" "$EDGECAM" backend -c "$work/b$i.yaml"
        echo "    - {name: b$i, url: \"http://127.0.0.1:$port\"}" >>"$work/backends.yaml"
    done
    {
        printf 'gateway:\n  dispatch: round_robin\n  monitor_interval: 0.2\n  retry: true\n'
        printf '  backends:\n'
        cat "$work/backends.yaml"
    } >"$work/gateway.yaml"
}

gateway_status() { curl -sf --max-time 5 "$gw/v1/status"; }

# backend_field NAME FIELD: one field of a backend in the gateway's /v1/status.
backend_field() {
    gateway_status | "$PY" -c '
import json, sys
name, field = sys.argv[1], sys.argv[2]
for b in json.load(sys.stdin)["backends"]:
    if b["name"] == name:
        v = b[field]
        print(str(v).lower() if isinstance(v, bool) else int(v))' "$1" "$2"
}
gateway_field() {
    gateway_status | "$PY" -c 'import json, sys; print(int(json.load(sys.stdin)[sys.argv[1]]))' "$1"
}

case_gateway() {
    sql() { sql_sqlite "$@"; }
    need curl
    start_backends 2
    local port
    port=$(free_port)
    gw="http://127.0.0.1:$port"
    start_server gateway gateway.1 "$EDGECAM" gateway -c "$work/gateway.yaml" --port "$port"
    offload_target_dies gateway "$gw" "$EDGECAM" gateway -c "$work/gateway.yaml" --port "$port"
    local served
    served=$(gateway_field requests)
    [ "$served" -ge 5 ] || fail "the restarted gateway served $served requests"
    result+="; the restarted gateway forwarded $served requests"
}

backend_serves() { [ "$(backend_field "$1" requests)" -ge "$2" ]; }
backend_state() { # NAME HEALTHY EJECTED
    [ "$(backend_field "$1" healthy)" = "$2" ] && [ "$(backend_field "$1" ejected)" = "$3" ]
}

case_backend() {
    sql() { sql_sqlite "$@"; }
    need curl
    start_backends 3
    local port
    port=$(free_port)
    gw="http://127.0.0.1:$port"
    start_server gateway gateway.1 "$EDGECAM" gateway -c "$work/gateway.yaml" --port "$port"
    edge_config "$gw" always_cloud_lowest_delay "$SYNTH"
    start_edge
    for b in b1 b2 b3; do
        wait_until "$WAIT_S" "$b to serve requests" backend_serves "$b" 2
    done
    snapshot before
    kill9 b2
    wait_until "$WAIT_S" "the gateway to eject b2" backend_state b2 false true
    local b1_then b3_then in_cloud
    b1_then=$(backend_field b1 requests)
    b3_then=$(backend_field b3 requests)
    in_cloud=$(rows "processed_at = 'cloud'")
    # The others take the traffic.
    wait_until "$WAIT_S" "b1 and b3 to take b2's share" \
        rows_at_least "processed_at = 'cloud'" $((in_cloud + 8))
    backend_serves b1 $((b1_then + 2)) || fail "b1 did not take traffic after b2 died"
    backend_serves b3 $((b3_then + 2)) || fail "b3 did not take traffic after b2 died"
    must_run edge
    # Restarted on its port, b2 is readmitted and serves again.
    local b2_then
    b2_then=$(backend_field b2 requests)
    start_server b2 b2.2 "$EDGECAM" backend -c "$work/b2.yaml"
    wait_until "$WAIT_S" "the gateway to readmit b2" backend_state b2 true false
    wait_until "$WAIT_S" "b2 to serve again" backend_serves b2 $((b2_then + 2))
    local failed n fallbacks local_rows
    failed=$(gateway_field failed)
    stop_edge
    n=$edge_frames
    check_one_outcome_per_frame "$n"
    check_snapshot_kept before
    fallbacks=$(summary_field fallbacks)
    local_rows=$(rows "processed_at = 'local'")
    [ "$fallbacks" = "$local_rows" ] ||
        fail "summary says $fallbacks fallbacks, store has $local_rows local rows"
    # The gateway retried on another backend: no request failed back to the edge.
    [ "$failed" = 0 ] || fail "the gateway failed $failed requests"
    [ "$(rows "outcome = 'timeout'")" = 0 ] || fail "frames timed out"
    result="backend b2 killed and restarted: $n frames, $fallbacks fallbacks, gateway retries"
    result+=" $(gateway_field retries), b2 served $(backend_field b2 requests) requests in all"
}

# ---- MariaDB ----

mysql_q() {
    mariadb --no-defaults -h 127.0.0.1 -P "$db_port" -u edgecam -p"$db_password" -N -B \
        --connect-timeout=5 edgecam_faults -e "$1"
}

mariadb_ping() {
    mariadb-admin --no-defaults --socket="$work/sock" --user="$(id -un)" ping >/dev/null 2>&1
}

start_mariadbd() {
    mariadbd --no-defaults "${run_as[@]}" --datadir="$work/data" --socket="$work/sock" \
        --pid-file="$work/mariadbd.pid" --log-error="$work/mariadbd.log" \
        --bind-address=127.0.0.1 --port="$db_port" --skip-name-resolve \
        --innodb-buffer-pool-size=32M --innodb-log-file-size=16M --innodb-use-native-aio=0 \
        --open-files-limit=1024 --max-connections=32 --table-open-cache=256 &
    pid[mariadbd]=$!
    wait_until "$WAIT_S" "mariadbd to answer" \
        mariadb_ping
}

progress_lines() { grep -c "progress:" "$work/edge.err" || true; }
progress_lines_above() { [ "$(progress_lines)" -gt "$1" ]; }

case_database() {
    need mariadb-install-db mariadbd mariadb mariadb-admin
    run_as=()
    if [ "$(id -u)" -eq 0 ]; then run_as=(--user=root); fi
    db_port=$(free_port)
    db_password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
    mariadb-install-db --no-defaults "${run_as[@]}" --datadir="$work/data" --skip-test-db \
        --auth-root-authentication-method=socket >"$work/install.log" 2>&1 ||
        fail "mariadb-install-db failed"
    start_mariadbd
    mariadb --no-defaults --socket="$work/sock" --user="$(id -un)" -e "
        CREATE USER 'edgecam'@'127.0.0.1' IDENTIFIED BY '$db_password';
        GRANT ALL PRIVILEGES ON edgecam_faults.* TO 'edgecam'@'127.0.0.1';" ||
        fail "creating the database user failed"
    sql() { mysql_q "$@"; }
    edge_config "" edge_local "$SYNTH" "{kind: mysql, host: 127.0.0.1, port: $db_port,
    user: edgecam, password: \"$db_password\", database: edgecam_faults}"
    start_edge
    wait_until "$WAIT_S" "rows in MariaDB" rows_at_least "1" 20
    snapshot before
    kill9 mariadbd
    # The edge keeps reading; its outcomes wait for the store.
    wait_until "$WAIT_S" "the edge to notice the outage" \
        grep -qs "store unavailable" "$work/edge.err"
    must_run edge
    local progress_before
    progress_before=$(progress_lines)
    wait_until "$WAIT_S" "the edge to go on reading during the outage" \
        progress_lines_above "$progress_before"
    must_run edge
    start_mariadbd
    wait_until "$WAIT_S" "the edge to write its waiting outcomes" \
        grep -qs "store back" "$work/edge.err"
    local n
    stop_edge
    n=$edge_frames
    check_one_outcome_per_frame "$n"
    check_snapshot_kept before
    ! grep -qs "not stored" "$work/edge.err" || fail "the edge lost outcomes"
    # Outcomes of frames read during the outage waited in the edge and were written after.
    local waited before
    waited=$(sed -n 's/.*store back after .* writing \([0-9]*\) waiting outcomes.*/\1/p' \
        "$work/edge.err" | head -1)
    [ -n "$waited" ] && [ "$waited" -gt 0 ] || fail "no outcome waited for the store"
    before=$(wc -l <"$work/before.rows")
    result="mariadbd killed and restarted: $n frames, $before stored before the kill,"
    result+=" $waited waited for the server, every frame stored once"
}

# ---- RTSP ----

start_rtsp() {
    "$PY" "$SRC/tests/integration/rtsp_server.py" --port "$rtsp_port" --size 256x160 --fps 15 \
        --lifetime 300 >"$work/rtsp.$1.out" 2>"$work/rtsp.$1.err" &
    pid[rtsp]=$!
    wait_until "$WAIT_S" "the RTSP server" grep -qs "^PORT" "$work/rtsp.$1.out"
}

case_rtsp() {
    sql() { sql_sqlite "$@"; }
    "$PY" -c 'import gi; gi.require_version("GstRtspServer", "1.0")' 2>/dev/null ||
        skip "GStreamer RTSP server (gir1.2-gst-rtsp-server-1.0) not installed"
    rtsp_port=$(free_port)
    start_rtsp 1
    edge_config "" edge_local "rtsp://127.0.0.1:$rtsp_port/cam"
    start_edge
    wait_until "$WAIT_S" "frames from the RTSP server" rows_at_least "1" 20
    snapshot before
    kill9 rtsp
    wait_until "$WAIT_S" "the edge to try reconnecting" \
        grep -qs "reconnect attempt" "$work/edge.err"
    must_run edge
    local stored
    stored=$(rows "1")
    start_rtsp 2
    wait_until "$WAIT_S" "the edge to reconnect" grep -qs "reconnected after" "$work/edge.err"
    wait_until "$WAIT_S" "frames from the restarted server" rows_at_least "1" $((stored + 20))
    must_run edge
    local n
    stop_edge
    n=$edge_frames
    check_one_outcome_per_frame "$n"
    check_snapshot_kept before
    result="RTSP server killed and restarted: $n frames, $stored stored before the restart"
}

[ -x "$EDGECAM" ] || skip "$EDGECAM not built"
[ -x "$PY" ] || skip "$PY not installed"
need sqlite3
case "$CASE" in
cloud | gateway | backend | database | rtsp) "case_$CASE" ;;
*) echo "unknown case $CASE" >&2; exit 2 ;;
esac
stop_servers
echo "ok ($CASE): $result"
