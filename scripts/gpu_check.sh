#!/usr/bin/env bash
# Run ON a lent GPU machine, from the repository root, with .gpu carried
# (made by scripts/gpu_bundle.sh): the CUDA tests, compute-sanitizer memcheck
# and racecheck, cuda_bench and the attention comparison with PyTorch, in one
# call. Logs and JSON go to $OUT (the device tool's folder) or /tmp/gpu_out;
# the tables print last. Exits non-zero if a test or a sanitizer check failed.
#   scripts/gpu_check.sh [BUILD_DIR]   (the build dir name used when bundling; default build)
set -uo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
out=${OUT:-/tmp/gpu_out}
bundle=/tmp/ofl_bundle
mkdir -p "$out" "$bundle" && tar -xzf .gpu/b.tar.gz -C "$bundle" || exit 2
bin="$bundle/$build_dir"
run() { "$bundle/run" "$@"; }
failed=()

nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv | tee "$out/gpu.txt"
for test in device_functors_test cuda_runtime_test cuda_op_harness_test; do
  run "$bin/tests/$test" --gtest_brief=1 > "$out/$test.log" 2>&1 || failed+=("$test")
  tail -n 4 "$out/$test.log"
done
# The sanitizers on the forward comparisons and the fast paths (the finite-
# difference gradient checks launch thousands of tiny kernels: too slow under
# the tools for one call).
filter='AllOps/CudaOpHarness.CudaKernelMatchesCpuKernel/*:FastPaths/*:CudaAttentionFastPath.*'
for tool in memcheck racecheck; do
  run compute-sanitizer --tool "$tool" --error-exitcode 86 "$bin/tests/cuda_op_harness_test" \
      --gtest_brief=1 --gtest_filter="$filter" > "$out/sanitizer_$tool.log" 2>&1 || failed+=("compute-sanitizer $tool")
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$out/sanitizer_$tool.log" | tail -n 2
done
run "$bin/bench/cuda_bench" --json "$out/cuda_bench.json" | tee "$out/cuda_bench.txt" || failed+=("cuda_bench")
python3 bench/attention_vs_torch.py --cuda-bench-json "$out/cuda_bench.json" --json "$out/attention_vs_torch.json" \
    | tee "$out/attention_vs_torch.txt" || failed+=("attention_vs_torch")
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all CUDA checks passed"
