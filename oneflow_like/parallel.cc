#include "oneflow_like/parallel.h"

#include <omp.h>

namespace ofl {

int CpuThreadCount() { return omp_get_max_threads(); }

void SetCpuThreadCount(int threads) { omp_set_num_threads(threads < 1 ? 1 : threads); }

}  // namespace ofl
