#!/usr/bin/env bash
# The README's second command: set up, build, and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${OFL_BUILD_DIR:-build}
ctest --test-dir "$build_dir" --output-on-failure -j "${OFL_JOBS:-$(nproc)}" "$@"
