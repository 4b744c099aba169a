#!/usr/bin/env bash
# Installs dependencies, then builds and runs the whole test suite three ways:
# plain (Release, as scripts/demo.sh builds), AddressSanitizer+UBSan (everything), ThreadSanitizer (threaded tests),
# then runs each libFuzzer target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc 2>/dev/null || echo 2)

bash scripts/install-deps.sh --test

run_suite() { # build-dir sanitizer [ctest args...]
    local dir=$1 san=$2
    shift 2
    echo "=== edgecam tests: ${san:-plain} build in $dir ==="
    # Plain is the Release build scripts/demo.sh makes (-O3 finds warnings -O2 does not).
    local type=RelWithDebInfo
    [ -z "$san" ] && type=Release
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=$type -DEDGECAM_SANITIZE="$san" >/dev/null
    cmake --build "$dir" -j "$JOBS"
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@")
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# Debian's FFmpeg is not built with TSan: tests/tsan.supp silences its internal handoffs.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp"

run_suite build ""
run_suite build-asan address -LE no_asan
run_suite build-tsan thread -L threaded
# libFuzzer (clang): each target for EDGECAM_FUZZ_SECONDS (60 by default: issue 7's bar).
echo "=== edgecam tests: fuzzing ==="
bash scripts/fuzz.sh "${EDGECAM_FUZZ_SECONDS:-60}"
echo "=== edgecam tests: all suites passed ==="
