#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each for SECONDS
# (default 60) on its seed corpus in tests/fuzz/corpus. Fails on any crash, leak, hang or
# sanitizer report; the input that triggered it is left in build-fuzz/fuzz/artifacts.
#   usage: scripts/fuzz.sh [SECONDS]      (EDGECAM_FUZZ_BUILD overrides the build folder)
set -euo pipefail

secs="${1:-60}"
case "$secs" in '' | *[!0-9]*) echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2 ;; esac
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${EDGECAM_FUZZ_BUILD:-$root/build-fuzz}"
targets=(fuzz_wire fuzz_jpeg fuzz_config fuzz_model)

command -v clang >/dev/null || { echo "fuzz.sh: clang not installed (scripts/install-deps.sh --test)" >&2; exit 1; }
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DEDGECAM_FUZZ=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
out="$build/fuzz"
failed=0
summary=()
for t in "${targets[@]}"; do
  corpus="${t#fuzz_}"
  mkdir -p "$out/corpus/$corpus" "$out/artifacts"
  log="$out/$t.log"
  echo "== $t: ${secs}s"
  rc=0
  "$out/$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/$t-" "$out/corpus/$corpus" "$root/tests/fuzz/corpus/$corpus" \
    >"$log" 2>&1 || rc=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
  if [ "$rc" -ne 0 ]; then
    failed=1
    echo "fuzz.sh: $t FAILED (exit $rc); last lines of $log:" >&2
    tail -40 "$log" >&2
  fi
  summary+=("$t: exit $rc, ${execs:-?} execs, ${cov:-cov: ?}")
done
printf '%s\n' "${summary[@]}"
exit "$failed"
