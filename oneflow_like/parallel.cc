#include "oneflow_like/parallel.h"

#include <omp.h>

#include <atomic>

namespace ofl {

namespace {

// The count set by SetCpuThreadCount, shared by every thread (OpenMP's own
// setting is per thread, so kernels run by runtime threads would not see
// it); 0 until set. Process-wide like OpenMP's environment, not compiler or
// runtime state.
std::atomic<int> configured_threads{0};

}  // namespace

int CpuThreadCount() {
  const int configured = configured_threads.load(std::memory_order_relaxed);
  return configured > 0 ? configured : omp_get_max_threads();
}

void SetCpuThreadCount(int threads) {
  threads = threads < 1 ? 1 : threads;
  configured_threads.store(threads, std::memory_order_relaxed);
  omp_set_num_threads(threads);
}

void AdoptCpuThreadCount() { omp_set_num_threads(CpuThreadCount()); }

}  // namespace ofl
