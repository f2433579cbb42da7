#!/usr/bin/env bash
# Idempotent set-up: installs the Debian packages that are missing (only
# those), then configures and builds oneflow_like with Ninja and ccache.
#
#   scripts/setup.sh [--build-dir DIR] [--no-build] [extra cmake args...]
#
# Environment: OFL_BUILD_DIR (default build), OFL_JOBS (default nproc).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${OFL_BUILD_DIR:-build}
do_build=1
cmake_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --no-build) do_build=0; shift ;;
    *) cmake_args+=("$1"); shift ;;
  esac
done

# Build and test dependencies, and what the benchmarks compare against.
packages=(
  cmake ninja-build ccache g++ pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libdnnl-dev libgoogle-glog-dev libgflags-dev libprotobuf-dev protobuf-compiler
  python3-numpy python3-pytest
  zlib1g-dev dataset-fashion-mnist fortunes
)
if [ "${OFL_WITH_TORCH:-0}" = 1 ]; then
  packages+=(python3-torch libopenblas0-pthread)
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing missing packages: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "$do_build" = 1 ] || exit 0

export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/ccache}
export CCACHE_BASEDIR=$PWD
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

# CUDA sources are compiled only when nvcc exists (OFL_WITH_CUDA defaults on then).
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}"
elif [ ${#cmake_args[@]} -gt 0 ]; then
  cmake -S . -B "$build_dir" "${cmake_args[@]}"
fi
cmake --build "$build_dir" -j "${OFL_JOBS:-$(nproc)}"
