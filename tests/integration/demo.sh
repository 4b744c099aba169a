#!/usr/bin/env bash
# `edgecam demo --quick`: the whole deployment (cloud, gateway, 2 backends, 2 edges as child
# processes) on loopback, then the report. Checks the exit code, the tables, report.html, that an
# annotated JPEG decodes, that every frame each edge read has exactly one row with one outcome,
# that SIGINT still writes a report and leaves no child behind, and the clear errors for a busy
# port and a missing model. Usage: demo.sh EDGECAM
set -euo pipefail
EDGECAM=$1
work=$(mktemp -d /tmp/edgecam-demo-test.XXXXXX)
holder=""
cleanup() {
    if [ -n "$holder" ]; then kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

# 1. A quick run ends with exit 0, the tables and the report.
out=$work/quick
"$EDGECAM" demo --quick --out "$out" >"$work/quick.out" 2>"$work/quick.err" ||
    { cat "$work/quick.err"; fail "demo --quick exited $?"; }
for row in "== per policy" "== per edge" "== per phase and edge" edge_local edge_cloud_assisted \
           adaptive always_cloud_lowest_delay "== retrain rounds" "report: $out/report.html"; do
    grep -qF -- "$row" "$work/quick.out" || { cat "$work/quick.out"; fail "table lacks '$row'"; }
done
grep -q "phase 1/2" "$work/quick.err" || fail "no progress on stderr"
html=$out/report.html
[ -s "$html" ] || fail "no report.html"
for row in "<td>edge_local</td>" "<td>always_cloud_lowest_delay</td>" "<td>edge-1</td>" \
           "<td>edge-2</td>" "<td>1 edge-1 edge_local</td>" "<svg" "frames/phase1-edge-1-"; do
    grep -qF -- "$row" "$html" || fail "report.html lacks '$row'"
done
jpegs=$(ls "$out"/frames/*.jpg | wc -l)
[ "$jpegs" -ge 8 ] || fail "expected >= 8 annotated frames, got $jpegs"
first=$(ls "$out"/frames/*.jpg | head -1)
ffmpeg -v error -i "$first" -f null - || fail "$first does not decode"
# Every frame read has exactly one row, numbered 0..n-1, with a known outcome.
for log in "$out"/run/phase*-edge-*.log; do
    name=$(basename "$log" .log)
    edge=${name#phase?-}
    read_frames=$(sed -n "s/^edge $edge: \([0-9]*\) frames in.*/\1/p" "$log")
    [ -n "$read_frames" ] && [ "$read_frames" -gt 0 ] || fail "$name: no summary line"
    stats=$(sqlite3 "$out/run/$name.db" "select count(*), count(distinct frame_index),
        min(frame_index), max(frame_index) from frames where edge_id='$edge'")
    [ "$stats" = "$read_frames|$read_frames|0|$((read_frames - 1))" ] ||
        fail "$name: read $read_frames frames, rows (count|distinct|min|max) $stats"
    other=$(sqlite3 "$out/run/$name.db" "select count(*) from frames where outcome not in
        ('finished','ref','timeout','dropped')")
    [ "$other" = 0 ] || fail "$name: $other rows without a known outcome"
done

# 2. SIGINT mid-run: children stopped, report of what ran written, exit 0, nothing left over.
out2=$work/stopped
"$EDGECAM" demo --frames 400 --snapshots 1 --out "$out2" >"$work/int.out" 2>"$work/int.err" &
demo_pid=$!
for _ in $(seq 600); do
    grep -q "phase 1/2" "$work/int.err" 2>/dev/null && break
    sleep 0.1
done
kill -INT "$demo_pid"
rc=0
wait "$demo_pid" || rc=$?
[ "$rc" = 0 ] || { cat "$work/int.err"; fail "interrupted demo exited $rc"; }
grep -q "interrupted" "$out2/report.html" || fail "no report after SIGINT"
sleep 0.5
if pgrep -f "$out2/run/" >/dev/null; then
    pgrep -af "$out2/run/"
    fail "children left behind after SIGINT"
fi

# 3. A busy port is a clear usage error (exit 2).
python3 -c 'import socket,sys,time
s=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(1)
print(s.getsockname()[1], flush=True); time.sleep(120)' >"$work/port" &
holder=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
busy=$(cat "$work/port")
rc=0
"$EDGECAM" demo --quick --base-port "$busy" --out "$work/busy" 2>"$work/busy.err" || rc=$?
[ "$rc" = 2 ] && grep -q "port $busy .*busy" "$work/busy.err" ||
    { cat "$work/busy.err"; fail "busy port: exit $rc"; }

# 4. An output directory that already holds a run is refused (exit 2): its stores would clash.
rc=0
"$EDGECAM" demo --quick --out "$out" 2>"$work/again.err" || rc=$?
[ "$rc" = 2 ] && grep -q "already holds a demo run" "$work/again.err" ||
    { cat "$work/again.err"; fail "reused output directory: exit $rc"; }

# 5. A missing model is a clear usage error (exit 2), before anything starts.
printf 'models:\n  dir: /nonexistent\n  edge: nope\nedge:\n  source:\n    uri: "synth://day?frames=10"\n' \
    >"$work/nomodel.yaml"
rc=0
"$EDGECAM" demo -c "$work/nomodel.yaml" --out "$work/nomodel" 2>"$work/nomodel.err" || rc=$?
[ "$rc" = 2 ] && grep -q "model file missing" "$work/nomodel.err" ||
    { cat "$work/nomodel.err"; fail "missing model: exit $rc"; }
[ ! -e "$work/nomodel" ] || fail "output written although a model is missing"
echo "demo: ok ($jpegs annotated frames)"
