#!/usr/bin/env bash
# Builds the runtime tests (protocol, Session, layout equivalence) with a
# sanitizer and runs them:
#   scripts/sanitize.sh [thread|address]      (default: thread)
# The build goes to build-<sanitizer>/ (OFL_SANITIZER=...). ThreadSanitizer
# reads tests/runtime/tsan.supp: it suppresses only reports inside oneDNN,
# which Debian ships without TSan instrumentation.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer=${1:-thread}
case "$sanitizer" in
  thread|address) ;;
  *) echo "scripts/sanitize.sh: expected 'thread' or 'address', got '$sanitizer'" >&2; exit 2 ;;
esac
scripts/setup.sh --no-build
build_dir="build-$sanitizer"
cmake -S . -B "$build_dir" -G Ninja -DOFL_SANITIZER="$sanitizer" -DOFL_BUILD_BENCH=OFF -DOFL_WITH_CUDA=OFF >/dev/null
ninja -C "$build_dir" -j "${OFL_JOBS:-$(nproc)}" runtime_test micro_batch_runtime_test session_test equivalence_test pipeline_test
export TSAN_OPTIONS="suppressions=$PWD/tests/runtime/tsan.supp halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
for test in runtime_test micro_batch_runtime_test session_test equivalence_test pipeline_test; do
  echo "== $test under $sanitizer sanitizer"
  "$build_dir/tests/$test" --gtest_brief=1
done
echo "runtime tests clean under the $sanitizer sanitizer"
