#include "ops/matmul/dnnl_context.h"

namespace ofl {

dnnl::engine& DnnlCpuEngine() {
  // Leaked on purpose: kernels may run from threads that outlive static
  // destruction order guarantees, and the engine holds no external resource.
  static dnnl::engine* const engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  return *engine;
}

dnnl::stream& DnnlCpuStream() {
  thread_local dnnl::stream stream(DnnlCpuEngine());
  return stream;
}

dnnl::memory::dims DnnlDims(const Shape& shape) {
  return dnnl::memory::dims(shape.dims().begin(), shape.dims().end());
}

dnnl::memory::desc DnnlF32Desc(const dnnl::memory::dims& dims, const dnnl::memory::dims& strides) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc DnnlF32PlainDesc(const dnnl::memory::dims& dims) {
  dnnl::memory::dims strides(dims.size(), 1);
  for (int k = static_cast<int>(dims.size()) - 2; k >= 0; --k) strides[k] = strides[k + 1] * dims[k + 1];
  return DnnlF32Desc(dims, strides);
}

}  // namespace ofl
