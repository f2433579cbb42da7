// Portability macros shared by host and device code.
#pragma once

#if defined(__CUDACC__)
#define OFL_HOST_DEVICE __host__ __device__
#define OFL_INLINE __forceinline__
#else
#define OFL_HOST_DEVICE
#define OFL_INLINE inline
#endif
