// Intra-op parallelism for CPU kernels (OpenMP underneath, like oneDNN).
#pragma once

#include <cstdint>

namespace ofl {

/// Threads CPU kernels may use: the count given to SetCpuThreadCount, else
/// OpenMP's default (OMP_NUM_THREADS, else the core count).
int CpuThreadCount();
/// Sets the thread count of CPU kernels for every thread of the process.
void SetCpuThreadCount(int threads);
/// Applies CpuThreadCount() to the calling thread's OpenMP setting, which
/// oneDNN reads: a thread that runs kernels (a runtime stream thread) calls
/// it once when it starts.
void AdoptCpuThreadCount();

/// Calls fn(begin, end) over [0, n) in chunks of at least `grain` items,
/// in parallel when that is worth it. fn must be safe to run concurrently
/// on disjoint ranges.
template <typename Fn>
void ParallelFor(int64_t n, int64_t grain, Fn&& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks <= 1 || CpuThreadCount() <= 1) {
    fn(int64_t{0}, n);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(CpuThreadCount())
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t begin = c * grain;
    const int64_t end = begin + grain < n ? begin + grain : n;
    fn(begin, end);
  }
}

}  // namespace ofl
