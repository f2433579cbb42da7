// cuBLASLt, loaded on first use.
//
// libcublasLt is hundreds of MB; a process that links it pays 0.1-0.4 s at
// start-up for its relocations even if it never touches a GPU, and CI starts
// thousands of test processes that link the op library. So the project does
// not link it: these definitions of the cuBLASLt entry points the project
// calls resolve the real ones with dlopen/dlsym on the first call (the
// compiler checks each signature against cublasLt.h, which declares them).
// If the library cannot be loaded, every call returns
// CUBLAS_STATUS_NOT_INITIALIZED and the status strings say why.
#include <cublasLt.h>
#include <dlfcn.h>

#include <string>

namespace {

void* Library() {
  static void* const handle = [] {
    const std::string soname = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);
    void* loaded = dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
#ifdef OFL_CUDA_LIBRARY_DIR
    // Not on the loader's path: the toolkit this build found.
    if (loaded == nullptr)
      loaded = dlopen((std::string(OFL_CUDA_LIBRARY_DIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
#endif
    return loaded;
  }();
  return handle;
}

template <typename Function>
Function Resolve(const char* name) {
  void* library = Library();
  return library == nullptr ? nullptr : reinterpret_cast<Function>(dlsym(library, name));
}

constexpr const char* kNotLoaded =
    "libcublasLt could not be loaded (is the CUDA toolkit on the library path?)";

}  // namespace

// One forwarding definition per entry point: `params` and `args` spell the
// parameter list and the call's arguments.
#define OFL_CUBLASLT_ENTRY(ret, name, params, args, fallback) \
  ret CUBLASWINAPI name params {                              \
    static const auto real = Resolve<ret(*) params>(#name);   \
    if (real == nullptr) return fallback;                     \
    return real args;                                         \
  }

extern "C" {

OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtCreate, (cublasLtHandle_t * handle), (handle),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtDestroy, (cublasLtHandle_t handle), (handle),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(const char*, cublasLtGetStatusName, (cublasStatus_t status), (status), kNotLoaded)
OFL_CUBLASLT_ENTRY(const char*, cublasLtGetStatusString, (cublasStatus_t status), (status), kNotLoaded)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmul,
                   (cublasLtHandle_t handle, cublasLtMatmulDesc_t compute_desc, const void* alpha,
                    const void* a, cublasLtMatrixLayout_t a_desc, const void* b,
                    cublasLtMatrixLayout_t b_desc, const void* beta, const void* c,
                    cublasLtMatrixLayout_t c_desc, void* d, cublasLtMatrixLayout_t d_desc,
                    const cublasLtMatmulAlgo_t* algo, void* workspace, size_t workspace_bytes,
                    cudaStream_t stream),
                   (handle, compute_desc, alpha, a, a_desc, b, b_desc, beta, c, c_desc, d, d_desc, algo,
                    workspace, workspace_bytes, stream),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulAlgoGetHeuristic,
                   (cublasLtHandle_t handle, cublasLtMatmulDesc_t operation_desc,
                    cublasLtMatrixLayout_t a_desc, cublasLtMatrixLayout_t b_desc,
                    cublasLtMatrixLayout_t c_desc, cublasLtMatrixLayout_t d_desc,
                    cublasLtMatmulPreference_t preference, int requested,
                    cublasLtMatmulHeuristicResult_t results[], int* returned),
                   (handle, operation_desc, a_desc, b_desc, c_desc, d_desc, preference, requested, results,
                    returned),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulDescCreate,
                   (cublasLtMatmulDesc_t * desc, cublasComputeType_t compute_type, cudaDataType_t scale_type),
                   (desc, compute_type, scale_type), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulDescDestroy, (cublasLtMatmulDesc_t desc), (desc),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulDescSetAttribute,
                   (cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* buffer,
                    size_t bytes),
                   (desc, attr, buffer, bytes), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulPreferenceCreate, (cublasLtMatmulPreference_t * preference),
                   (preference), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulPreferenceDestroy, (cublasLtMatmulPreference_t preference),
                   (preference), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatmulPreferenceSetAttribute,
                   (cublasLtMatmulPreference_t preference, cublasLtMatmulPreferenceAttributes_t attr,
                    const void* buffer, size_t bytes),
                   (preference, attr, buffer, bytes), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatrixLayoutCreate,
                   (cublasLtMatrixLayout_t * layout, cudaDataType type, uint64_t rows, uint64_t cols,
                    int64_t ld),
                   (layout, type, rows, cols, ld), CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatrixLayoutDestroy, (cublasLtMatrixLayout_t layout), (layout),
                   CUBLAS_STATUS_NOT_INITIALIZED)
OFL_CUBLASLT_ENTRY(cublasStatus_t, cublasLtMatrixLayoutSetAttribute,
                   (cublasLtMatrixLayout_t layout, cublasLtMatrixLayoutAttribute_t attr, const void* buffer,
                    size_t bytes),
                   (layout, attr, buffer, bytes), CUBLAS_STATUS_NOT_INITIALIZED)

}  // extern "C"
