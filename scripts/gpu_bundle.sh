#!/usr/bin/env bash
# Run here (no GPU needed): builds the CUDA tests and benchmark and packs them,
# with the libraries a bare GPU machine lacks, into .gpu/b.tar.gz (git-ignored
# through .git/info/exclude). Then, on a lent GPU machine, carry .gpu and run
# scripts/gpu_check.sh (docs/cuda.md).
#   scripts/gpu_bundle.sh [BUILD_DIR]   (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
targets=(tests/cuda_runtime_test tests/cuda_op_harness_test tests/device_functors_test bench/cuda_bench)
cmake --build "$build_dir" --target cuda_runtime_test cuda_op_harness_test device_functors_test cuda_bench
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.gpu/' "$exclude" 2>/dev/null || echo '/.gpu/' >> "$exclude"
mkdir -p .gpu
../shared/tools/gpu-bundle .gpu/b.tar.gz "${targets[@]/#/$build_dir/}"
ls -l .gpu/b.tar.gz
