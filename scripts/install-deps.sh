#!/usr/bin/env bash
# Installs every Debian package edgecam needs to build, run and test.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git ca-certificates
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev libavdevice-dev ffmpeg
  libturbojpeg0-dev libopenblas-dev libmicrohttpd-dev libcurl4-openssl-dev
  libsqlite3-dev sqlite3 libmariadb-dev mariadb-server mariadb-client
  libyaml-dev libcjson-dev libcmocka-dev
  libmosquitto-dev
)
# Test oracles only (never used by the product at run time).
TEST_PKGS=(python3 python3-numpy python3-opencv python3-torch clang libclang-rt-14-dev openssl curl
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  mosquitto mosquitto-clients)

want=("${PKGS[@]}")
if [ "${1:-}" = "--test" ]; then want+=("${TEST_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
