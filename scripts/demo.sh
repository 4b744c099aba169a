#!/usr/bin/env bash
# Installs dependencies, builds edgecam and runs the main job: `edgecam demo` on embedded defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc 2>/dev/null || echo 2)"
exec ./build/edgecam demo "$@"
